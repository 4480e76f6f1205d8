"""The audit log: who read or wrote whose personal data, when, for what purpose, with what outcome.

Each entry is chained to the one before it: ``hash = sha256(prev_hash + canonical JSON of the entry)``, where
the entry includes its own sequence number. Editing any field, deleting an entry or swapping two entries
breaks the chain at the first entry touched, and :func:`verify` names that sequence number. What the chain alone
cannot show (the newest entries cut off, or forged ones appended with correct hashes) the signed heads of
:mod:`socialcredit.anchor` do: :data:`WITNESS` remembers what this process appended, for its next signed head.

Appends are serialised: on SQLite the writer's ``BEGIN IMMEDIATE`` already is, on PostgreSQL the registry's
advisory write lock is taken, so sequence numbers and ``prev_hash`` are read and written without a race. A
write appends its entry on the connection of the change itself: the entry and the change commit together.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import URL, Connection, Engine, event, func, insert, or_, select

from .registry.writer import write_lock
from .store.tables import audit_log

__all__ = [
    "GENESIS",
    "WITNESS",
    "Appended",
    "AuditEntry",
    "AuditUnavailable",
    "Verification",
    "Witness",
    "append",
    "count",
    "entry_fields",
    "entry_hash",
    "query",
    "stored_entry",
    "verify",
]

GENESIS = "0" * 64


@dataclass(slots=True)
class Appended:
    """One :func:`append`: entries ``first``..``last``, the hash of the last, and its transaction's fate."""

    first: int
    last: int
    digest: str
    state: str = "open"  # then "committed" or "rolled back", as the transaction's commit or rollback begins


class Witness:
    """What this process appended, per database, until a signed head takes it.

    A head vouches for an append seen committing (the connection's ``commit`` event) even if the entries are
    gone from the database by the time it is signed, so a fresh entry deleted or edited before the next head
    is caught too; an append rolled back is dropped; one whose fate was not seen is checked in the database.
    Kept apart per append, never merged: only a range checked on its own may be vouched for."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[URL, list[Appended]] = {}
        # By the connection whose transaction is open (weakly: a connection lost without either event goes away).
        self._open: weakref.WeakKeyDictionary[Connection, list[Appended]] = weakref.WeakKeyDictionary()
        self._engines: weakref.WeakSet[Engine] = weakref.WeakSet()

    def note(self, conn: Connection, first: int, last: int, digest: str) -> None:
        engine = conn.engine
        if engine not in self._engines:
            with self._lock:
                if engine not in self._engines:
                    event.listen(engine, "commit", self._committed)
                    event.listen(engine, "rollback", self._rolled_back)
                    self._engines.add(engine)
        item = Appended(first, last, digest)
        with self._lock:
            self._pending.setdefault(engine.url, []).append(item)
            self._open.setdefault(conn, []).append(item)

    def _settle(self, conn: Connection, state: str) -> None:
        if conn in self._open:
            with self._lock:
                for item in self._open.pop(conn, []):
                    item.state = state

    def _committed(self, conn: Connection) -> None:
        self._settle(conn, "committed")

    def _rolled_back(self, conn: Connection) -> None:
        self._settle(conn, "rolled back")

    def take(self, db: URL) -> list[Appended]:
        with self._lock:
            return self._pending.pop(db, [])

    def databases(self) -> list[URL]:
        with self._lock:
            return [db for db, items in self._pending.items() if items]

    def give_back(self, db: URL, items: list[Appended]) -> None:
        """Return appends still in flight, for the next head."""
        if items:
            with self._lock:
                self._pending[db] = items + self._pending.get(db, [])


WITNESS = Witness()


class AuditUnavailable(Exception):
    """The audit log cannot keep an entry for now, and says when to try again (a check node whose stream is
    unreachable and whose local buffer is full): the request is refused with 503 and ``Retry-After``."""

    def __init__(self, detail: str, retry_after: float) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What one request did: the actor (key id, ``public`` or ``cli``), its role, the action, the target (a
    record id, subject ids or a query), the stated purpose, and the outcome."""

    actor: str
    role: str
    action: str
    target: str
    outcome: str
    purpose: str | None = None


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    checked: int
    head_hash: str
    first_bad_seq: int | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "head_hash": self.head_hash,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
        }


