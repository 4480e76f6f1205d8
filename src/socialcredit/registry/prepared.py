"""Filings prepared for storage: every text and row built ahead, but for the record id and event number.

A :data:`Prepared` tuple holds a new record's event state, feed payload and projection row with holes where
the record id and sequence number go; the writer, holding the lock, fills the holes by concatenation. The
import builds these in worker processes (:func:`check_chunk`), so the one writer spends its time writing.
The texts equal ``RecordState.to_json()`` and ``event_payload()`` of the same record exactly (tested).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, select, update

from ..catalogue import Catalogue
from ..store.tables import outbox, record_events, records, subjects
from .bulk import bulk_insert, datetime_converter, pg_dt, sqlite_date, sqlite_dt
from .rows import Filing, RowInvalid, check_row
from .state import LIFECYCLE_ENDED, _iso, notice_end

__all__ = ["Prepared", "check_chunk", "check_one", "init_worker", "prepare", "refile", "write_prepared"]

# (authority, external_id, content_hash, subjects, state_head, state_tail, payload_head, payload_mid,
#  payload_tail, subject_ids_json, record_row, source): subjects are (id, kind, name, region_code, region,
#  allowlisted); record_row has None for id and version; source is the input row, re-checked on amendment.
Prepared = tuple[Any, ...]

_ENCODE = json.JSONEncoder(ensure_ascii=False).encode  # as writer.event_payload
_ENCODE_STATE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # as RecordState.to_json
_STATE_HOLE = '"id":null'
_EVENT_HOLE = '"event_id": null'
_RECORD_HOLE = '"record_id": null'
_RECORD_COLUMNS = (
    "id", "authority", "external_id", "category", "subject_id", "subject_name", "decision_no", "decided_on",
    "effective_from", "effective_until", "legal_basis", "summary", "legal_representative_id",
    "legal_representative_name", "actual_controller_id", "actual_controller_name", "status", "applies_from",
    "ended_at", "suspensions", "version", "content_hash", "filed_at", "updated_at",
)  # fmt: skip
_SUBJECT_COLUMNS = ("id", "kind", "name", "region_code", "region", "allowlisted", "created_at")


def prepare(f: Filing, catalogue: Catalogue, now: dt.datetime, dialect: str, source: Any = None) -> Prepared:
    """The storage texts of ``f`` as a new record filed at ``now`` (id and sequence number left open)."""
    cdt: Callable[[Any], Any] = sqlite_dt if dialect == "sqlite" else pg_dt
    cd: Callable[[Any], Any] = sqlite_date if dialect == "sqlite" else (lambda d: d)
    cat = catalogue.categories[f.category]
    start, until = f.effective_from, f.effective_until
    applies = start
    if not cat.takes_effect_at_once:
        applies = max(applies, notice_end(now, cat.notice_days, cat.notice_working_days))
    rep = f.legal_representative.canonical if f.legal_representative else None
    ctl = f.actual_controller.canonical if f.actual_controller else None
    subject = f.subject.canonical
    state = _ENCODE_STATE({
        "actual_controller_id": ctl, "actual_controller_name": f.actual_controller_name,
        "applies_from": _iso(applies), "authority": f.authority, "category": f.category,
        "content_hash": f.content_hash, "decided_on": f.decided_on.isoformat(), "decision_no": f.decision_no,
        "effective_from": _iso(start), "effective_until": _iso(until), "ended_at": None,
        "external_id": f.external_id, "filed_at": _iso(now), "id": None, "legal_basis": f.legal_basis,
        "legal_representative_id": rep, "legal_representative_name": f.legal_representative_name,
        "status": "filed", "subject_id": subject, "subject_name": f.subject_name, "summary": f.summary,
        "suspensions": [],
    })  # fmt: skip
    linked = []
    if rep:
        linked.append({"role": "legal_representative", "subject_id": rep})
    if ctl:
        linked.append({"role": "actual_controller", "subject_id": ctl})
    payload = _ENCODE({
        "applies_from": applies.isoformat(), "authority": f.authority, "category": f.category,
        "event_id": None, "linked": linked, "reason": None, "record_id": None, "recorded_at": now.isoformat(),
        "status": "filed", "subject_id": subject, "type": "filed",
        "valid_until": until.isoformat() if until else None,
    })  # fmt: skip
    # The holes can only be keys: a quote inside a value is escaped, so '"id":null' never occurs in one.
    s_head, s_tail = state.split(_STATE_HOLE, 1)
    p_head, rest = payload.split(_EVENT_HOLE, 1)
    p_mid, p_tail = rest.split(_RECORD_HOLE, 1)
    ids = _ENCODE([subject, *(x["subject_id"] for x in linked)]) if linked else f'["{subject}"]'
    start_db = cdt(start)
    record = (
        None, f.authority, f.external_id, f.category, subject, f.subject_name, f.decision_no,
        cd(f.decided_on), start_db, cdt(until), f.legal_basis, f.summary, rep, f.legal_representative_name,
        ctl, f.actual_controller_name, "filed", start_db if applies is start else cdt(applies), None, "[]",
        None, f.content_hash, cdt(now), cdt(now),
    )  # fmt: skip
    subs = tuple(
        (sid.canonical, sid.kind, name or "", sid.region_code, sid.region, sid.allowlisted)
        for sid, name in (
            (f.subject, f.subject_name),
            (f.legal_representative, f.legal_representative_name),
            (f.actual_controller, f.actual_controller_name),
        )
        if sid is not None
    )
    return (f.authority, f.external_id, f.content_hash, subs, s_head, s_tail, p_head, p_mid, p_tail, ids,
            record, source)  # fmt: skip


def write_prepared(
    conn: Connection,
    items: Sequence[Prepared],
    catalogue: Catalogue,
    actor: str,
    now: dt.datetime,
    filing_of: Callable[[Prepared], Filing],
) -> list[tuple[int, str, int | None]]:
    """File or amend each prepared filing; return (record id, "filed" | "amended" | "unchanged", seq).

    ``filing_of`` gives back the full filing of an item that turns out to be an amendment (rare).
    """
    from .writer import (
        _EVENT_COLUMNS,
        _OUTBOX_COLUMNS,
        Conflict,
        _append,
        _next,
        _row,
        _state,
        existing_records,
        load_state,
        write_lock,
    )

    write_lock(conn)
    keys = [(p[0], p[1]) for p in items]
    if len(set(keys)) != len(keys):
        raise Conflict("the same (authority, external_id) appears twice in one batch")
    existing = existing_records(conn, keys)
    next_id = _next(conn, records.c.id)
    out: list[tuple[int, str, int | None]] = []
    new: list[tuple[Prepared, int]] = []
    amended = []
    for p in items:
        hit = existing.get((p[0], p[1]))
        if hit is None:
            new.append((p, next_id))
            out.append((next_id, "filed", None))
            next_id += 1
            continue
        rid, digest, status = hit
        if digest == p[2]:
            out.append((rid, "unchanged", None))
            continue
        f = filing_of(p)
        if status in LIFECYCLE_ENDED:
            raise Conflict(
                f"record {rid} ({f.authority}/{f.external_id}) is {status}; file a new record instead"
            )
        old = load_state(conn, rid)
        if old.subject_id != f.subject.canonical or old.category != f.category:
            raise Conflict(
                f"record {rid}: an amendment cannot change subject or category; revoke and file anew"
            )
        amended.append(_state(f, rid, old.filed_at, catalogue).with_(suspensions=old.suspensions))
        out.append((rid, "amended", None))
    cdt = datetime_converter(conn)
    now_db = cdt(now)
    _ensure_subjects(conn, items, now_db)
    seq0 = _next(conn, record_events.c.seq)
    seqs: dict[int, int] = {}
    ev, ob, rec = [], [], []
    for seq, (p, rid) in enumerate(new, start=seq0):
        seqs[rid] = seq
        ev.append((seq, rid, "filed", now_db, actor, None, f'{p[4]}"id":{rid}{p[5]}'))
        payload = f'{p[6]}"event_id": {seq}{p[7]}"record_id": {rid}{p[8]}'
        ob.append((seq, rid, "filed", p[9], payload, now_db))
        r = p[10]
        rec.append((rid, *r[1:20], seq, *r[21:]))
    bulk_insert(conn, record_events, _EVENT_COLUMNS, ev)
    bulk_insert(conn, outbox, _OUTBOX_COLUMNS, ob)
    bulk_insert(conn, records, _RECORD_COLUMNS, rec)
    for s, seq in zip(amended, _append(conn, [("amended", s, None) for s in amended], actor, now,
                                       seq0 + len(new)), strict=True):  # fmt: skip
        seqs[s.id] = seq
        conn.execute(update(records).where(records.c.id == s.id).values(**_row(s, seq, now)))
    return [(rid, action, seqs.get(rid) if action != "unchanged" else None) for rid, action, _ in out]


def _ensure_subjects(conn: Connection, items: Sequence[Prepared], now_db: Any) -> None:
    wanted: dict[str, tuple[Any, ...]] = {}
    for p in items:
        for s in p[3]:
            if s[0] not in wanted:
                wanted[s[0]] = (*s, now_db)
    ids = list(wanted)
    have: set[str] = set()
    for i in range(0, len(ids), 5000):
        have.update(conn.execute(select(subjects.c.id).where(subjects.c.id.in_(ids[i : i + 5000]))).scalars())
    bulk_insert(conn, subjects, _SUBJECT_COLUMNS, [v for k, v in wanted.items() if k not in have])


# --- worker processes ---------------------------------------------------------------------------------------

_worker: dict[str, Any] = {}


def init_worker(catalogue: Catalogue, now: dt.datetime, allowlist: frozenset[str], dialect: str) -> None:
    _worker.update(catalogue=catalogue, now=now, allowlist=allowlist, dialect=dialect)


def check_one(
    line: int,
    source: Any,
    catalogue: Catalogue,
    now: dt.datetime,
    allowlist: frozenset[str],
    dialect: str,
    text: bool = True,
) -> tuple[Any, ...]:
    """("ok", line, prepared) | ("bad", line, row, errors) | ("json", line, message) for one input row.

    ``source`` is a JSON text when ``text``, else the row itself (already parsed, or a CSV row).
    """
    if text and isinstance(source, str):
        try:
            row = json.loads(source)
        except json.JSONDecodeError as exc:
            return ("json", line, f"invalid JSON: {exc.msg} at column {exc.colno}")
    else:
        row = source
    try:
        f = check_row(row, catalogue, now, allowlist)
    except RowInvalid as exc:
        return ("bad", line, row, exc.errors)
    return ("ok", line, prepare(f, catalogue, now, dialect, source))


def check_chunk(items: list[tuple[int, Any]]) -> list[tuple[Any, ...]]:
    """Check a chunk of (line, JSON text or CSV row) in a worker process set up by :func:`init_worker`."""
    w = _worker
    cat, now, allow, dialect = w["catalogue"], w["now"], w["allowlist"], w["dialect"]
    return [check_one(n, src, cat, now, allow, dialect) for n, src in items]


def refile(catalogue: Catalogue, now: dt.datetime, allowlist: frozenset[str]) -> Callable[[Prepared], Filing]:
    """``filing_of`` for :func:`write_prepared`: check the item's source row again."""

    def filing_of(p: Prepared) -> Filing:
        src = p[11]
        return check_row(json.loads(src) if isinstance(src, str) else src, catalogue, now, allowlist)

    return filing_of
