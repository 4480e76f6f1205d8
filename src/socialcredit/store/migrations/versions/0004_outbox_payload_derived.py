"""outbox: the feed's payload derived from the event when read, not stored a second time

Revision ID: 0004
Revises: 0003

The payload was a function of the event row (its sequence number, type, reason, time and state), and the
import wrote it for every record: a fifth of the bytes a record cost. Downgrading writes it back from the
events, as the feed derives it.
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("payload")


def downgrade() -> None:
    from socialcredit.registry.writer import feed_payload

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload", sa.Text(), nullable=True))
    conn = op.get_bind()
    events = sa.table(
        "record_events",
        sa.column("seq", sa.BigInteger()),
        sa.column("type", sa.String()),
        sa.column("reason", sa.Text()),
        sa.column("recorded_at", sa.DateTime()),
        sa.column("state", sa.Text()),
    )
    outbox = sa.table("outbox", sa.column("event_seq", sa.BigInteger()), sa.column("payload", sa.Text()))
    last = 0
    while rows := conn.execute(
        sa.select(events).where(events.c.seq > last).order_by(events.c.seq).limit(5000)
    ).all():
        conn.execute(
            outbox.update().where(outbox.c.event_seq == sa.bindparam("s")),
            [
                {"s": r.seq, "payload": feed_payload(r.seq, r.type, r.reason, _utc(r.recorded_at), r.state)}
                for r in rows
            ],
        )
        last = rows[-1].seq
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("payload", existing_type=sa.Text(), nullable=False)


def _utc(v: object) -> dt.datetime:
    if isinstance(v, str):  # SQLite hands back the stored text through a lightweight table
        v = dt.datetime.fromisoformat(v)
    assert isinstance(v, dt.datetime)
    return v.replace(tzinfo=dt.UTC)
