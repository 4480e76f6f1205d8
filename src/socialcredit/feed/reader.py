"""The pull feed: outbox rows after a cursor, in commit order, each with its payload derived from its event.

The cursor is the outbox ``seq``. Registry writers are serialised and allocate ``seq`` inside the lock, so
commit order equals ``seq`` order: a reader that resumes after N never misses a row committed later with a
smaller number. A filtered read (a watchlist) still advances the cursor past the rows it skipped.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson
from sqlalchemy import Connection, func, select

from ..registry.writer import feed_payload
from ..store.tables import outbox, record_events
from .errors import FeedInvalid

__all__ = [
    "EVENT_COLUMNS",
    "FeedEvent",
    "FeedPage",
    "head",
    "parse_cursor",
    "payload_of",
    "read_after",
    "state_about",
    "with_event",
]

# What an outbox row's payload is derived from, besides its event number and type: its event's, or for a
# derived event (grade.changed, feed/grades.py) its own id and stored body.
EVENT_COLUMNS = (
    record_events.c.reason,
    record_events.c.recorded_at,
    record_events.c.state,
    outbox.c.event_key,
    outbox.c.body,
)

MAX_LIMIT = 1000


def state_about(state: str) -> tuple[str, str]:
    """(category, subject) of an event's stored state, without building the state."""
    st = orjson.loads(state)
    return st["category"], st["subject_id"]


@dataclass(frozen=True)
class FeedEvent:
    seq: int  # the cursor position of this event
    event_id: int  # record_events.seq: the id receivers deduplicate on (a derived event's: its cause's)
    record_id: int
    type: str
    subject_ids: tuple[str, ...]
    created_at: dt.datetime
    # The event's reason, time and state, from which the payload is derived.
    source: tuple[str | None, dt.datetime, str] = field(repr=False, compare=False)
    # A derived event's own id and stored body (decision 1011); None for a record event.
    key: str | None = None
    body: str | None = field(default=None, repr=False, compare=False)

    @property
    def derived(self) -> bool:
        return self.key is not None

    @property
    def id(self) -> int | str:
        """The id receivers deduplicate on: the record event's number, or a derived event's own key."""
        return self.key if self.key is not None else self.event_id

    @cached_property
    def payload(self) -> str:
        """The JSON body as delivered, derived when first asked for: a filtered read skips most events."""
        if self.body is not None:
            return self.body
        reason, at, state = self.source
        return feed_payload(self.event_id, self.type, reason, at, state)

    @cached_property
    def about(self) -> tuple[str, str]:
        """(category, subject) of the event's record, read from its state without building the state: a
        checkpoint's read decides on these for every row it scans (feed/scope.py)."""
        return state_about(self.source[2])

    @property
    def recorded_at(self) -> dt.datetime:
        at = self.source[1]
        return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.payload)
        body["cursor"] = str(self.seq)
        return body


@dataclass(frozen=True, slots=True)
class FeedPage:
    events: list[FeedEvent]
    next_cursor: int  # pass as ``after`` to resume: the last row scanned (matching or not)
    head: int  # the newest seq at the time of reading


def parse_cursor(value: str | int | None) -> int:
    if value is None or value == "":
        return 0
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise FeedInvalid("after", value, "a cursor is a whole number from a previous page") from None
    if n < 0:
        raise FeedInvalid("after", value, "a cursor is not negative")
    return n


def head(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(outbox.c.seq), 0))).scalar_one())


def with_event(query: Any) -> Any:
    """``query`` (selecting from the outbox) joined to each row's event, for :data:`EVENT_COLUMNS`."""
    return query.join(record_events, record_events.c.seq == outbox.c.event_seq)


def payload_of(row: Any) -> str:
    """The payload of a row selected with ``event_seq``, ``type`` and :data:`EVENT_COLUMNS`."""
    if row.body is not None:  # a derived event: its bytes were fixed when it was made
        return str(row.body)
    return feed_payload(row.event_seq, row.type, row.reason, row.recorded_at, row.state)


def _event(row: Any) -> FeedEvent:
    return FeedEvent(
        seq=int(row.seq),
        event_id=int(row.event_seq),
        record_id=int(row.record_id),
        type=row.type,
        subject_ids=tuple(json.loads(row.subject_ids)),
        created_at=row.created_at,
        source=(row.reason, row.recorded_at, row.state),
        key=row.event_key,
        body=row.body,
    )


def read_after(
    conn: Connection,
    after: int,
    limit: int = 100,
    keep: Callable[[FeedEvent], bool] | None = None,
    scan: int = 5000,
) -> FeedPage:
    """Up to ``limit`` events after ``after`` that ``keep`` accepts (default: all), scanning at most ``scan``
    rows so a selective filter cannot make one read unbounded."""
    if not 1 <= limit <= MAX_LIMIT:
        raise FeedInvalid("limit", limit, f"between 1 and {MAX_LIMIT}")
    top = head(conn)
    out: list[FeedEvent] = []
    cursor, scanned = after, 0
    while len(out) < limit and scanned < scan:
        want = limit if keep is None else min(1000, scan - scanned)
        rows = conn.execute(
            with_event(select(outbox, *EVENT_COLUMNS[:3]))
            .where(outbox.c.seq > cursor, outbox.c.seq <= top)
            .order_by(outbox.c.seq)
            .limit(want)
        ).all()
        if not rows:
            break
        for row in rows:
            ev = _event(row)
            scanned += 1
            cursor = ev.seq
            if keep is None or keep(ev):
                out.append(ev)
                if len(out) >= limit:
                    break
        if len(rows) < want:
            break
    return FeedPage(out, cursor, top)
