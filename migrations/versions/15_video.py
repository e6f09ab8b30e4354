"""Video jobs (issue #15): the finished frames of a video job, kept until its clip is made.

Revision ID: 15_video
Revises: 13a_delivery_steps
Create Date: 2026-12-02 13:30:00

Only a new table: safe under running workers and bots of the previous revision, which never
read it (a video job is a new ``jobs.kind``, which needs no migration of its own).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "15_video"
down_revision: str | None = "13a_delivery_steps"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "clip_frames",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("frame", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("written_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_clip_frames_job_id_jobs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", "frame", name="pk_clip_frames"),
    )


def downgrade() -> None:
    op.drop_table("clip_frames")
