"""The public lists as of an instant: every record the public may see, streamed in batches.

What the public sees is what public search shows (decision 0302): records in force of categories the catalogue
marks public, published (:func:`~socialcredit.process.publication.is_published`), with identity numbers masked.
Each batch reads in a short transaction of its own (on SQLite every transaction takes the write lock, and an
export of a million records must not hold it for a minute); the batches agree with one another because each
reads the states *as known at* the export's instant from the append-only event table (decision 0904).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from ..catalogue import Catalogue
from ..catalogue.model import Authority, Category, Memorandum
from ..identifiers import mask
from ..process.publication import is_published
from ..registry.state import RecordState, display_status
from ..store.tables import record_events, subjects

__all__ = ["BATCH", "Listing", "public_listings"]

BATCH = 5_000


@dataclass(frozen=True, slots=True)
class Listing:
    """One published record in force, with what the public may know of its subject."""

    state: RecordState
    kind: str  # person | organisation
    region: str | None
    category: Category
    authority: Authority | None
    memoranda: tuple[Memorandum, ...]  # the documents whose measures the category triggers

    @property
    def masked_id(self) -> str:
        return mask(self.state.subject_id)


def _states(
    engine: Engine, at: dt.datetime, batch: int
) -> Iterator[list[tuple[RecordState, str, str | None]]]:
    """Each record's state as known at ``at``, with its subject's kind and region, a batch at a time."""
    last = 0
    while True:
        newest = (
            select(record_events.c.record_id, func.max(record_events.c.seq).label("seq"))
            .where(record_events.c.record_id > last, record_events.c.recorded_at <= at)
            .group_by(record_events.c.record_id)
            .order_by(record_events.c.record_id)
            .limit(batch)
            .subquery()
        )
        q = (
            select(record_events.c.record_id, record_events.c.state)
            .join(newest, record_events.c.seq == newest.c.seq)
            .order_by(record_events.c.record_id)
        )
        with engine.connect() as conn:
            rows = conn.execute(q).all()
            if not rows:
                return
            states = [RecordState.from_json(body) for _, body in rows]
            ids = {s.subject_id for s in states}
            known = {
                sid: (kind, region)
                for sid, kind, region in conn.execute(
                    select(subjects.c.id, subjects.c.kind, subjects.c.region).where(subjects.c.id.in_(ids))
                )
            }
        last = rows[-1][0]
        yield [(s, *known.get(s.subject_id, ("person", None))) for s in states]


def public_listings(
    engine: Engine, catalogue: Catalogue, at: dt.datetime, batch: int = BATCH
) -> Iterator[list[Listing]]:
    """The published records in force at ``at``, in record id order, a batch at a time (a batch may be empty)."""
    triggered: dict[str, tuple[Memorandum, ...]] = {
        code: tuple(m for m in catalogue.memoranda.values() if code in m.triggers)
        for code in catalogue.categories
    }
    for chunk in _states(engine, at, batch):
        out = []
        for s, kind, region in chunk:
            cat = catalogue.categories.get(s.category)
            # A category the catalogue no longer has is not one it marks public.
            if cat is None or not cat.public:
                continue
            if display_status(s, at) != "in_force" or not is_published(s, cat, at):
                continue  # pending, in notice, suspended, ended, or past its publication period
            out.append(
                Listing(s, kind, region, cat, catalogue.authorities.get(s.authority), triggered[s.category])
            )
        yield out
