"""The name index reconciliation matches against: every subject that may be publicly listed (decision 0906).

The index holds subjects with a filed record of a public category not yet ended, a superset of what the public
sees (a record whose notice period runs, or that is suspended, is held too): a candidate the matcher finds is
shown only after the database confirms, at query time, that it is listed now. So the index can only be stale
by missing a subject, never by showing one. It is rebuilt lazily: each query batch reads a fingerprint of the
registry (the newest record event, an index-only read: every change that can add, drop or rename a candidate
is a record event, a subject without records is no candidate), and the index is rebuilt when it changed since
the last build, but spends at most a tenth of the time on building (``DUTY``): a build that took 0.5 s
(100,000 subjects) is not redone within 5 s, so a registry under constant import does not make each batch pay
for a build; a registry whose index builds in under ``CHEAP`` seconds is always fresh.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

from sqlalchemy import Connection, func, or_, select

from ..catalogue import Catalogue
from ..screening.matcher import NameIndex
from ..store.tables import record_events, records, subjects

__all__ = ["PublicNames"]

_Fingerprint = int
DUTY = 0.1  # at most this share of the time is spent rebuilding the index ...
CHEAP = 0.05  # ... unless a build costs less than this many seconds (then it is always fresh)


class PublicNames:
    """A NameIndex over possibly listed subjects, rebuilt when the registry changed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._index: NameIndex | None = None
        self._built_from: _Fingerprint | None = None
        self._built_at = 0.0  # time.monotonic() when the last build ended
        self._cost = 0.0  # seconds the last build took
        self.builds = 0  # how many times the index was built (tests and metrics read it)

    def index(self, conn: Connection, catalogue: Catalogue, now: dt.datetime) -> NameIndex:
        seen = _fingerprint(conn)
        with self._lock:  # one build at a time; a batch that waited finds the index built
            idle = time.monotonic() - self._built_at
            if self._index is None or (
                self._built_from != seen and (self._cost < CHEAP or idle * DUTY >= self._cost)
            ):
                started = time.monotonic()
                self._index = NameIndex.build(_candidates(conn, catalogue, now))
                self._built_from, self._built_at = seen, time.monotonic()
                self._cost = self._built_at - started
                self.builds += 1
            return self._index


def _fingerprint(conn: Connection) -> _Fingerprint:
    return int(conn.execute(select(func.max(record_events.c.seq))).scalar() or 0)


def _candidates(conn: Connection, catalogue: Catalogue, now: dt.datetime) -> list[tuple[str, str, str]]:
    public = [c for c, cat in catalogue.categories.items() if cat.public]
    held = (
        select(records.c.id)
        .where(
            records.c.subject_id == subjects.c.id,
            records.c.category.in_(public),
            records.c.status == "filed",
            or_(records.c.effective_until.is_(None), records.c.effective_until > now),
        )
        .exists()
    )
    rows = conn.execute(select(subjects.c.id, subjects.c.name, subjects.c.kind).where(held)).all()
    return [(sid, name, kind) for sid, name, kind in rows]
