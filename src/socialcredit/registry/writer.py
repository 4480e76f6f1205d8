"""Writing the registry: every change is an appended event, the projection row, and an outbox row, in one
transaction. The outbox row points at its event; the feed's payload is derived from the event when read
(:func:`feed_payload`), not stored a second time.

Writers are serialised (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock), so
event sequence numbers are allocated without gaps or races and commit order equals sequence order: a feed
reader that resumes "after seq N" can never miss an event committed later with a smaller number.
"""

from __future__ import annotations

import datetime as dt
import json
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import orjson
from sqlalchemy import Connection, bindparam, func, select, text, update

from ..catalogue import Catalogue
from ..store.clock import LOCK_KEY as _LOCK_KEY
from ..store.clock import stamp
from ..store.tables import outbox, record_events, records, subjects
from . import copybinary as binary
from .bulk import bulk_insert, copy_binary, datetime_converter, sqlite_dt, sqlite_executemany
from .prepared import SOURCE, Prepared, prepare
from .rows import Filing
from .state import LIFECYCLE_ENDED, RecordState, term_bounds

__all__ = [
    "Conflict",
    "NotFound",
    "Outcome",
    "apply_event",
    "event_payload",
    "feed_payload",
    "file_batch",
    "load_state",
    "write_lock",
    "write_prepared",
]

_ENCODE = json.JSONEncoder(ensure_ascii=False).encode  # one encoder, not one per call


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
        tx = conn.get_transaction()
        held = conn.info.get("registry_write_lock")
        if tx is not None and held is not None and held() is tx:
            return  # taken earlier in this transaction, and held until it ends: no round trip again
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        if tx is not None:
            conn.info["registry_write_lock"] = weakref.ref(tx)


def _next(conn: Connection, column: Any) -> int:
    return int(conn.execute(select(func.coalesce(func.max(column), 0))).scalar_one()) + 1


def _next_ids(conn: Connection) -> tuple[int, int]:
    """The next record id and event sequence number, in one round trip."""
    q = select(
        select(func.coalesce(func.max(records.c.id), 0)).scalar_subquery(),
        select(func.coalesce(func.max(record_events.c.seq), 0)).scalar_subquery(),
    )
    rid, seq = conn.execute(q).one()
    return int(rid) + 1, int(seq) + 1


def event_payload(
    seq: int, type_: str, state: RecordState, recorded_at: dt.datetime, reason: str | None
) -> str:
    """The event as the feed delivers it: ids and times, never the decision text (checkpoints need none)."""
    until = state.valid_until
    # Keys in sorted order (the documented form) without paying for sort_keys on every event.
    return _ENCODE(
        {
            "applies_from": state.applies_from.isoformat(),
            "authority": state.authority,
            "category": state.category,
            "event_id": seq,
            "linked": [{"role": r, "subject_id": p} for p, r in state.linked()],
            "reason": reason,
            "record_id": state.id,
            "recorded_at": recorded_at.isoformat(),
            "status": state.status,
            "subject_id": state.subject_id,
            "type": type_,
            "valid_until": until.isoformat() if until else None,
        }
    )


def feed_payload(seq: int, type_: str, reason: str | None, recorded_at: dt.datetime, state: str) -> str:
    """The payload of the event stored as ``seq`` (its type, reason, time and state text), as the feed delivers
    it: :func:`event_payload` of the event. It is a function of the append-only event, so every reading gives
    the same bytes (webhook signatures and receivers' deduplication rely on that). A naive ``recorded_at`` is
    UTC, as stored."""
    at = recorded_at.replace(tzinfo=dt.UTC) if recorded_at.tzinfo is None else recorded_at.astimezone(dt.UTC)
    return event_payload(seq, type_, RecordState.from_json(state), at, reason)


def _suspensions_json(state: RecordState) -> str:
    if not state.suspensions:
        return "[]"
    return json.dumps([[a.isoformat(), b.isoformat() if b else None] for a, b in state.suspensions])


