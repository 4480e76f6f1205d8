"""A subject's grade history (docs/grading.md, decision 1010): the grade at every instant where one of its
records starts, ends, is suspended or resumed, or an event (filed, revoked, repaired...) is recorded, each instant
judged as the registry knew it then; an entry only where the grade changes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, select

from ..catalogue import Catalogue
from ..registry.projection import states_for_subject
from ..registry.state import RecordState
from ..store.tables import record_events
from .explain import grade_states
from .model import ScoringModel

__all__ = ["GradeChange", "grade_history"]


@dataclass(frozen=True)
class GradeChange:
    at: dt.datetime
    old_grade: str | None
    new_grade: str
    old_score: float | None
    new_score: float
    record_id: int | None
    cause: str
    authority: str | None


def _dates(st: RecordState) -> list[tuple[dt.datetime, str]]:
    out = [(st.effective_from, "starts"), (st.applies_from, "starts")]
    if st.effective_until is not None:
        out.append((st.effective_until, "ends"))
    if st.ended_at is not None:
        out.append((st.ended_at, "ends"))
    for start, end in st.suspensions:
        out.append((start, "suspended"))
        if end is not None:
            out.append((end, "resumed"))
    return out


def grade_history(
    conn: Connection,
    model: ScoringModel,
    catalogue: Catalogue,
    subject: str,
    start: dt.datetime | None,
    end: dt.datetime,
    known_at: dt.datetime | None = None,
) -> list[GradeChange]:
    """The grade changes of ``subject`` between ``start`` and ``end`` (both included), as known at ``known_at``."""
    states = states_for_subject(conn, subject, known_at=known_at, linked=False)
    ids = [s.id for s in states]
    by_id = {s.id: s for s in states}
    cands: dict[dt.datetime, tuple[int, str]] = {}
    for st in states:
        for at, kind in _dates(st):
            cands.setdefault(at, (st.id, kind))
    if ids:
        q = select(record_events.c.record_id, record_events.c.type, record_events.c.recorded_at).where(
            record_events.c.record_id.in_(ids)
        )
        if known_at is not None:
            q = q.where(record_events.c.recorded_at <= known_at)
        for rid, kind, at in conn.execute(q):
            cands[at] = (int(rid), str(kind))
    out: list[GradeChange] = []
    prev: tuple[str, float] | None = None
    if start is not None:
        g0 = grade_states(model, catalogue, subject, _known(conn, subject, start, known_at), start, known_at)
        prev = (g0.grade, g0.score)
    for at in sorted(cands):
        if (start is not None and at <= start) or at > end:
            continue
        then = _known(conn, subject, at, known_at)
        g = grade_states(model, catalogue, subject, then, at, known_at)
        if prev is None or g.grade != prev[0]:
            rid, kind = cands[at]
            rec = by_id.get(rid)
            out.append(
                GradeChange(
                    at,
                    prev[0] if prev else None,
                    g.grade,
                    prev[1] if prev else None,
                    g.score,
                    rid,
                    kind,
                    rec.authority if rec else None,
                )
            )
        prev = (g.grade, g.score)
    return out


def _known(
    conn: Connection, subject: str, at: dt.datetime, known_at: dt.datetime | None
) -> list[RecordState]:
    """The states as the registry knew them at ``at`` (or at ``known_at`` if earlier)."""
    k = at if known_at is None or at < known_at else known_at
    return states_for_subject(conn, subject, known_at=k, linked=False)
