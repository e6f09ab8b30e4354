"""Delivery steps, claim tokens and picture pins (issue #13, delivery and fencing).

Revision ID: 13a_delivery_steps
Revises: 14_previews
Create Date: 2026-12-02 06:00:00

jobs: ``claim_token`` (a worker's writes name their claim), the answer's recorded steps
(``result_message_id``, ``file_message_id``), delivery tries and back-off (``delivery_attempts``,
``deliver_after``, ``delivery_error``, ``undeliverable_at``). ``image_pins``: pictures prune must
keep (the preset paintings the bot holds by hash). Everything is added, nothing changed, so it
is safe under running workers of the previous revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "13a_delivery_steps"
down_revision: str | None = "14_previews"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("result_message_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("file_message_id", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column("delivery_attempts", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(sa.Column("deliver_after", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("delivery_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("undeliverable_at", sa.DateTime(), nullable=True))
    op.create_table(
        "image_pins",
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("pinned_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sha256"],
            ["images.sha256"],
            name=op.f("fk_image_pins_sha256_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("owner", name=op.f("pk_image_pins")),
    )
    with op.batch_alter_table("image_pins") as batch:
        batch.create_index(batch.f("ix_image_pins_sha256"), ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("image_pins") as batch:
        batch.drop_index(batch.f("ix_image_pins_sha256"))
    op.drop_table("image_pins")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("undeliverable_at")
        batch.drop_column("delivery_error")
        batch.drop_column("deliver_after")
        batch.drop_column("delivery_attempts")
        batch.drop_column("file_message_id")
        batch.drop_column("result_message_id")
        batch.drop_column("claim_token")
