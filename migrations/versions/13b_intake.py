"""Per-person upload accounting, and a kind for every job failure.

Revision ID: 13b_intake
Revises: 0003
Create Date: 2026-12-02 06:00:00

``uploads``: one row per picture someone sent, so that the bot can limit pictures per hour
and bytes kept per person (``MAX_UPLOADS_PER_HOUR``, ``MAX_STORED_MB_PER_USER``); it starts
empty, so everyone starts with their whole allowance. ``jobs.error_kind``: what kind of
failure ended a job (engine.contract.FailureKind), which the bot turns into a sentence in the
person's language; ``jobs.error`` keeps the raw text for the logs. Jobs that failed before
have no kind, and get the generic sentence.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "13b_intake"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_uploads_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_uploads"),
    )
    op.create_index("ix_uploads_user_created", "uploads", ["user_id", "created_at"])
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("error_kind", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("error_kind")
    op.drop_index("ix_uploads_user_created", table_name="uploads")
    op.drop_table("uploads")
