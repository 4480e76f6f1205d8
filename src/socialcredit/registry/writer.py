"""Writing the registry: every change is an appended event, the projection row, and an outbox row, in one
transaction.

Writers are serialised (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock), so event
sequence numbers are allocated without gaps or races and commit order equals sequence order: a feed reader that
resumes "after seq N" can never miss an event committed later with a smaller number.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ARRAY, Connection, String, any_, bindparam, func, select, text, update

from ..catalogue import Catalogue
from ..store.tables import outbox, record_events, records, subjects
from .bulk import bulk_insert, date_converter, datetime_converter
from .rows import Filing
from .state import LIFECYCLE_ENDED, RecordState

__all__ = [
    "Conflict",
    "NotFound",
    "Outcome",
    "apply_event",
    "event_payload",
    "file_batch",
    "load_state",
    "write_lock",
]

_LOCK_KEY = 71402016  # arbitrary, constant: the registry writers' advisory lock


class NotFound(LookupError):
    """No record with that id."""


class Conflict(ValueError):
    """The change contradicts the record's current state (for example amending a revoked record)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    record_id: int
    action: Literal["filed", "amended", "unchanged"]
    seq: int | None


def write_lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})


def _next(conn: Connection, column: Any) -> int:
    return int(conn.execute(select(func.coalesce(func.max(column), 0))).scalar_one()) + 1


def event_payload(seq: int, type_: str, state: RecordState, recorded_at: dt.datetime, reason: str | None) -> str:
    """The event as the feed delivers it: ids and times, never the decision text (checkpoints need no file)."""
    until = state.valid_until
    # Keys in sorted order (the documented form) without paying for sort_keys on the import's hot path.
    return json.dumps({
        "applies_from": state.applies_from.isoformat(), "authority": state.authority, "category": state.category,
        "event_id": seq, "linked": [{"role": r, "subject_id": p} for p, r in state.linked()],
        "reason": reason, "record_id": state.id, "recorded_at": recorded_at.isoformat(), "status": state.status,
        "subject_id": state.subject_id, "type": type_, "valid_until": until.isoformat() if until else None,
    }, ensure_ascii=False)


def _suspensions_json(state: RecordState) -> str:
    if not state.suspensions:
        return "[]"
    return json.dumps([[a.isoformat(), b.isoformat() if b else None] for a, b in state.suspensions])


def _row(state: RecordState, seq: int, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": state.id, "authority": state.authority, "external_id": state.external_id,
        "category": state.category, "subject_id": state.subject_id, "subject_name": state.subject_name,
        "decision_no": state.decision_no, "decided_on": state.decided_on, "effective_from": state.effective_from,
        "effective_until": state.effective_until, "legal_basis": state.legal_basis, "summary": state.summary,
        "legal_representative_id": state.legal_representative_id,
        "legal_representative_name": state.legal_representative_name,
        "actual_controller_id": state.actual_controller_id, "actual_controller_name": state.actual_controller_name,
        "status": state.status, "applies_from": state.applies_from, "ended_at": state.ended_at,
        "suspensions": _suspensions_json(state),
        "version": seq, "content_hash": state.content_hash, "filed_at": state.filed_at, "updated_at": now,
    }


_RECORD_COLUMNS = (
    "id", "authority", "external_id", "category", "subject_id", "subject_name", "decision_no", "decided_on",
    "effective_from", "effective_until", "legal_basis", "summary", "legal_representative_id",
    "legal_representative_name", "actual_controller_id", "actual_controller_name", "status", "applies_from",
    "ended_at", "suspensions", "version", "content_hash", "filed_at", "updated_at",
)
_EVENT_COLUMNS = ("seq", "record_id", "type", "recorded_at", "actor", "reason", "state")
_OUTBOX_COLUMNS = ("event_seq", "record_id", "type", "subject_ids", "payload", "created_at")
_SUBJECT_COLUMNS = ("id", "kind", "name", "region_code", "region", "allowlisted", "created_at")