def _iso(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def entry_fields(e: AuditEntry) -> dict[str, str | None]:
    """The entry's fields under the names the hash body and the audit_log columns give them: the one list of
    them, which the rows appended here and a node's entry lines and rows (node/chain.py) use too."""
    return {
        "actor": e.actor,
        "role": e.role,
        "action": e.action,
        "target": e.target,
        "purpose": e.purpose,
        "outcome": e.outcome,
    }


def entry_hash(prev_hash: str, seq: int, at: dt.datetime, e: AuditEntry) -> str:
    body = json.dumps(
        {"seq": seq, "at": _iso(at), **entry_fields(e)},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def _safe(text: str) -> str:
    # Targets can quote what a caller sent; PostgreSQL text cannot hold NUL, so it is written visibly instead.
    return text.replace("\x00", "\\x00")


def stored_entry(e: AuditEntry) -> AuditEntry:
    """The entry as stored and hashed: bounded columns cut, NUL written visibly (so verify recomputes the same
    digest). Node chains (:mod:`socialcredit.node.audit`) store theirs the same way."""
    return AuditEntry(
        _safe(e.actor)[:64],
        e.role[:16],
        e.action[:64],
        _safe(e.target),
        _safe(e.outcome)[:200],
        _safe(e.purpose)[:200] if e.purpose is not None else None,
    )


def append(conn: Connection, entries: Sequence[AuditEntry], now: dt.datetime) -> list[int]:
    """Append entries in order on ``conn`` (inside its transaction); return their sequence numbers."""
    if not entries:
        return []
    write_lock(conn)
    last = conn.execute(
        select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
    ).first()
    seq, prev = (int(last.seq), str(last.hash)) if last is not None else (0, GENESIS)
    rows: list[dict[str, Any]] = []
    for e in entries:
        seq += 1
        e = stored_entry(e)
        digest = entry_hash(prev, seq, now, e)
        rows.append({"seq": seq, "at": now, **entry_fields(e), "prev_hash": prev, "hash": digest})
        prev = digest
    conn.execute(insert(audit_log), rows)
    WITNESS.note(conn, int(rows[0]["seq"]), int(rows[-1]["seq"]), str(rows[-1]["hash"]))
    return [int(r["seq"]) for r in rows]


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(row.actor, row.role, row.action, row.target, row.outcome, row.purpose)


def verify(conn: Connection, batch: int = 5000) -> Verification:
    """Walk the chain from the first entry; report the first sequence number whose entry does not hold."""
    expected_seq, prev, checked = 1, GENESIS, 0
    last = 0
    while True:
        rows = conn.execute(
            select(audit_log).where(audit_log.c.seq > last).order_by(audit_log.c.seq).limit(batch)
        ).all()
        if not rows:
            return Verification(True, checked, prev)
        for row in rows:
            seq = int(row.seq)
            if seq != expected_seq:
                why = (
                    f"entry {expected_seq} is missing (next is {seq})"
                    if seq > expected_seq
                    else f"sequence goes back to {seq}"
                )
                return Verification(False, checked, prev, seq, why)
            if row.prev_hash != prev:
                return Verification(False, checked, prev, seq, "prev_hash does not match the entry before it")
            digest = entry_hash(prev, seq, row.at, _entry(row))
            if digest != row.hash:
                return Verification(False, checked, prev, seq, "entry content does not match its hash")
            prev, expected_seq, checked = digest, seq + 1, checked + 1
            last = seq


def _many(target: str | Sequence[str]) -> list[str]:
    return [target] if isinstance(target, str) else list(target)


def query(
    conn: Connection,
    *,
    after: int = 0,
    limit: int = 100,
    actor: str | None = None,
    action: str | None = None,
    target: str | Sequence[str] | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Iterator[dict[str, Any]]:
    """Entries after sequence number ``after``, oldest first, filtered; ``target`` matches a substring (or
    any of several)."""
    q = select(audit_log).where(audit_log.c.seq > after)
    if actor:
        q = q.where(audit_log.c.actor == actor)
    if action:
        q = q.where(audit_log.c.action == action)
    if target:
        escaped = [t.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for t in _many(target)]
        q = q.where(or_(*(audit_log.c.target.like(f"%{e}%", escape="\\") for e in escaped)))
    if since:
        q = q.where(audit_log.c.at >= since)
    if until:
        q = q.where(audit_log.c.at < until)
    for row in conn.execute(q.order_by(audit_log.c.seq).limit(limit)):
        yield {
            "seq": row.seq,
            "at": row.at.isoformat(),
            "actor": row.actor,
            "role": row.role,
            "action": row.action,
            "target": row.target,
            "purpose": row.purpose,
            "outcome": row.outcome,
            "prev_hash": row.prev_hash,
            "hash": row.hash,
        }


def count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())