def _row(state: RecordState, seq: int, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": state.id,
        "authority": state.authority,
        "external_id": state.external_id,
        "category": state.category,
        "subject_id": state.subject_id,
        "subject_name": state.subject_name,
        "decision_no": state.decision_no,
        "decided_on": state.decided_on,
        "effective_from": state.effective_from,
        "effective_until": state.effective_until,
        "legal_basis": state.legal_basis,
        "summary": state.summary,
        "legal_representative_id": state.legal_representative_id,
        "legal_representative_name": state.legal_representative_name,
        "actual_controller_id": state.actual_controller_id,
        "actual_controller_name": state.actual_controller_name,
        "status": state.status,
        "applies_from": state.applies_from,
        "ended_at": state.ended_at,
        "suspensions": _suspensions_json(state),
        "version": seq,
        "content_hash": state.content_hash,
        "filed_at": state.filed_at,
        "updated_at": now,
    }


_RECORD_COLUMNS = (
    "id", "authority", "external_id", "category", "subject_id", "subject_name", "decision_no", "decided_on",
    "effective_from", "effective_until", "legal_basis", "summary", "legal_representative_id",
    "legal_representative_name", "actual_controller_id", "actual_controller_name", "status", "applies_from",
    "ended_at", "suspensions", "version", "content_hash", "filed_at", "updated_at",
)  # fmt: skip
_SUBJECT_COLUMNS = ("id", "kind", "name", "region_code", "region", "allowlisted", "created_at")


# COPY's order for records: id and version first, then the prepared line's columns.
_COPY_RECORD_COLUMNS = ("id", "version", *(c for c in _RECORD_COLUMNS if c not in ("id", "version")))
_EVENT_COLUMNS = ("seq", "record_id", "type", "recorded_at", "actor", "reason", "state")
_OUTBOX_COLUMNS = ("event_seq", "record_id", "type", "subject_ids", "created_at")


def _state(f: Filing, record_id: int, filed_at: dt.datetime, catalogue: Catalogue) -> RecordState:
    cat = catalogue.categories[f.category]
    notice = None if cat.takes_effect_at_once else (cat.notice_days, cat.notice_working_days)
    applies, until = term_bounds(f.effective_from, f.effective_until, filed_at, f.term_days, notice)
    return RecordState(
        id=record_id,
        authority=f.authority,
        external_id=f.external_id,
        category=f.category,
        subject_id=f.subject.canonical,
        subject_name=f.subject_name,
        decision_no=f.decision_no,
        decided_on=f.decided_on,
        effective_from=f.effective_from,
        effective_until=until,
        legal_basis=f.legal_basis,
        summary=f.summary,
        legal_representative_id=f.legal_representative.canonical if f.legal_representative else None,
        legal_representative_name=f.legal_representative_name,
        actual_controller_id=f.actual_controller.canonical if f.actual_controller else None,
        actual_controller_name=f.actual_controller_name,
        status="filed",
        applies_from=applies,
        ended_at=None,
        filed_at=filed_at,
        content_hash=f.content_hash,
        term_days=f.term_days,
    )


def _append(
    conn: Connection,
    items: Sequence[tuple[str, RecordState, str | None]],
    actor: str,
    now: dt.datetime,
    seq0: int | None = None,
) -> list[int]:
    """Append events (type, state, reason) and their outbox rows; return their sequence numbers.

    ``now`` is stored in UTC, and the feed's payload gives it so (:func:`feed_payload`)."""
    if not items:
        return []
    if seq0 is None:
        seq0 = _next(conn, record_events.c.seq)
    now_db = datetime_converter(conn)(now)
    ev, ob = [], []
    for seq, (type_, state, reason) in enumerate(items, start=seq0):
        ev.append((seq, state.id, type_, now_db, actor, reason, state.to_json()))
        linked = state.linked()
        ids = json.dumps([state.subject_id, *(p for p, _ in linked)]) if linked else f'["{state.subject_id}"]'
        ob.append((seq, state.id, type_, ids, now_db))
    bulk_insert(conn, record_events, _EVENT_COLUMNS, ev)
    bulk_insert(conn, outbox, _OUTBOX_COLUMNS, ob)
    return list(range(seq0, seq0 + len(items)))


