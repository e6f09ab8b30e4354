"""Index jobs by (user_id, started_at) for the fair claim order.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 02:05:00

Every claim counts, for each person with a job waiting, how many of their jobs started in the
last hour; without this index that count reads the person's whole history.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_jobs_user_started", "jobs", ["user_id", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_user_started", table_name="jobs")
