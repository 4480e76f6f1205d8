"""The registry's clock: when an event is recorded, and when an answer "as known at T" is final (decision 0002).

Writers stamp ``recorded_at`` while they hold the registry's write lock (:func:`stamp`), never below the newest
event's, so ``recorded_at`` never decreases in sequence (= commit) order. A reader asking "as known at T" calls
:func:`settle` first: if T is not before the newest stamp it has seen, a writer may hold the lock with a stamp
at or before T that is not committed yet, and the reader waits for it (SQLite's transactions already do: each
one begins with the write lock).
"""

from __future__ import annotations

import datetime as dt
import weakref

from sqlalchemy import Connection, select, text

from .tables import record_events

__all__ = ["LIVE_WINDOW", "LOCK_KEY", "settle", "stamp"]

# A caller's instant this close behind the wall clock is a reading of the present taken when its request began
# (before it waited for the lock): the stamp reads the clock again. Further back it is an explicit instant (the
# demo's replay of history, a test's fixed clock) and is kept; so is one ahead of the wall clock.
LIVE_WINDOW = dt.timedelta(minutes=10)
LOCK_KEY = 71402016  # arbitrary, constant: the registry writers' advisory lock (readers take it shared)


def _last(conn: Connection) -> dt.datetime | None:
    """The newest event's ``recorded_at`` (by sequence number: the primary key's index, one probe)."""
    q = select(record_events.c.recorded_at).order_by(record_events.c.seq.desc()).limit(1)
    return conn.execute(q).scalar_one_or_none()


def stamp(conn: Connection, now: dt.datetime, wall: dt.datetime | None = None) -> dt.datetime:
    """The ``recorded_at`` of events written now; call it holding the write lock.

    ``now`` is the caller's instant. Within :data:`LIVE_WINDOW` behind the wall clock it is replaced by the wall
    clock, read here, under the lock; either way the stamp is never below the newest event's (a clock stepped
    back, a replay out of order), so it is non-decreasing in sequence order."""
    wall = dt.datetime.now(dt.UTC) if wall is None else wall
    at = wall if wall - LIVE_WINDOW <= now <= wall else now
    last = _last(conn)
    return at if last is None or last <= at else last


def settle(conn: Connection, known_at: dt.datetime) -> None:
    """Make this transaction's answer "as known at ``known_at``" final: after it, no event stamped at or before
    ``known_at`` can commit unseen (for an instant already past: a writer's stamp is its clock under the lock).

    An instant before the newest committed stamp is final already (every later stamp is at or after it). Else,
    on PostgreSQL, the writers' lock taken shared until the transaction ends waits for the writer in flight and
    keeps the next from committing while this transaction reads. SQLite's transactions hold the lock already."""
    if conn.dialect.name != "postgresql":
        return
    tx, held = conn.get_transaction(), conn.info.get("registry_read_lock")
    if tx is not None and held is not None and held() is tx:
        return  # taken earlier in this transaction, and held until it ends
    last = _last(conn)  # the query begins the transaction if none had
    if last is not None and known_at < last:
        return
    conn.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": LOCK_KEY})
    conn.info["registry_read_lock"] = weakref.ref(conn.get_transaction())