def existing_records(
    conn: Connection, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, str, str]]:
    """(authority, external_id) -> (record id, content hash, status) for the keys already in the registry."""
    existing: dict[tuple[str, str], tuple[int, str, str]] = {}
    pg = conn.dialect.name == "postgresql"
    # One statement for every authority, its text fixed (prepared once): PostgreSQL takes the keys as two arrays,
    # SQLite as one JSON parameter; each key is one probe of the (authority, external_id) index. Each query is a
    # round trip, after which the import's writer thread waits for the interpreter lock.
    sql = _EXISTING_PG if pg else _EXISTING_SQLITE
    for i in range(0, len(keys), 5000):
        part = keys[i : i + 5000]
        params: Any = (
            {"a": [a for a, _ in part], "e": [e for _, e in part]} if pg else (orjson.dumps(part).decode(),)
        )
        existing.update({(a, e): (rid, h, st) for a, e, rid, h, st in conn.exec_driver_sql(sql, params)})
    return existing


_EXISTING_PG = (
    "SELECT r.authority, r.external_id, r.id, r.content_hash, r.status FROM records r "
    "JOIN unnest(%(a)s::text[], %(e)s::text[]) AS k(a, e) ON r.authority = k.a AND r.external_id = k.e"
)
_EXISTING_SQLITE = (
    "SELECT r.authority, r.external_id, r.id, r.content_hash, r.status FROM json_each(?) AS k "
    "JOIN records r ON r.authority = json_extract(k.value, '$[0]') AND r.external_id = json_extract(k.value, '$[1]')"
)


def write_prepared(
    conn: Connection,
    items: Sequence[Prepared],
    catalogue: Catalogue,
    actor: str,
    now: dt.datetime,
    filing_of: Callable[[Prepared], Filing],
    counters: list[int] | None = None,
) -> list[tuple[int, str, int | None]]:
    """File or amend each prepared filing; return (record id, "filed" | "amended" | "unchanged", seq).

    ``now`` is the events' ``recorded_at`` and must be a :func:`..store.clock.stamp` taken under the write lock
    (the items were prepared with it: their rows carry it as ``updated_at``).

    ``filing_of`` gives back the full filing of an item that turns out to be an amendment (rare). ``counters``
    (the next record id and sequence number) spares a query per batch to a caller that writes many batches in
    one transaction: filled on the first call, kept up to date after each (the write lock is held throughout).
    """
    write_lock(conn)
    keys = [(p[0], p[1]) for p in items]
    if len(set(keys)) != len(keys):
        raise Conflict("the same (authority, external_id) appears twice in one batch")
    existing = existing_records(conn, keys)
    next_id, seq0 = counters if counters else _next_ids(conn)
    out: list[tuple[int, str, int | None]] = []
    new: list[tuple[Prepared, int]] = []
    changed: list[tuple[Prepared, int, str]] = []
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
        changed.append((p, rid, status))
        out.append((rid, "amended", None))
    olds = _current_states(conn, [rid for _, rid, status in changed if status not in LIFECYCLE_ENDED])
    amended = []
    for p, rid, status in changed:
        f = filing_of(p)
        if status in LIFECYCLE_ENDED:
            raise Conflict(
                f"record {rid} ({f.authority}/{f.external_id}) is {status}; file a new record instead"
            )
        old = olds[rid]
        if old.subject_id != f.subject.canonical or old.category != f.category:
            raise Conflict(
                f"record {rid}: an amendment cannot change subject or category; revoke and file anew"
            )
        amended.append(_state(f, rid, old.filed_at, catalogue).with_(suspensions=old.suspensions))
    (_copy_new if conn.dialect.name == "postgresql" else _insert_new)(conn, items, new, seq0, actor, now)
    seqs = {rid: seq for seq, (_, rid) in enumerate(new, start=seq0)}
    if counters is not None:
        counters[:] = [next_id, seq0 + len(new) + len(amended)]
    if amended:
        done = _append(conn, [("amended", s, None) for s in amended], actor, now, seq0 + len(new))
        rows = []
        for s, seq in zip(amended, done, strict=True):
            seqs[s.id] = seq
            rows.append({**{k: v for k, v in _row(s, seq, now).items() if k != "id"}, "b_id": s.id})
        # One statement for the batch's amendments (the driver batches it), not one round trip each.
        conn.execute(update(records).where(records.c.id == bindparam("b_id")), rows)
    return [(rid, action, seqs.get(rid) if action != "unchanged" else None) for rid, action, _ in out]


