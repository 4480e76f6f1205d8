"""outbox: the feed's payload derived from the event when read, not stored a second time

Revision ID: 0004
Revises: 0003

The payload was a function of the event row (its sequence number, type, reason, time and state), and the
import wrote it for every record: a fifth of the bytes a record cost. Upgrading first derives every stored
payload from its event and stops, naming the event, if one says anything else (the same instant in another
zone's notation is the same). Downgrading writes the payloads back, and rewrites the states stored since in the
earlier form (every key, nulls included), which the code of 0003 needs.
"""

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_EVENTS = sa.table(
    "record_events",
    *map(sa.column, ("seq", "record_id", "type", "recorded_at", "actor", "reason", "state")),
)
_OUTBOX = sa.table("outbox", sa.column("event_seq"), sa.column("payload"))
# Keys a state may now leave out, with the value the earlier form wrote for them.
_EARLIER = dict.fromkeys(
    (
        "actual_controller_id",
        "actual_controller_name",
        "effective_until",
        "ended_at",
        "legal_representative_id",
        "legal_representative_name",
    )
) | {"suspensions": []}


def upgrade() -> None:
    from socialcredit.registry.writer import feed_payload

    conn = op.get_bind()
    orphan = conn.execute(
        sa.select(_OUTBOX.c.event_seq)
        .where(~sa.exists().where(_EVENTS.c.seq == _OUTBOX.c.event_seq))
        .limit(1)
    ).scalar_one_or_none()
    if orphan is not None:
        raise RuntimeError(
            f"outbox row of event {orphan} has no event to derive its payload from; nothing was changed"
        )
    last = 0
    while rows := conn.execute(
        sa.select(_EVENTS.c.seq, _EVENTS.c.type, _EVENTS.c.reason, _EVENTS.c.recorded_at, _EVENTS.c.state)
        .add_columns(_OUTBOX.c.payload)
        .join(_OUTBOX, _OUTBOX.c.event_seq == _EVENTS.c.seq)
        .where(_EVENTS.c.seq > last)
        .order_by(_EVENTS.c.seq)
        .limit(5000)
    ).all():
        for r in rows:
            derived = feed_payload(r.seq, r.type, r.reason, _utc(r.recorded_at), r.state)
            if derived != r.payload and _same(derived) != _same(r.payload):
                raise RuntimeError(
                    f"outbox payload of event {r.seq} differs from its event, so it cannot be derived: "
                    f"stored {r.payload}, derived {derived}; nothing was changed"
                )
        last = rows[-1].seq
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("payload")


def downgrade() -> None:
    from socialcredit.registry.writer import feed_payload

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload", sa.Text(), nullable=True))
    conn = op.get_bind()
    for rows in _batches(conn):
        earlier = [(r.seq, _earlier_form(r.state)) for r in rows]
        changed = [
            {"s": seq, "state": text} for (seq, text), r in zip(earlier, rows, strict=True) if text != r.state
        ]
        if changed:
            conn.execute(_EVENTS.update().where(_EVENTS.c.seq == sa.bindparam("s")), changed)
        payloads = [
            {"s": r.seq, "payload": feed_payload(r.seq, r.type, r.reason, _utc(r.recorded_at), r.state)}
            for r in rows
        ]
        conn.execute(_OUTBOX.update().where(_OUTBOX.c.event_seq == sa.bindparam("s")), payloads)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("payload", existing_type=sa.Text(), nullable=False)


def _batches(conn: sa.Connection) -> Iterator[Sequence[Any]]:
    last = 0
    while rows := conn.execute(
        sa.select(_EVENTS).where(_EVENTS.c.seq > last).order_by(_EVENTS.c.seq).limit(5000)
    ).all():
        yield rows
        last = rows[-1].seq


def _earlier_form(state: str) -> str:
    """The state as 0003's ``RecordState.to_json`` wrote it: every key, nulls included, keys sorted."""
    d = json.loads(state)
    if (
        "term_days" in d
    ):  # later than 0003 (decision 0100), which cannot read it: its term is in effective_until
        del d["term_days"]
    elif _EARLIER.keys() <= d.keys():
        return state
    return json.dumps(_EARLIER | d, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _same(payload: str) -> Any:
    """A payload with its instants read as instants (so a zone's notation does not count)."""
    d = json.loads(payload)
    for key in ("recorded_at", "applies_from", "valid_until"):
        if d.get(key) is not None:
            d[key] = dt.datetime.fromisoformat(d[key])
    return d


def _utc(v: object) -> dt.datetime:
    if isinstance(v, str):  # SQLite hands back the stored text through a lightweight table
        v = dt.datetime.fromisoformat(v)
    assert isinstance(v, dt.datetime)
    return v.replace(tzinfo=dt.UTC)
