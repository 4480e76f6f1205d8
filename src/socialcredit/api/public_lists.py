"""The public lists the portal browses: every record published now, read once per registry change.

A ``Listing`` is a snapshot of the records the public search would show (a public category, in force now,
published under Order 36: ``display_status`` and ``is_published`` as in :mod:`.routers.public`), each with its
subject's masked identifier, name, kind and region. It is rebuilt when the registry changed (its newest record
event) or after ``MAX_AGE`` seconds (a record expires with time alone). Subjects are named by a keyed reference
(``ref``): an HMAC of the canonical id under the install's lookup key, domain-separated from the audit log's
``idh:`` tags, so the reference is neither the identifier, its mask, nor derivable from an id without the key.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection, and_, func, or_, select

from ..catalogue import Catalogue
from ..identifiers import mask
from ..process.publication import is_published
from ..registry import display_status
from ..registry.state import RecordState
from ..store.tables import record_events, records, subjects
from .budget import LookupHasher

__all__ = ["Listed", "Listing", "Listings", "subject_ref"]

MAX_AGE = 60.0  # seconds a snapshot is reused while the registry does not change
_REF_DOMAIN = b"portal-subject-ref\x00"
_CHUNK = 500


def subject_ref(hasher: LookupHasher, canonical: str) -> str:
    """The subject's public reference: 32 hex digits of an HMAC under the lookup key, in its own domain."""
    return hasher.keyed(_REF_DOMAIN, canonical)


@dataclass(frozen=True)
class Listed:
    """One published record with the public facts of its subject."""

    state: RecordState
    masked_id: str
    name: str
    kind: str
    region: str | None
    region_code: str | None
    ref: str


@dataclass
class Listing:
    records: list[Listed] = field(default_factory=list)
    by_ref: dict[str, str] = field(default_factory=dict)  # ref -> canonical id (never shown)

    # Built once with the snapshot (``index``): a page reads its category or subject, not every record.
    _by_category: dict[str, list[Listed]] = field(default_factory=dict)
    _by_subject: dict[str, list[Listed]] = field(default_factory=dict)

    def index(self) -> None:
        self._by_category, self._by_subject = {}, {}
        for r in self.records:  # already newest decision first: each part keeps that order
            self._by_category.setdefault(r.state.category, []).append(r)
            self._by_subject.setdefault(r.state.subject_id, []).append(r)

    def of_category(self, category: str) -> list[Listed]:
        return self._by_category.get(category, [])

    def of_subject(self, subject_id: str) -> list[Listed]:
        return self._by_subject.get(subject_id, [])

    def counts(self) -> dict[str, int]:
        return {c: len(rs) for c, rs in self._by_category.items()}


class Listings:
    """The snapshot cache (one per app)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listing: Listing | None = None
        self._key: tuple[int, float] = (-1, 0.0)
        self.builds = 0

    def get(self, conn: Connection, catalogue: Catalogue, hasher: LookupHasher, now: dt.datetime) -> Listing:
        seen = int(conn.execute(select(func.max(record_events.c.seq))).scalar() or 0)
        with self._lock:
            fresh = time.monotonic() - self._key[1] < MAX_AGE
            if self._listing is None or self._key[0] != seen or not fresh:
                self._listing = _build(conn, catalogue, hasher, now)
                self._key = (seen, time.monotonic())
                self.builds += 1
            return self._listing


def _in_force_public(catalogue: Catalogue, now: dt.datetime) -> object:
    public = [c for c, cat in catalogue.categories.items() if cat.public]
    return and_(
        records.c.category.in_(public),
        records.c.status == "filed",
        records.c.applies_from <= now,
        or_(records.c.effective_until.is_(None), records.c.effective_until > now),
    )


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def _build(conn: Connection, catalogue: Catalogue, hasher: LookupHasher, now: dt.datetime) -> Listing:
    ids = [
        int(i)
        for i in conn.execute(
            select(records.c.id).where(_in_force_public(catalogue, now)).order_by(records.c.id)  # type: ignore[arg-type]
        ).scalars()
    ]
    states: list[RecordState] = []
    for part in _chunks(ids):
        newest = (
            select(func.max(record_events.c.seq))
            .where(record_events.c.record_id.in_(part))
            .group_by(record_events.c.record_id)
        )
        for body in conn.execute(
            select(record_events.c.state).where(record_events.c.seq.in_(newest))
        ).scalars():
            st = RecordState.from_json(body)
            if display_status(st, now) == "in_force" and is_published(
                st, catalogue.categories[st.category], now
            ):
                states.append(st)
    sids = sorted({s.subject_id for s in states})
    people: dict[str, tuple[str, str, str | None, str | None]] = {}
    for i in range(0, len(sids), _CHUNK):
        for sid, name, kind, region, code in conn.execute(
            select(
                subjects.c.id, subjects.c.name, subjects.c.kind, subjects.c.region, subjects.c.region_code
            ).where(subjects.c.id.in_(sids[i : i + _CHUNK]))
        ):
            people[sid] = (name, kind, region, code)
    listing = Listing()
    refs = {sid: subject_ref(hasher, sid) for sid in sids}
    for st in sorted(states, key=lambda s: (-s.decided_on.toordinal(), -s.id)):
        name, kind, region, code = people.get(st.subject_id, (st.subject_name, "person", None, None))
        listing.records.append(Listed(st, mask(st.subject_id), name, kind, region, code, refs[st.subject_id]))
    listing.by_ref = {ref: sid for sid, ref in refs.items()}
    listing.index()
    return listing