def _first_subjects(items: Sequence[Prepared]) -> dict[str, Any]:
    """Each subject of a batch once, as the first item naming it gives it."""
    first: dict[str, Any] = {}
    for p in items:
        for sub in p[3]:
            first.setdefault(sub[0], sub)
    return first


def _insert_new(
    conn: Connection,
    items: Sequence[Prepared],
    new: Sequence[tuple[Prepared, int]],
    seq0: int,
    actor: str,
    now: dt.datetime,
) -> None:
    """SQLite: the new subjects, events, outbox rows and records of a batch, each table one ``executemany``
    (records one per pattern of null columns, see :func:`.prepared.for_sqlite`)."""
    at = sqlite_dt(now)
    # One statement per row that skips a known id: cheaper than asking which ids are known first.
    sqlite_executemany(
        conn,
        f"INSERT INTO subjects ({', '.join(_SUBJECT_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (id) DO NOTHING",
        [(*sub, at) for sub in _first_subjects(items).values()],
    )
    ev, ob = [], []
    recs: dict[int, list[tuple[Any, ...]]] = {}
    for seq, (p, rid) in enumerate(new, start=seq0):
        ev.append((seq, rid, at, actor, f'{p[4]}"id":{rid}{p[5]}'))
        ob.append((seq, rid, p[6], at))
        mask, values = p[7]
        group = recs.get(mask)
        if group is None:
            group = recs[mask] = []
        group.append((rid, seq, *values))
    sqlite_executemany(conn, _NEW_EVENT, ev)
    sqlite_executemany(conn, _NEW_OUTBOX, ob)
    for mask, rows in recs.items():
        sqlite_executemany(conn, _new_record(mask), rows)


# A new record's event and outbox row with their constant values written in (no value to bind, see for_sqlite).
_NEW_EVENT = (
    "INSERT INTO record_events (seq, record_id, type, recorded_at, actor, reason, state) "
    "VALUES (?, ?, 'filed', ?, ?, NULL, ?)"
)
_NEW_OUTBOX = (
    "INSERT INTO outbox (event_seq, record_id, type, subject_ids, created_at) VALUES (?, ?, 'filed', ?, ?)"
)


@lru_cache(maxsize=256)
def _new_record(mask: int) -> str:
    """The insert of new records whose null columns are ``mask``'s bits: id and version, then the others."""
    names = ["id", "version", *(c for i, c in enumerate(_RECORD_COLUMNS) if not mask >> i & 1)]
    return f"INSERT INTO records ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"


