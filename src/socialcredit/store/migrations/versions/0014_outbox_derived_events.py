"""outbox: derived events (grade.changed) beside record events, with their own id and stored body (decision 1011)

Revision ID: 0014
Revises: 0012

A grade change points at the record event that caused it (``event_seq``), so ``event_seq`` is no longer unique:
the unique constraint becomes a plain index, and ``event_key`` (unique where set) is the derived event's own id.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_constraint("uq_outbox_event_seq", type_="unique")
        batch_op.add_column(sa.Column("event_key", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("body", sa.Text(), nullable=True))
        batch_op.create_index("ix_outbox_event_seq", ["event_seq"], unique=False)
        # Partial: the import's rows (event_key null) add no entry to it (decision 1011).
        batch_op.create_index(
            "ix_outbox_event_key",
            ["event_key"],
            unique=True,
            postgresql_where=sa.text("event_key IS NOT NULL"),
            sqlite_where=sa.text("event_key IS NOT NULL"),
        )


def downgrade() -> None:
    outbox = sa.table("outbox", sa.column("event_key"))
    op.execute(outbox.delete().where(outbox.c.event_key.is_not(None)))
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_event_key")
        batch_op.drop_index("ix_outbox_event_seq")
        batch_op.drop_column("body")
        batch_op.drop_column("event_key")
        batch_op.create_unique_constraint("uq_outbox_event_seq", ["event_seq"])
