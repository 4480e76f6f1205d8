"""The feed over HTTP: the pull feed, webhook subscriptions and their deliveries, watchlists and monitors.

The feed carries subject identifiers, so it is read by **checkpoint** keys (check nodes, banks, platforms
following the registry), which state their purpose in ``X-Purpose`` like any read of personal data, each in
the form of its action scope; by **registrars**, who get the grade changes only (``grade.changed``, decision
1011: a grade is theirs to read, decision 1002, and the record events of other authorities are not); and by
auditors, in a form without subjects. Subscriptions and watchlists
belong to the key that created them; another key sees none of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ...audit import AuditEntry
from ...feed import (
    FeedInvalid,
    create_subscription,
    create_watchlist,
    get_subscription,
    get_watchlist,
    list_deliveries,
    list_subscriptions,
    members_among,
    parse_cursor,
    parse_members,
    read_after,
    redeliver,
    run_monitor,
    upload_members,
)
from ...feed.grades import GRADE_CHANGED, RegistrarView
from ...feed.reader import FeedEvent
from ...feed.scope import scope_for
from ...keys import ApiKey
from ..deps import StateDep, XPurpose, purpose_for, require, utcnow
from ..errors import ApiError, Invalid, field_error, responses
from ..inputs import PlainText, bounded
from ..state import AppState
from .process import translate

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["feed"])

FeedKey = Annotated[ApiKey, Depends(require("checkpoint", "auditor", "registrar"))]
OwnerKey = Annotated[ApiKey, Depends(require("checkpoint"))]
# Subscriptions and watchlists: a registrar's deliver grade changes only (decision 1011).
SubKey = Annotated[ApiKey, Depends(require("checkpoint", "registrar"))]
SubId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^sub_[0-9a-f]+$")]
WatchId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^wl_[0-9a-f]+$")]


async def _run(
    state: AppState, key: ApiKey, action: str, target: str, job: Any, purpose: str | None = None
) -> Any:
    try:
        out = await run_in_threadpool(job)
    except Exception as exc:
        err = translate(exc)
        status = err.status if isinstance(err, ApiError) else 500
        await state.audit.record(AuditEntry(key.id, key.role, action, target, f"refused: {status}", purpose))
        if err is exc:
            raise
        raise err from None
    return out


def _audit_form(e: FeedEvent) -> dict[str, Any]:
    """An auditor's form of an event: which record changed how and when, and no subject (an auditor checks that
    changes travel, and reads no personal data: decision 0310)."""
    return {
        "cursor": str(e.seq),
        "event_id": e.id,
        "record_id": e.record_id,
        "type": e.type,
        "category": e.about[0],
        "recorded_at": e.recorded_at.isoformat(),
    }


def _grade_only(e: FeedEvent) -> bool:
    return e.type == GRADE_CHANGED


@router.get("/feed", responses=responses(401, 403, 404, 422))
async def feed(
    key: FeedKey,
    state: StateDep,
    x_purpose: XPurpose = None,
    after: Annotated[
        str | None, Query(description="The cursor from the previous page (default: the start).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    watchlist: Annotated[
        str | None,
        Query(max_length=32, pattern=r"^wl_[0-9a-f]+$", description="Only events about its members."),
    ] = None,
) -> Any:
    """Lifecycle events after ``after``, in commit order; resume with ``next_cursor``."""
    purpose = purpose_for(key, x_purpose)
    try:
        start = parse_cursor(after)
    except FeedInvalid as exc:
        raise Invalid(str(exc), [field_error(["query", "after"], after, exc.reason)]) from None
    bounded(start, ["query", "after"])  # a cursor past 64 bits overflows the store's integer

    # A checkpoint reads only events reaching its actions, in its own form (decision 0310).
    scope = scope_for(state.checker.rules, key.actions) if key.role == "checkpoint" else None
    # A registrar reads the grade changes only, as a grade is read (decision 1002, 1011).
    view = RegistrarView(key.authority) if key.role == "registrar" else None

    def job() -> dict[str, Any]:
        with state.db.engine.connect() as conn:
            keep: Callable[[FeedEvent], bool] | None = None if scope is None else scope.reaches
            if view is not None:
                keep = _grade_only
            if watchlist is not None:
                get_watchlist(conn, watchlist, key.id)

                def keep(e: FeedEvent) -> bool:
                    if view is not None:
                        return e.type == GRADE_CHANGED and bool(members_among(conn, watchlist, e.subject_ids))
                    if scope is None:
                        return bool(members_among(conn, watchlist, e.subject_ids))
                    # Only the record's subject: matching a linked person would name whom it represents.
                    return scope.reaches(e) and bool(members_among(conn, watchlist, [e.about[1]]))

            page = read_after(conn, start, limit, keep)
        if view is not None:
            events = [view.form(e.payload) | {"cursor": str(e.seq)} for e in page.events]
        else:
            events = [_audit_form(e) if scope is None else scope.event(e) for e in page.events]
        return {
            "events": events,
            "next_cursor": str(page.next_cursor),
            "head": str(page.head),
        }

    out = await _run(state, key, "feed.read", f"after:{start}", job, purpose)
    await state.audit.record(
        AuditEntry(key.id, key.role, "feed.read", f"after:{start}", f"{len(out['events'])} events", purpose)
    )
    return out


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: PlainText = Field(min_length=1, max_length=2000, examples=["https://bank.example/hooks/credit"])
    watchlist_id: PlainText | None = Field(
        default=None, max_length=32, description="Only events about its members."
    )
    types: list[PlainText] = Field(
        default_factory=list, max_length=20, description="Event types; empty: all."
    )
    from_start: bool = Field(default=False, description="Deliver the whole outbox, not only what comes next.")


@router.post("/subscriptions", status_code=201, responses=responses(401, 403, 404, 422))
async def subscribe(body: SubscriptionIn, key: SubKey, state: StateDep) -> Any:
    """A webhook subscription; the answer carries its signing ``secret``, shown only this once. It delivers
    what a feed read by this key returns (decision 0310), so no event-type filter for a checkpoint: filtering
    on ``objected`` would tell who objects. A registrar's delivers grade changes only (``types`` may name
    ``grade.changed`` and nothing else)."""
    if key.role == "registrar" and set(body.types) - {GRADE_CHANGED}:
        raise Invalid(
            "types: a registrar's subscription delivers grade changes only",
            [field_error(["body", "types"], body.types[:5], f"only {GRADE_CHANGED} (decision 1011)")],
        )
    if key.role == "checkpoint" and body.types:
        raise Invalid(
            "types: a checkpoint's events carry no type",
            [
                field_error(
                    ["body", "types"], body.types[:5], "a checkpoint receives every change of its actions"
                )
            ],
        )
    now = utcnow()

    def job() -> dict[str, Any]:
        with state.db.engine.begin() as conn:
            return create_subscription(
                conn,
                key.id,
                body.url,
                now,
                watchlist_id=body.watchlist_id,
                types=body.types,
                from_start=body.from_start,
            )

    return await _run(state, key, "subscriptions.create", body.url[:200], job)


@router.get("/subscriptions", responses=responses(401, 403))
async def subscriptions(key: SubKey, state: StateDep) -> Any:
    def job() -> list[dict[str, Any]]:
        with state.db.engine.connect() as conn:
            return list_subscriptions(conn, key.id)

    return {"subscriptions": await run_in_threadpool(job)}


@router.get("/subscriptions/{sub_id}", responses=responses(401, 403, 404))
async def subscription(sub_id: SubId, key: SubKey, state: StateDep) -> Any:
    """The subscription and how many of its deliveries are pending, delivered and dead."""

    def job() -> dict[str, Any]:
        with state.db.engine.connect() as conn:
            return get_subscription(conn, sub_id, key.id)

    return await _run(state, key, "subscriptions.view", sub_id, job)


@router.get("/subscriptions/{sub_id}/deliveries", responses=responses(401, 403, 404, 422))
async def deliveries(
    sub_id: SubId,
    key: SubKey,
    state: StateDep,
    status: Annotated[Literal["pending", "delivered", "dead"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """Recent deliveries, newest first: status, attempts, next attempt, last error."""

    def job() -> list[dict[str, Any]]:
        with state.db.engine.connect() as conn:
            return list_deliveries(conn, sub_id, key.id, status, limit)

    return {"deliveries": await _run(state, key, "subscriptions.deliveries", sub_id, job)}


@router.post("/subscriptions/{sub_id}/redeliver", responses=responses(401, 403, 404))
async def redeliver_dead(sub_id: SubId, key: SubKey, state: StateDep) -> Any:
    """Queue the dead-lettered deliveries again."""
    now = utcnow()

    def job() -> int:
        with state.db.engine.begin() as conn:
            return redeliver(conn, sub_id, key.id, now)

    return {"requeued": await _run(state, key, "subscriptions.redeliver", sub_id, job)}


class WatchlistIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: PlainText = Field(min_length=1, max_length=200)


class MembersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject_ids: list[str] = Field(max_length=100_000, description="Replaces the members; all or nothing.")


@router.post("/watchlists", status_code=201, responses=responses(401, 403, 422))
async def new_watchlist(body: WatchlistIn, key: SubKey, state: StateDep) -> Any:
    now = utcnow()

    def job() -> dict[str, Any]:
        with state.db.engine.begin() as conn:
            return create_watchlist(conn, key.id, body.name, now)

    return await _run(state, key, "watchlists.create", body.name, job)


@router.put("/watchlists/{wl_id}/members", responses=responses(401, 403, 404, 422))
async def put_members(wl_id: WatchId, body: MembersIn, key: SubKey, state: StateDep) -> Any:
    """Replace the watchlist's members; every invalid identifier is reported and nothing is changed."""
    allow = state.settings.allowlisted_codes()

    def job() -> dict[str, Any]:
        ids = parse_members(body.subject_ids, allow)
        with state.db.engine.begin() as conn:
            upload_members(conn, wl_id, key.id, ids)
            return get_watchlist(conn, wl_id, key.id)

    return await _run(state, key, "watchlists.upload", wl_id, job)


