"""Objections to a record, their decision by the filing authority, and reconsideration by its parent.

An objection is accepted while the record has not ended; the filing authority must decide by
``due_at``: the category's ``objection.decision_days`` (calendar days) where a rule sets one (courts: 15 days,
SPC 2017 art. 12), else ``objection.days`` counted as the category says (flight and train lists: 7 working
days). Pending objections past ``due_at`` are *overdue* and listed as such. Where ``objection.suspends`` the
record's measures are suspended from filing to decision (an open interval in ``RecordState.suspensions``);
the defaulter list is not suspended. Upheld: the record is corrected (named fields) or revoked. Rejected:
reasons are required, and where the category provides it the subject may ask the parent authority to
reconsider within ``objection.reconsideration_days`` (the authority itself where it has no parent).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal

from sqlalchemy import Connection, insert, or_, select, update

from ..catalogue import Catalogue
from ..registry import Conflict, NotFound, RecordState, apply_event, load_state
from ..registry.rows import DATE_RANGE
from ..registry.state import day_end
from ..registry.writer import write_lock
from ..store.tables import objections, records
from ..workdays import deadline
from .common import as_dict, required_text
from .errors import NotAllowed, ProcessInvalid

__all__ = [
    "CORRECTABLE",
    "decide_objection",
    "file_objection",
    "get_objection",
    "list_objections",
    "may_act_for",
    "request_reconsideration",
]

Outcome = Literal["upheld", "rejected"]
# Fields an upheld objection may correct; the rest (identity of the record, its subject) need a revocation.
CORRECTABLE = ("subject_name", "summary", "decision_no", "legal_basis", "effective_until")


def may_act_for(state: RecordState, subject: str) -> bool:
    """Whether ``subject`` (a subject key's identity) is the record's subject or a person it reaches."""
    return subject == state.subject_id or any(p == subject for p, _ in state.linked())


def get_objection(conn: Connection, objection_id: int) -> dict[str, Any]:
    row = conn.execute(select(objections).where(objections.c.id == objection_id)).first()
    if row is None:
        raise NotFound(f"no objection {objection_id}")
    out = as_dict(row)
    out["correction"] = json.loads(row.correction) if row.correction else None
    return out


def _pending_on(conn: Connection, record_id: int) -> int | None:
    q = select(objections.c.id).where(objections.c.record_id == record_id, objections.c.status == "pending")
    return conn.execute(q.limit(1)).scalar_one_or_none()


def _open_state(conn: Connection, record_id: int, now: dt.datetime) -> RecordState:
    state = load_state(conn, record_id)
    if state.status != "filed":
        raise Conflict(f"record {record_id} is {state.status}: nothing left to object to")
    until = state.valid_until
    if until is not None and until <= now:
        raise Conflict(f"record {record_id} ended on {until.isoformat()}: nothing left to object to")
    return state


def _suspend(now: dt.datetime) -> Any:
    def change(s: RecordState) -> RecordState:
        return s.with_(suspensions=(*s.suspensions, (now, None)))

    return change


def _resume(now: dt.datetime) -> Any:
    def change(s: RecordState) -> RecordState:
        return s.with_(suspensions=tuple((a, now if b is None else b) for a, b in s.suspensions))

    return change


def _no_change(s: RecordState) -> RecordState:
    return s


def _open_objection(
    conn: Connection,
    record_id: int,
    stage: str,
    parent_id: int | None,
    authority: str,
    filed_by: str,
    counsel: str | None,
    grounds: str,
    now: dt.datetime,
    due: dt.datetime,
    suspends: bool,
) -> dict[str, Any]:
    """Insert a pending objection (or reconsideration) and append its event, suspending measures if asked."""
    oid = conn.execute(
        insert(objections)
        .values(
            record_id=record_id,
            stage=stage,
            parent_id=parent_id,
            authority=authority,
            filed_by=filed_by,
            counsel=counsel,
            grounds=grounds,
            filed_at=now,
            due_at=due,
            suspends=suspends,
            status="pending",
        )
        .returning(objections.c.id)
    ).scalar_one()
    event = "objected" if stage == "objection" else "reconsideration_requested"
    change = _suspend(now) if suspends else _no_change
    apply_event(conn, record_id, event, change, filed_by, now, f"objection {oid}")
    return get_objection(conn, int(oid))


def file_objection(
    conn: Connection,
    catalogue: Catalogue,
    record_id: int,
    grounds: str,
    filed_by: str,
    now: dt.datetime,
    counsel: str | None = None,
) -> dict[str, Any]:
    """File an objection to ``record_id``; appends an ``objected`` event (suspending measures if the category
    says so). Raises NotFound, Conflict (record ended, or an objection already pending) or ProcessInvalid."""
    text = required_text("grounds", grounds)
    counsel = required_text("counsel", counsel, 300) if counsel is not None else None
    write_lock(conn)  # the pending check and the insert must not race another filing
    state = _open_state(conn, record_id, now)
    pending = _pending_on(conn, record_id)
    if pending is not None:
        raise Conflict(f"record {record_id} already has objection {pending} pending")
    rule = catalogue.categories[state.category].objection
    due = (
        deadline(now, rule.decision_days, False)
        if rule.decision_days
        else deadline(now, rule.days, rule.working_days)
    )
    return _open_objection(
        conn, record_id, "objection", None, state.authority, filed_by, counsel, text, now, due, rule.suspends
    )


def _correction(value: dict[str, Any], state: RecordState) -> dict[str, Any]:
    if not isinstance(value, dict) or not value:
        raise ProcessInvalid(
            "correction", value, f"an object of fields to correct, among: {', '.join(CORRECTABLE)}"
        )
    out: dict[str, Any] = {}
    for field, v in value.items():
        if field not in CORRECTABLE:
            raise ProcessInvalid(
                f"correction.{field}", v, f"not correctable (correctable: {', '.join(CORRECTABLE)})"
            )
        if field == "effective_until":
            try:
                day = dt.date.fromisoformat(str(v))
            except ValueError:
                raise ProcessInvalid("correction.effective_until", v, "not a date YYYY-MM-DD") from None
            if not DATE_RANGE[0] <= day <= DATE_RANGE[1]:  # 9999-12-31 overflowed day_end: a 500
                raise ProcessInvalid(
                    "correction.effective_until",
                    v,
                    f"out of range: expected {DATE_RANGE[0]} to {DATE_RANGE[1]}",
                )
            until = day_end(day)
            if until <= state.effective_from:
                raise ProcessInvalid("correction.effective_until", v, "not after the record's effective_from")
            out[field] = until
        else:
            out[field] = required_text(f"correction.{field}", v if isinstance(v, str) else None, 2000)
    return out


def decide_objection(
    conn: Connection,
    objection_id: int,
    outcome: Outcome,
    reason: str,
    decided_by: str,
    now: dt.datetime,
    *,
    authority: str | None = None,
    revoke: bool = False,
    correction: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Decide a pending objection (or reconsideration). ``authority``: the deciding key's authority (None:
    an operator at the command line). Upheld needs ``revoke`` or a ``correction``; both need reasons."""
    if outcome not in ("upheld", "rejected"):
        raise ProcessInvalid("outcome", outcome, "must be upheld or rejected")
    text = required_text("reason", reason)
    write_lock(conn)
    obj = get_objection(conn, objection_id)
    if authority is not None and authority != obj["authority"]:
        raise NotAllowed(
            f"objection {objection_id} is decided by authority {obj['authority']}, not {authority}"
        )
    if obj["status"] != "pending":
        raise Conflict(f"objection {objection_id} is already {obj['status']}")
    record_id = int(obj["record_id"])
    state = load_state(conn, record_id)
    fields: dict[str, Any] | None = None
    if outcome == "upheld":
        if revoke == (correction is not None):
            raise ProcessInvalid("remedy", None, "an upheld objection either revokes or corrects the record")
        if correction is not None:
            fields = _correction(correction, state)
    elif revoke or correction is not None:
        raise ProcessInvalid(
            "remedy", "revoke" if revoke else correction, "only an upheld objection has a remedy"
        )
    event = "reconsidered" if obj["stage"] == "reconsideration" else "objection_decided"
    change = _resume(now) if obj["suspends"] else _no_change
    note = f"objection {objection_id} {outcome}: {text}"
    apply_event(conn, record_id, event, change, decided_by, now, note)
    remedy = None
    if outcome == "upheld" and state.status == "filed":
        if revoke:
            remedy = "revoked"
            apply_event(
                conn,
                record_id,
                "revoked",
                lambda s: s.with_(status="revoked", ended_at=now),
                decided_by,
                now,
                note,
            )
        elif fields is not None:
            remedy = "corrected"
            apply_event(conn, record_id, "corrected", lambda s: s.with_(**fields), decided_by, now, note)
    stored = {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in (fields or {}).items()}
    conn.execute(
        update(objections)
        .where(objections.c.id == objection_id)
        .values(
            status=outcome,
            remedy=remedy,
            correction=json.dumps(stored, ensure_ascii=False) if fields else None,
            decided_at=now,
            decided_by=decided_by,
            decision_reason=text,
        )
    )
    return get_objection(conn, objection_id)


def request_reconsideration(
    conn: Connection,
    catalogue: Catalogue,
    objection_id: int,
    grounds: str,
    filed_by: str,
    now: dt.datetime,
    counsel: str | None = None,
) -> dict[str, Any]:
    """Ask the parent authority to reconsider a rejected objection, where the category provides it."""
    text = required_text("grounds", grounds)
    counsel = required_text("counsel", counsel, 300) if counsel is not None else None
    write_lock(conn)
    obj = get_objection(conn, objection_id)
    record_id = int(obj["record_id"])
    state = _open_state(conn, record_id, now)
    rule = catalogue.categories[state.category].objection
    if obj["stage"] != "objection" or obj["status"] != "rejected":
        raise Conflict(
            f"objection {objection_id} is a {obj['stage']} {obj['status']}: "
            "only a rejected objection is reconsidered"
        )
    if not rule.reconsideration:
        raise Conflict(f"category {state.category} provides no reconsideration")
    # The next-higher authority where the catalogue names one (courts); otherwise the authority itself, as a
    # State Council department reconsiders its own acts (docs/decisions/0101).
    known = catalogue.authorities.get(obj["authority"])
    parent = (known.parent if known is not None else None) or obj["authority"]
    decided = dt.datetime.fromisoformat(obj["decided_at"])
    window = deadline(decided, rule.reconsideration_days, False)
    if now >= window:
        raise ProcessInvalid(
            "objection_id", objection_id, f"the reconsideration window closed at {window.isoformat()}"
        )
    done = conn.execute(
        select(objections.c.id).where(objections.c.parent_id == objection_id).limit(1)
    ).scalar_one_or_none()
    if done is not None:
        raise Conflict(f"objection {objection_id} was already taken to reconsideration ({done})")
    pending = _pending_on(conn, record_id)
    if pending is not None:
        raise Conflict(f"record {record_id} already has objection {pending} pending")
    due = deadline(now, rule.decision_days or 15, False)
    return _open_objection(
        conn,
        record_id,
        "reconsideration",
        objection_id,
        parent,
        filed_by,
        counsel,
        text,
        now,
        due,
        rule.suspends,
    )


def list_objections(
    conn: Connection,
    *,
    record_id: int | None = None,
    status: str | None = None,
    authority: str | None = None,
    subject: str | None = None,
    now: dt.datetime | None = None,
    overdue: bool = False,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Objections, oldest first, each flagged ``overdue`` (pending past ``due_at`` at ``now``); with
    ``overdue`` only those."""
    q = select(objections)
    if record_id is not None:
        q = q.where(objections.c.record_id == record_id)
    if status is not None:
        q = q.where(objections.c.status == status)
    if authority is not None:
        q = q.where(objections.c.authority == authority)
    if subject is not None:
        ids = select(records.c.id).where(
            or_(
                records.c.subject_id == subject,
                records.c.legal_representative_id == subject,
                records.c.actual_controller_id == subject,
            )
        )
        q = q.where(objections.c.record_id.in_(ids))
    if overdue:
        if now is None:
            raise ProcessInvalid("now", None, "needed to tell which objections are overdue")
        q = q.where(objections.c.status == "pending", objections.c.due_at < now)
    rows = conn.execute(q.order_by(objections.c.id).limit(limit)).all()
    out = []
    for row in rows:
        d = as_dict(row)
        d["correction"] = json.loads(row.correction) if row.correction else None
        d["overdue"] = bool(row.status == "pending" and now is not None and row.due_at < now)
        out.append(d)
    return out
