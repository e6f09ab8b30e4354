"""Live previews and time-lapses (issue #14): a running job's latest small picture, the frames
of its time-lapse and its film; whether a job's status message is a picture; and each
person's choice of live previews.

Revision ID: 14_previews
Revises: 0003
Create Date: 2026-12-03 10:00:00

Only additions, each new column with a server default, so it is safe under running workers
and bots of the previous revision (docs/DEPLOY.md): they never read the new tables, and rows
they insert get the defaults.

The columns are added in place (``recreate="never"``), never by batch mode's copy of the
table: on SQLite, with foreign keys on, dropping the old ``users`` or ``jobs`` table to
replace it with the copy would cascade and delete every job (and its outputs) with it. An
added column with a constant default is one SQLite can ALTER in place anyway.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "14_previews"
down_revision: str | None = "13b_intake"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", recreate="never") as batch:
        batch.add_column(
            sa.Column("previews", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
    with op.batch_alter_table("jobs", recreate="never") as batch:
        batch.add_column(
            sa.Column("status_photo", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "job_previews",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("written_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_job_previews_job_id_jobs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", name="pk_job_previews"),
    )
    op.create_table(
        "job_frames",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_job_frames_job_id_jobs", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["sha256"], ["images.sha256"], name="fk_job_frames_sha256_images"),
        sa.PrimaryKeyConstraint("job_id", "position", name="pk_job_frames"),
    )
    op.create_table(
        "job_films",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("made_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_job_films_job_id_jobs", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["sha256"], ["images.sha256"], name="fk_job_films_sha256_images"),
        sa.PrimaryKeyConstraint("job_id", name="pk_job_films"),
    )


def downgrade() -> None:
    op.drop_table("job_films")
    op.drop_table("job_frames")
    op.drop_table("job_previews")
    # SQLite (3.35 and later) drops a plain column in place, too.
    with op.batch_alter_table("jobs", recreate="never") as batch:
        batch.drop_column("status_photo")
    with op.batch_alter_table("users", recreate="never") as batch:
        batch.drop_column("previews")
