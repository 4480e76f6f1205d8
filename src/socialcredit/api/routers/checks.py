"""Checks: may this subject do this action? Checkpoints get the decision only; registrars the whole Decision.

A check is a read of personal data, so it is audited; it is answered only once its audit entry is committed
(the entries of concurrent checks share one commit, see ``AuditWriter``). Checks run on the event loop: the
index is in memory, so a check costs microseconds and a thread hop would cost more than the check.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ...audit import AuditEntry
from ...engine import UnknownAction
from ...identifiers import IdentifierError, parse
from ...keys import ApiKey
from ...registry import parse_instant
from ..deps import CheckerKey, StateDep, XPurpose, purpose_for
from ..errors import ApiError, Forbidden, Invalid, Unavailable, field_error, responses
from ..schemas import MAX_BATCH, BatchAnswer, BatchCheck, CheckpointDecision, CheckQuery, FullDecision
from ..state import AppState
from ..views import checkpoint_decision, full_decision

__all__ = ["router"]

router = APIRouter(prefix="/v1/checks", tags=["checks"])


def _instant(value: str | None, field: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError:
        raise Invalid(
            f"{field}: not an ISO 8601 date or instant",
            [field_error(["body", field], value, "expected an ISO 8601 date or date-time")],
        ) from None


def _times(
    key: ApiKey, at: str | None, known_at: str | None
) -> tuple[dt.datetime | None, dt.datetime | None]:
    if known_at is not None and key.role != "registrar":
        raise Forbidden("known_at (what the registry knew then) is for registrar keys only")
    return _instant(at, "at"), _instant(known_at, "known_at")


async def _audited(state: AppState, entry: AuditEntry) -> int:
    try:
        return await state.audit.record(entry)
    except Exception as exc:  # no audit entry, no answer
        raise Unavailable("the audit log could not be written; the check was not answered") from exc


async def _refused(
    state: AppState, key: ApiKey, action: str, target: str, purpose: str | None, exc: ApiError
) -> None:
    await _audited(state, AuditEntry(key.id, key.role, action, target, f"refused: {exc.status}", purpose))


@router.post(
    "", response_model=FullDecision | CheckpointDecision, responses=responses(401, 403, 413, 422, 503)
)
async def check(body: CheckQuery, key: CheckerKey, state: StateDep, x_purpose: XPurpose = None) -> Any:
    """One check. A checkpoint may ask only about actions in its key's scope and receives a
    CheckpointDecision; a registrar receives the full Decision. Requires ``X-Purpose``."""
    purpose = purpose_for(key, x_purpose)
    try:
        as_of, known_at = _times(key, body.at, body.known_at)
        if (
            key.role == "checkpoint"
            and body.action in state.catalogue.actions
            and not key.covers(body.action)
        ):
            raise Forbidden(f"action {body.action!r} is outside this key's scope ({', '.join(key.actions)})")
        state.refresh()
        try:
            d = state.checker.check(body.subject, body.action, as_of=as_of, known_at=known_at)
        except IdentifierError as exc:
            raise Invalid(str(exc), [field_error(["body", "subject"], body.subject, exc.reason)]) from None
        except UnknownAction:
            raise Invalid(
                f"unknown action {body.action!r}",
                [field_error(["body", "action"], body.action, "not in the catalogue")],
            ) from None
    except ApiError as exc:
        await _refused(state, key, "checks.single", body.subject[:64], purpose, exc)
        raise
    outcome = "allowed" if d.allowed else "denied"
    ref = await _audited(state, AuditEntry(key.id, key.role, "checks.single", d.subject, outcome, purpose))
    state.metrics.checks.labels(outcome).inc()
    view = checkpoint_decision(d, body.subject, ref) if key.role == "checkpoint" else full_decision(d, ref)
    return JSONResponse(view)


def _locate_bad(state: AppState, body: BatchCheck) -> Invalid:
    """Which queries are bad (only run once the batch failed, so the fast path parses nothing twice)."""
    errs = []
    allow = state.settings.allowlisted_codes()
    for i, q in enumerate(body.queries):
        if q.action not in state.checker.rules.actions:
            errs.append(field_error(["body", "queries", i, "action"], q.action, "unknown action"))
        try:
            parse(q.subject, allow)
        except IdentifierError as exc:
            errs.append(field_error(["body", "queries", i, "subject"], q.subject, exc.reason))
        if len(errs) >= 100:
            break
    return Invalid(
        f"{len(errs)} invalid quer{'y' if len(errs) == 1 else 'ies'} (first {len(errs)} shown)", errs
    )


@router.post("/batch", response_model=BatchAnswer, responses=responses(401, 403, 413, 422, 503))
async def check_batch(body: BatchCheck, key: CheckerKey, state: StateDep, x_purpose: XPurpose = None) -> Any:
    """Up to 10,000 checks at one instant, answered in order; one audit entry names every subject checked.
    Any bad query fails the whole batch with a 422 naming each bad query's index."""
    purpose = purpose_for(key, x_purpose)
    n = len(body.queries)
    try:
        as_of, known_at = _times(key, body.at, body.known_at)
        if n > MAX_BATCH:  # pydantic already bounds it; kept as the rule's one statement
            raise Invalid(f"at most {MAX_BATCH} queries", [field_error(["body", "queries"], n, "too many")])
        if key.role == "checkpoint":
            acts = state.catalogue.actions
            out = [i for i, q in enumerate(body.queries) if q.action in acts and not key.covers(q.action)]
            if out:
                raise Forbidden(
                    f"{len(out)} queries ask about actions outside this key's scope, first at index "
                    f"{out[0]}: {body.queries[out[0]].action!r}"
                )
        state.refresh()
        try:
            decisions = state.checker.check_many(
                [(q.subject, q.action) for q in body.queries], as_of, known_at
            )
        except (IdentifierError, UnknownAction):
            raise _locate_bad(state, body) from None
    except ApiError as exc:
        await _refused(state, key, "checks.batch", f"{n} queries", purpose, exc)
        raise
    denied = sum(1 for d in decisions if not d.allowed)
    target = json.dumps(sorted({d.subject for d in decisions}), ensure_ascii=False, separators=(",", ":"))
    ref = await _audited(
        state, AuditEntry(key.id, key.role, "checks.batch", target, f"{n} checks, {denied} denied", purpose)
    )
    state.metrics.checks.labels("allowed").inc(n - denied)
    state.metrics.checks.labels("denied").inc(denied)
    views: list[dict[str, Any]]
    if key.role == "checkpoint":
        views = [
            checkpoint_decision(d, q.subject, None) for d, q in zip(decisions, body.queries, strict=True)
        ]
    else:
        views = [full_decision(d, None) for d in decisions]
    return JSONResponse({"count": n, "reference": ref, "decisions": views})