@router.get("/watchlists/{wl_id}", responses=responses(401, 403, 404))
async def watchlist(wl_id: WatchId, key: SubKey, state: StateDep) -> Any:
    def job() -> dict[str, Any]:
        with state.db.engine.connect() as conn:
            return get_watchlist(conn, wl_id, key.id)

    return await _run(state, key, "watchlists.view", wl_id, job)


@router.post("/watchlists/{wl_id}/monitor", responses=responses(401, 403, 404, 422))
async def monitor(wl_id: WatchId, key: OwnerKey, state: StateDep, x_purpose: XPurpose = None) -> Any:
    """Re-screen the watchlist now: its hits, and the hits new and lifted since the previous run."""
    purpose = purpose_for(key, x_purpose)
    now: dt.datetime = utcnow()

    scope = scope_for(state.checker.rules, key.actions)

    def job() -> dict[str, Any]:
        # A checkpoint learns which of its actions each member's answer is reached for, never record ids.
        return run_monitor(state.db.engine, wl_id, key.id, now, with_before=True).as_checkpoint_json(scope)

    out = await _run(state, key, "watchlists.monitor", wl_id, job, purpose)
    await state.audit.record(
        AuditEntry(key.id, key.role, "watchlists.monitor", wl_id, f"{len(out['hits'])} hits", purpose)
    )
    return out
