"""Credit repair (NDRC Order 36), fulfilment, and the publication rule.

A record's category grades it (minor, general, serious) with a publication period ``publication.min_days`` to
``max_days`` counted from the decision date (for flight and train bans, from when the measures begin:
:func:`.publication.publication_start`). A subject may ask for repair once the minimum has passed, with
evidence that the conduct was corrected and obligations performed, and a credit commitment. The filing
authority decides: approval ends publication and sharing and lifts the measures at once (status ``repaired``,
``ended_at`` now); rejection needs reasons. Publication ends by itself at the maximum (see
:func:`socialcredit.process.publication.is_published`). Fulfilment (a defaulter performing the
obligation) ends a listing of a category that ``ends_by_fulfilment`` at once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ..catalogue import Catalogue
from ..catalogue.model import Category
from ..registry import Conflict, NotFound, RecordState, apply_event, load_state
from ..registry.state import local_date
from ..registry.writer import write_lock
from ..store.tables import repair_requests
from ..workdays import deadline
from .common import as_dict, required_text
from .errors import NotAllowed, ProcessInvalid
from .publication import publication_start

__all__ = [
    "REPAIR_DECISION_WORKING_DAYS",
    "decide_repair",
    "fulfil",
    "get_repair",
    "list_repairs",
    "repair_due",
    "repair_eligible_from",
    "repair_from",
    "request_repair",
]


# The filing authority's time to decide a repair request: Credit China reviews online repair applications
# within 10 working days (issue 18); counted like objection deadlines, from the day after filing, ending at
# local midnight (socialcredit.workdays.deadline). Derived from ``filed_at``, not stored.
REPAIR_DECISION_WORKING_DAYS = 10


def repair_due(filed_at: dt.datetime) -> dt.datetime:
    """When the decision on a repair request filed at ``filed_at`` is due."""
    return deadline(filed_at, REPAIR_DECISION_WORKING_DAYS, True)


def _out(row: Any, now: dt.datetime | None = None) -> dict[str, Any]:
    """A repair request as JSON-ready values, with ``due_at`` and (given ``now``) ``overdue``."""
    d = as_dict(row)
    due = repair_due(row.filed_at)
    d["due_at"] = due.isoformat()
    d["overdue"] = bool(row.status == "pending" and now is not None and due < now)
    return d


def repair_from(
    category: Category, decided_on: dt.date, applies_from: dt.datetime, valid_until: dt.datetime | None
) -> dt.datetime | None:
    """When repair may first be asked for: the publication start plus the minimum period. None if the category
    has no publication periods (no repair path), or if that day is not before the record's end: the record
    ends by itself first, and a repair date after the end is never offered (the portal shows this too)."""
    if category.publication is None:
        return None
    start = publication_start(category, decided_on, applies_from) + dt.timedelta(
        days=category.publication.min_days
    )
    if valid_until is not None and start >= valid_until:
        return None
    return start


def repair_eligible_from(state: RecordState, catalogue: Catalogue) -> dt.datetime | None:
    """:func:`repair_from` of a stored record."""
    return repair_from(
        catalogue.categories[state.category], state.decided_on, state.applies_from, state.valid_until
    )


def get_repair(conn: Connection, request_id: int) -> dict[str, Any]:
    row = conn.execute(select(repair_requests).where(repair_requests.c.id == request_id)).first()
    if row is None:
        raise NotFound(f"no repair request {request_id}")
    return _out(row)


def _live(conn: Connection, record_id: int, now: dt.datetime) -> RecordState:
    state = load_state(conn, record_id)
    if state.status != "filed":
        raise Conflict(f"record {record_id} is {state.status}")
    until = state.valid_until
    if until is not None and until <= now:
        raise Conflict(f"record {record_id} ended on {until.isoformat()}")
    return state


def request_repair(
    conn: Connection,
    catalogue: Catalogue,
    record_id: int,
    evidence: str,
    commitment: str,
    filed_by: str,
    now: dt.datetime,
) -> dict[str, Any]:
    """Ask the filing authority to repair ``record_id``. Raises NotFound, Conflict (ended, no repair path, a
    request already pending) or ProcessInvalid (before the minimum period; evidence or commitment missing)."""
    ev = required_text("evidence", evidence)
    cm = required_text("commitment", commitment)
    write_lock(conn)
    state = _live(conn, record_id, now)
    start = repair_eligible_from(state, catalogue)
    if start is None:
        if catalogue.categories[state.category].publication is None:
            raise Conflict(f"category {state.category} has no repair path (no publication periods)")
        until = state.valid_until
        raise Conflict(
            f"record {record_id} ends by itself on {local_date(until).isoformat() if until else '?'}, "
            "before its minimum publication period would allow repair"
        )
    if now < start:
        cat = catalogue.categories[state.category]
        since = local_date(publication_start(cat, state.decided_on, state.applies_from)).isoformat()
        raise ProcessInvalid(
            "record_id",
            record_id,
            f"repair may be asked for from {local_date(start).isoformat()} (the minimum publication period "
            f"from {since})",
        )
    pending = conn.execute(
        select(repair_requests.c.id)
        .where(repair_requests.c.record_id == record_id, repair_requests.c.status == "pending")
        .limit(1)
    ).scalar_one_or_none()
    if pending is not None:
        raise Conflict(f"record {record_id} already has repair request {pending} pending")
    rid = conn.execute(
        insert(repair_requests)
        .values(
            record_id=record_id,
            filed_by=filed_by,
            evidence=ev,
            commitment=cm,
            filed_at=now,
            status="pending",
        )
        .returning(repair_requests.c.id)
    ).scalar_one()
    return get_repair(conn, int(rid))


def decide_repair(
    conn: Connection,
    request_id: int,
    approve: bool,
    reason: str,
    decided_by: str,
    now: dt.datetime,
    *,
    authority: str | None = None,
) -> dict[str, Any]:
    """Approve (the record is ``repaired`` now: measures, publication and sharing end) or reject; both need
    reasons."""
    text = required_text("reason", reason)
    write_lock(conn)
    req = get_repair(conn, request_id)
    if req["status"] != "pending":
        raise Conflict(f"repair request {request_id} is already {req['status']}")
    record_id = int(req["record_id"])
    state = load_state(conn, record_id)
    if authority is not None and authority != state.authority:
        raise NotAllowed(
            f"repair of record {record_id} is decided by authority {state.authority}, not {authority}"
        )
    if approve:
        _live(conn, record_id, now)
        note = f"repair request {request_id} approved: {text}"
        apply_event(
            conn,
            record_id,
            "repaired",
            lambda s: s.with_(status="repaired", ended_at=now),
            decided_by,
            now,
            note,
        )
    conn.execute(
        update(repair_requests)
        .where(repair_requests.c.id == request_id)
        .values(
            status="approved" if approve else "rejected",
            decided_at=now,
            decided_by=decided_by,
            decision_reason=text,
        )
    )
    return get_repair(conn, request_id)


def list_repairs(
    conn: Connection,
    *,
    record_id: int | None = None,
    status: str | None = None,
    record_ids: list[int] | None = None,
    limit: int = 1000,
    now: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Repair requests, oldest first, each with ``due_at`` and (given ``now``) ``overdue``."""
    q = select(repair_requests)
    if record_id is not None:
        q = q.where(repair_requests.c.record_id == record_id)
    if record_ids is not None:
        q = q.where(repair_requests.c.record_id.in_(record_ids))
    if status is not None:
        q = q.where(repair_requests.c.status == status)
    return [_out(r, now) for r in conn.execute(q.order_by(repair_requests.c.id).limit(limit))]


def fulfil(
    conn: Connection,
    catalogue: Catalogue,
    record_id: int,
    reason: str,
    actor: str,
    now: dt.datetime,
    *,
    authority: str | None = None,
) -> RecordState:
    """The obligation is performed: a record of a category that ends by fulfilment ends now."""
    text = required_text("reason", reason)
    write_lock(conn)
    state = _live(conn, record_id, now)
    if authority is not None and authority != state.authority:
        raise NotAllowed(f"record {record_id} belongs to authority {state.authority}, not {authority}")
    if not catalogue.categories[state.category].ends_by_fulfilment:
        raise Conflict(
            f"category {state.category} does not end by fulfilment (it ends by date, repair or revocation)"
        )
    new, _ = apply_event(
        conn, record_id, "fulfilled", lambda s: s.with_(status="fulfilled", ended_at=now), actor, now, text
    )
    return new
