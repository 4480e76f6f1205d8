"""audit: check nodes' chains as the sink stores them, partitioned by month on PostgreSQL (decision 1103)

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No partition yet: the sink creates each month's before writing its rows (socialcredit.node.sink).
    op.create_table(
        "node_audit",
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=True),
        sa.Column("outcome", sa.String(length=200), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("node_id", "seq", "at", name=op.f("pk_node_audit")),
        postgresql_partition_by="RANGE (at)",
    )
    op.create_table(
        "node_audit_heads",
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("sig", sa.String(length=128), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("node_id", "sig", name=op.f("pk_node_audit_heads")),
    )


def downgrade() -> None:
    op.drop_table("node_audit_heads")
    op.drop_table("node_audit")  # on PostgreSQL its partitions go with it