def _copy_new(
    conn: Connection,
    items: Sequence[Prepared],
    new: Sequence[tuple[Prepared, int]],
    seq0: int,
    actor: str,
    now: dt.datetime,
) -> None:
    """PostgreSQL: the new subjects, events, outbox rows and records of a batch, each table one binary COPY of the
    items' fields (:func:`.prepared.for_copy`), the id, sequence number and the import's clock added here."""
    at = binary.timestamp(sqlite_dt(now))  # the field of the import's clock, naive UTC
    wanted = {sid: row for sid, (_, row) in _first_subjects(items).items()}
    ids = list(wanted)
    for i in range(0, len(ids), 5000):
        # One array parameter, not thousands of bound values (the driver parses each query's text).
        found = conn.exec_driver_sql(
            "SELECT id FROM subjects WHERE id = ANY(%(ids)s)", {"ids": ids[i : i + 5000]}
        )
        for (sid,) in found:
            del wanted[sid]
    copy_binary(conn, subjects, _SUBJECT_COLUMNS, [row + at for row in wanted.values()])
    filed = binary.text("filed")
    middle = filed + at + binary.text(actor) + binary.NULL  # an event's type, recorded_at, actor and reason
    length = binary.length
    pair = binary.two_bigints
    ev, ob, rec = [], [], []
    for seq, (p, rid) in enumerate(new, start=seq0):
        head, key, tail = p[4], b'"id":%d' % rid, p[5]
        ev.append(
            b"".join(
                (pair(7, 8, seq, 8, rid), middle, length(len(head) + len(key) + len(tail)), head, key, tail)
            )
        )
        ob.append(b"".join((pair(5, 8, seq, 8, rid), filed, p[6], at)))
        rec.append(pair(24, 8, rid, 8, seq) + p[7])
    copy_binary(conn, record_events, _EVENT_COLUMNS, ev)
    copy_binary(conn, outbox, _OUTBOX_COLUMNS, ob)
    copy_binary(conn, records, _COPY_RECORD_COLUMNS, rec)


def file_batch(
    conn: Connection, filings: Sequence[Filing], catalogue: Catalogue, actor: str, now: dt.datetime
) -> list[Outcome]:
    """File or amend each filing (keyed by authority and external_id). Identical re-filings change nothing.

    The filings are recorded at ``now`` as :func:`..store.clock.stamp` reads it under the write lock."""
    dialect = conn.dialect.name
    write_lock(conn)
    now = stamp(conn, now)
    items = [prepare(f, catalogue, now, dialect, i) for i, f in enumerate(filings)]
    done = write_prepared(conn, items, catalogue, actor, now, lambda p: filings[p[SOURCE]])
    return [Outcome(rid, action, seq) for rid, action, seq in done]  # type: ignore[arg-type]


def _current_states(conn: Connection, record_ids: Sequence[int]) -> dict[int, RecordState]:
    """Record id -> its current state (its newest event's), for many records in few queries."""
    states: dict[int, RecordState] = {}
    for i in range(0, len(record_ids), 1000):
        part = record_ids[i : i + 1000]
        newest = (
            select(func.max(record_events.c.seq))
            .where(record_events.c.record_id.in_(part))
            .group_by(record_events.c.record_id)
        )
        q = select(record_events.c.record_id, record_events.c.state).where(record_events.c.seq.in_(newest))
        states.update((rid, RecordState.from_json(body)) for rid, body in conn.execute(q))
    return states


def load_state(conn: Connection, record_id: int) -> RecordState:
    """The record's current state: the state carried by its newest event."""
    q = (
        select(record_events.c.state)
        .where(record_events.c.record_id == record_id)
        .order_by(record_events.c.seq.desc())
        .limit(1)
    )
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
    """Append one lifecycle event whose new state is ``change(current)``; update the projection.

    ``now`` is the caller's instant (``change`` sees the one it captured); the event is recorded at
    :func:`..store.clock.stamp` of it, read under the write lock."""
    write_lock(conn)
    at = stamp(conn, now)
    state = change(load_state(conn, record_id))
    (seq,) = _append(conn, [(type_, state, reason)], actor, at)
    conn.execute(update(records).where(records.c.id == record_id).values(**_row(state, seq, at)))
    return state, seq


def revoke(
    conn: Connection, record_id: int, reason: str, actor: str, now: dt.datetime
) -> tuple[RecordState, int]:
    """Revoke a record: its measures stop applying from ``now`` (history before stays as it was)."""

    def change(s: RecordState) -> RecordState:
        if s.status in LIFECYCLE_ENDED:
            raise Conflict(f"record {record_id} is already {s.status}")
        # A record past its end has ended whether or not the expiry sweep has marked it yet (docs/api.md: 409).
        if s.status == "expired" or (s.effective_until is not None and s.effective_until <= now):
            raise Conflict(f"record {record_id} has expired; there is nothing left to revoke")
        return s.with_(status="revoked", ended_at=now)

    return apply_event(conn, record_id, "revoked", change, actor, now, reason)
