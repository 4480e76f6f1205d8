"""feed: deliveries claimed with a lease, the NATS publisher's cursor held with one (decision 1100)

Revision ID: 0012
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("claimed_until", sa.DateTime(), nullable=True))
        batch_op.create_index(
            "ix_deliveries_subscription_head", ["subscription_id", "status", "id"], unique=False
        )
    with op.batch_alter_table("feed_cursors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("held_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("held_until", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feed_cursors", schema=None) as batch_op:
        batch_op.drop_column("held_until")
        batch_op.drop_column("held_by")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_subscription_head")
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("claimed_by")
