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
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select

from ..catalogue import Catalogue
from ..catalogue.model import Authority, Category, Memorandum
from ..identifiers import mask
from ..process.publication import is_published
from ..registry.state import RecordState, display_status
from ..store.tables import record_events, records, subjects

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


def _candidates(public: list[str], at: dt.datetime, current: bool) -> Any:
    """Records that may be listed at ``at``, by the projection's columns that a later event cannot make wrong:
    category and filing time never change. With ``current`` (``at`` is not before the export began, so the
    projection holds the states known at ``at``) also what is in force: begun, not expired, not ended."""
    cond = [records.c.category.in_(public), records.c.filed_at <= at]
    if current:
        cond += [
            records.c.applies_from <= at,
            or_(records.c.effective_until.is_(None), records.c.effective_until > at),
            or_(records.c.ended_at.is_(None), records.c.ended_at > at),
        ]
    return and_(*cond)


def _states(
    engine: Engine, public: list[str], at: dt.datetime, current: bool, batch: int
) -> Iterator[list[tuple[RecordState, str, str | None]]]:
    """Each candidate record's state as known at ``at``, with its subject's kind and region, a batch at a time."""
    last = -1
    listed = _candidates(public, at, current)
    while True:
        with engine.connect() as conn:
            ids = list(
                conn.execute(
                    select(records.c.id)
                    .where(listed, records.c.id > last)
                    .order_by(records.c.id)
                    .limit(batch)
                ).scalars()
            )
            if not ids:
                return
            newest = (
                select(func.max(record_events.c.seq))
                .where(record_events.c.record_id.in_(ids), record_events.c.recorded_at <= at)
                .group_by(record_events.c.record_id)
            )
            q = (
                select(record_events.c.state)
                .where(record_events.c.seq.in_(newest))
                .order_by(record_events.c.record_id)
            )
            states = [RecordState.from_json(body) for body in conn.execute(q).scalars()]
            subject_ids = {s.subject_id for s in states}
            known = {
                sid: (kind, region)
                for sid, kind, region in conn.execute(
                    select(subjects.c.id, subjects.c.kind, subjects.c.region).where(
                        subjects.c.id.in_(subject_ids)
                    )
                )
            }
        last = ids[-1]
        yield [(s, *known.get(s.subject_id, ("person", None))) for s in states]


def public_listings(
    engine: Engine, catalogue: Catalogue, at: dt.datetime, batch: int = BATCH, current: bool = False
) -> Iterator[list[Listing]]:
    """The published records in force at ``at``, in record id order, a batch at a time (a batch may be empty).

    ``current``: the caller promises that ``at`` is not before the export began, so the records projection may
    narrow the candidates (each is still judged by its state as known at ``at``)."""
    public = [code for code, cat in catalogue.categories.items() if cat.public]
    triggered: dict[str, tuple[Memorandum, ...]] = {
        code: tuple(m for m in catalogue.memoranda.values() if code in m.triggers)
        for code in catalogue.categories
    }
    for chunk in _states(engine, public, at, current, batch):
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
