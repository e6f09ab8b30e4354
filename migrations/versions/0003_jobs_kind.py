"""Jobs get a kind (today only "photo"), for the job contract in engine/contract.py.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 04:00:00

Every existing job is a photo, which the server default says. Their parameters stay as they
are: rows written before the contract carry no version, and engine.contract.load_params reads
them as version 0. No CHECK constraint on the kind, so that adding a kind needs no migration.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=16), server_default="photo", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("kind")
