"""supervision: random-inspection plans

Revision ID: 0011
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supervision_plans",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("authority", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=True),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seed", sa.String(length=64), nullable=False),
        sa.Column("as_of", sa.DateTime(), nullable=False),
        sa.Column("model", sa.String(length=120), nullable=False),
        sa.Column("catalogue_version", sa.String(length=64), nullable=False),
        sa.Column("inspectors_digest", sa.String(length=64), nullable=False),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.Column("rows", sa.Text(), nullable=False),
        sa.Column("drawn", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_plans")),
    )
    with op.batch_alter_table("supervision_plans", schema=None) as batch_op:
        batch_op.create_index("ix_supervision_plans_authority", ["authority"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("supervision_plans", schema=None) as batch_op:
        batch_op.drop_index("ix_supervision_plans_authority")
    op.drop_table("supervision_plans")
