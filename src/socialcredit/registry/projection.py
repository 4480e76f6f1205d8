"""Reading the registry: current states, states as known at a past instant, and rebuilding the projection."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator

from sqlalchemy import Connection, delete, func, insert, or_, select

from ..store.clock import settle
from ..store.tables import record_events, records
from .state import RecordState
from .writer import _row

__all__ = ["iter_states", "rebuild", "states_for_subject", "states_of_subjects"]


def states_for_subject(
    conn: Connection, subject_id: str, known_at: dt.datetime | None = None, linked: bool = True
) -> list[RecordState]:
    """Every record about ``subject_id`` (and, with ``linked``, reaching it as a linked person), as the
    registry knew them at ``known_at`` (default: now). A record amended later to drop the link is judged by
    its state then.
    """
    if known_at is None:
        cond = records.c.subject_id == subject_id
        if linked:
            cond = or_(
                cond,
                records.c.legal_representative_id == subject_id,
                records.c.actual_controller_id == subject_id,
            )
        ids = list(conn.execute(select(records.c.id).where(cond)).scalars())
    else:
        # No event stamped at or before known_at commits after this read (decision 0002).
        settle(conn, known_at)
        # The link may have changed since: candidates are every record that ever named the subject.
        like = f'%"{subject_id}"%'
        ids = list(
            conn.execute(
                select(record_events.c.record_id).distinct().where(record_events.c.state.like(like))
            ).scalars()
        )
    out = []
    for rid in sorted(ids):
        q = select(record_events.c.state).where(record_events.c.record_id == rid)
        if known_at is not None:
            q = q.where(record_events.c.recorded_at <= known_at)
        body = conn.execute(q.order_by(record_events.c.seq.desc()).limit(1)).scalar_one_or_none()
        if body is None:
            continue
        st = RecordState.from_json(body)
        if st.subject_id == subject_id or (linked and subject_id in (p for p, _ in st.linked())):
            out.append(st)
    return out


def states_of_subjects(
    conn: Connection, subject_ids: Iterable[str], chunk: int = 500
) -> dict[str, list[RecordState]]:
    """The current records about each subject (not those reaching it as a linked person), as
    ``states_for_subject(conn, s, linked=False)`` gives them, for many subjects in one query per ``chunk``
    of them instead of one per record (a batch of checks grading its subjects, engine/graded.py)."""
    out: dict[str, list[RecordState]] = {s: [] for s in subject_ids}
    ids = list(out)
    for i in range(0, len(ids), chunk):
        about = select(records.c.id).where(records.c.subject_id.in_(ids[i : i + chunk]))
        newest = (
            select(func.max(record_events.c.seq).label("seq"))
            .where(record_events.c.record_id.in_(about))
            .group_by(record_events.c.record_id)
            .subquery()
        )
        q = (
            select(record_events.c.state)
            .join(newest, record_events.c.seq == newest.c.seq)
            .order_by(record_events.c.record_id)
        )
        for (body,) in conn.execute(q):
            st = RecordState.from_json(body)
            hit = out.get(st.subject_id)
            if hit is not None:
                hit.append(st)
    return out


def iter_states(conn: Connection, batch: int = 10_000) -> Iterator[RecordState]:
    """Every record's newest state, in id order, streamed in batches."""
    last = 0
    while True:
        newest = (
            select(record_events.c.record_id, func.max(record_events.c.seq).label("seq"))
            .where(record_events.c.record_id > last)
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
        rows = conn.execute(q).all()
        if not rows:
            return
        for rid, body in rows:
            yield RecordState.from_json(body)
            last = rid


def rebuild(conn: Connection) -> int:
    """Drop and rebuild the records projection from the event table; returns the number of records.

    Every column comes from the events (``updated_at`` is the newest event's ``recorded_at``), so a rebuild
    reproduces the table exactly.
    """
    newest = (
        select(record_events.c.record_id, func.max(record_events.c.seq).label("seq"))
        .group_by(record_events.c.record_id)
        .subquery()
    )
    q = (
        select(record_events.c.seq, record_events.c.recorded_at, record_events.c.state)
        .join(newest, record_events.c.seq == newest.c.seq)
        .order_by(record_events.c.record_id)
    )
    conn.execute(delete(records))
    n = 0
    chunk: list[dict[str, object]] = []
    for seq, recorded_at, body in conn.execute(q.execution_options(yield_per=5000)):  # streamed
        chunk.append(_row(RecordState.from_json(body), seq, recorded_at))
        n += 1
        if len(chunk) >= 5000:
            conn.execute(insert(records), chunk)
            chunk = []
    if chunk:
        conn.execute(insert(records), chunk)
    return n