def _insert_records(conn: Connection, states: Sequence[RecordState], seqs: dict[int, int], now: dt.datetime) -> None:
    cdt, cd = datetime_converter(conn), date_converter(conn)
    now_db = cdt(now)
    rows = []
    for s in states:
        start = cdt(s.effective_from)
        applies = start if s.applies_from is s.effective_from else cdt(s.applies_from)
        rows.append((
            s.id, s.authority, s.external_id, s.category, s.subject_id, s.subject_name, s.decision_no,
            cd(s.decided_on), start, cdt(s.effective_until), s.legal_basis, s.summary,
            s.legal_representative_id, s.legal_representative_name, s.actual_controller_id,
            s.actual_controller_name, s.status, applies, cdt(s.ended_at), _suspensions_json(s), seqs[s.id],
            s.content_hash, cdt(s.filed_at), now_db,
        ))
    bulk_insert(conn, records, _RECORD_COLUMNS, rows)


def _state(f: Filing, record_id: int, filed_at: dt.datetime, catalogue: Catalogue) -> RecordState:
    cat = catalogue.categories[f.category]
    applies = f.effective_from
    if not cat.takes_effect_at_once:
        applies = max(applies, filed_at + dt.timedelta(days=cat.notice_days))
    return RecordState(
        id=record_id, authority=f.authority, external_id=f.external_id, category=f.category,
        subject_id=f.subject.canonical, subject_name=f.subject_name, decision_no=f.decision_no,
        decided_on=f.decided_on, effective_from=f.effective_from, effective_until=f.effective_until,
        legal_basis=f.legal_basis, summary=f.summary,
        legal_representative_id=f.legal_representative.canonical if f.legal_representative else None,
        legal_representative_name=f.legal_representative_name,
        actual_controller_id=f.actual_controller.canonical if f.actual_controller else None,
        actual_controller_name=f.actual_controller_name, status="filed", applies_from=applies, ended_at=None,
        filed_at=filed_at, content_hash=f.content_hash,
    )


def _append(
    conn: Connection, items: Sequence[tuple[str, RecordState, str | None]], actor: str, now: dt.datetime
) -> list[int]:
    """Append events (type, state, reason) and their outbox rows; return their sequence numbers."""
    if not items:
        return []
    seq0 = _next(conn, record_events.c.seq)
    now_db = datetime_converter(conn)(now)
    ev, ob = [], []
    for seq, (type_, state, reason) in enumerate(items, start=seq0):
        ev.append((seq, state.id, type_, now_db, actor, reason, state.to_json()))
        linked = state.linked()
        ids = json.dumps([state.subject_id, *(p for p, _ in linked)]) if linked else f'["{state.subject_id}"]'
        ob.append((seq, state.id, type_, ids, event_payload(seq, type_, state, now, reason), now_db))
    bulk_insert(conn, record_events, _EVENT_COLUMNS, ev)
    bulk_insert(conn, outbox, _OUTBOX_COLUMNS, ob)
    return list(range(seq0, seq0 + len(items)))


def _ensure_subjects(conn: Connection, filings: Sequence[Filing], now: dt.datetime) -> None:
    wanted: dict[str, tuple[Any, ...]] = {}
    now_db = datetime_converter(conn)(now)
    for f in filings:
        for sid, name in ((f.subject, f.subject_name), (f.legal_representative, f.legal_representative_name),
                          (f.actual_controller, f.actual_controller_name)):
            if sid is not None and sid.canonical not in wanted:
                wanted[sid.canonical] = (sid.canonical, sid.kind, name or "", sid.region_code, sid.region,
                                         sid.allowlisted, now_db)
    ids = list(wanted)
    have: set[str] = set()
    for i in range(0, len(ids), 5000):
        have.update(conn.execute(select(subjects.c.id).where(subjects.c.id.in_(ids[i:i + 5000]))).scalars())
    bulk_insert(conn, subjects, _SUBJECT_COLUMNS, [v for k, v in wanted.items() if k not in have])


