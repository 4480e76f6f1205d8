"""screening watches: saved screenings, their rows, the reverse index of keys, and runs

Revision ID: 0008
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "screening_watches",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("view", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=200), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("last_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screening_watches")),
        sa.UniqueConstraint("owner", "name", name="uq_screening_watches_owner_name"),
    )
    op.create_table(
        "screening_watch_rows",
        sa.Column("watch_id", sa.String(length=32), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.String(length=200), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=True),
        sa.Column("birth_date", sa.String(length=40), nullable=True),
        sa.Column("region", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("watch_id", "row", name=op.f("pk_screening_watch_rows")),
    )
    op.create_table(
        "screening_watch_keys",
        sa.Column("watch_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("watch_id", "key", "row", name=op.f("pk_screening_watch_keys")),
    )
    op.create_table(
        "screening_watch_runs",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("watch_id", sa.String(length=32), nullable=False),
        sa.Column("ran_at", sa.DateTime(), nullable=False),
        sa.Column("cursor_from", sa.BigInteger(), nullable=False),
        sa.Column("cursor_to", sa.BigInteger(), nullable=False),
        sa.Column("rescored", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screening_watch_runs")),
    )
    with op.batch_alter_table("screening_watch_runs", schema=None) as batch_op:
        batch_op.create_index("ix_screening_watch_runs_watch_id", ["watch_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("screening_watch_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_screening_watch_runs_watch_id")
    op.drop_table("screening_watch_runs")
    op.drop_table("screening_watch_keys")
    op.drop_table("screening_watch_rows")
    op.drop_table("screening_watches")
