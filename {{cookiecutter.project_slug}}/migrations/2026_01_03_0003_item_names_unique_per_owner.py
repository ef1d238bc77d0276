"""item names unique per owner

Revision ID: 0003
Revises: 0002
Create Date: 2026-01-03 00:00:00

Items are private to their owner, so a name is unique among one owner's items,
not across all of them. (Downgrading fails while two owners share a name.)
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_items_name"))
        batch_op.create_index(batch_op.f("ix_items_name"), ["name"], unique=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_items_owner_id_name"), ["owner_id", "name"]
        )


def downgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_items_owner_id_name"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_items_name"))
        batch_op.create_index(batch_op.f("ix_items_name"), ["name"], unique=True)