def file_batch(
    conn: Connection, filings: Sequence[Filing], catalogue: Catalogue, actor: str, now: dt.datetime
) -> list[Outcome]:
    """File or amend each filing (keyed by authority and external_id). Identical re-filings change nothing."""
    write_lock(conn)
    keys = [(f.authority, f.external_id) for f in filings]
    if len(set(keys)) != len(keys):
        raise Conflict("the same (authority, external_id) appears twice in one batch")
    existing: dict[tuple[str, str], tuple[int, str, str]] = {}
    by_authority: dict[str, list[str]] = {}
    for a, e in keys:
        by_authority.setdefault(a, []).append(e)
    # One IN list per authority: the planner then probes the (authority, external_id) index for each key.
    cols = (records.c.authority, records.c.external_id, records.c.id, records.c.content_hash, records.c.status)
    pg = conn.dialect.name == "postgresql"
    for a, ext in by_authority.items():
        for i in range(0, len(ext), 1000):
            chunk = ext[i:i + 1000]
            # PostgreSQL: one array parameter instead of a thousand (the driver parses each query's text).
            match = (records.c.external_id == any_(bindparam("ext", chunk, type_=ARRAY(String))) if pg
                     else records.c.external_id.in_(chunk))
            q = select(*cols).where(records.c.authority == a, match)
            existing.update({(a, e): (rid, h, st) for a, e, rid, h, st in conn.execute(q)})
    next_id = _next(conn, records.c.id)
    outcomes: list[Outcome] = []
    new_states: list[RecordState] = []
    amended: list[RecordState] = []
    for f in filings:
        hit = existing.get((f.authority, f.external_id))
        if hit is None:
            new_states.append(_state(f, next_id, now, catalogue))
            outcomes.append(Outcome(next_id, "filed", None))
            next_id += 1
            continue
        rid, digest, status = hit
        if digest == f.content_hash:
            outcomes.append(Outcome(rid, "unchanged", None))
            continue
        old = load_state(conn, rid)
        if status in LIFECYCLE_ENDED:
            raise Conflict(f"record {rid} ({f.authority}/{f.external_id}) is {status}; file a new record instead")
        if old.subject_id != f.subject.canonical or old.category != f.category:
            raise Conflict(f"record {rid}: an amendment cannot change subject or category; revoke and file anew")
        state = _state(f, rid, old.filed_at, catalogue).with_(suspensions=old.suspensions)
        amended.append(state)
        outcomes.append(Outcome(rid, "amended", None))
    _ensure_subjects(conn, filings, now)
    items = [("filed", s, None) for s in new_states] + [("amended", s, None) for s in amended]
    seqs = _append(conn, items, actor, now)
    by_id = {s.id: seq for (_, s, _), seq in zip(items, seqs, strict=True)}
    _insert_records(conn, new_states, by_id, now)
    for s in amended:
        row = _row(s, by_id[s.id], now)
        conn.execute(update(records).where(records.c.id == s.id).values(**row))
    return [Outcome(o.record_id, o.action, by_id.get(o.record_id) if o.action != "unchanged" else None)
            for o in outcomes]


def load_state(conn: Connection, record_id: int) -> RecordState:
    """The record's current state: the state carried by its newest event."""
    q = (select(record_events.c.state).where(record_events.c.record_id == record_id)
         .order_by(record_events.c.seq.desc()).limit(1))
    body = conn.execute(q).scalar_one_or_none()
    if body is None:
        raise NotFound(f"no record {record_id}")
    return RecordState.from_json(body)


def apply_event(
    conn: Connection,
    record_id: int,
    type_: str,
    change: Callable[[RecordState], RecordState],
    actor: str,
    now: dt.datetime,
    reason: str | None = None,
) -> tuple[RecordState, int]:
    """Append one lifecycle event whose new state is ``change(current)``; update the projection."""
    write_lock(conn)
    state = change(load_state(conn, record_id))
    (seq,) = _append(conn, [(type_, state, reason)], actor, now)
    conn.execute(update(records).where(records.c.id == record_id).values(**_row(state, seq, now)))
    return state, seq


def revoke(conn: Connection, record_id: int, reason: str, actor: str, now: dt.datetime) -> tuple[RecordState, int]:
    """Revoke a record: its measures stop applying from ``now`` (history before stays as it was)."""

    def change(s: RecordState) -> RecordState:
        if s.status in LIFECYCLE_ENDED:
            raise Conflict(f"record {record_id} is already {s.status}")
        return s.with_(status="revoked", ended_at=now)

    return apply_event(conn, record_id, "revoked", change, actor, now, reason)
