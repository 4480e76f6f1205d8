"""The registrar decides objections and repair requests from the queue, through the API's endpoint functions
(``decide_objection`` and ``decide_repair`` of :mod:`socialcredit.api.routers.process`, decision 0607): the same
checks, transaction and audit entries (``objections.decide``, ``repair.decide``) under ``user:<name>``."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from ..api.errors import ApiError, Invalid
from ..api.inputs import MAX_ID
from ..api.routers import process as api_process
from ..audit import AuditEntry
from .records import _errors_of
from .routes import page, router
from .session import app_state, audit_now, checked_form, current, identity
from .views import queue_page

__all__: list[str] = []


def _number(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and len(raw) <= 19 and 1 <= int(raw) <= MAX_ID else None


async def _decide(request: Request, kind: str) -> Response:
    session = await current(request, "registrar")
    form = await checked_form(request, session)
    key = identity(session)
    state = app_state(request)
    id_field = "objection_id" if kind == "objection" else "request_id"
    raw = form.get(id_field, "")
    number = _number(raw)
    errors: dict[str, str] = {}
    if number is None:
        errors = {id_field: f"{raw[:40]!r}: not a number from 1 to {MAX_ID}"}
        return await queue_page(request, session, 422, decide_errors=errors, decide_form=form, kind=kind)
    try:
        if kind == "objection":
            body: Any = api_process.DecisionIn(
                outcome=form.get("outcome", ""),
                reason=form.get("reason", ""),
                revoke=form.get("revoke") == "on",
            )
            await api_process.decide_objection(number, body, key, state)
        else:
            body = api_process.RepairDecisionIn(
                approve=form.get("approve") == "yes", reason=form.get("reason", "")
            )
            await api_process.decide_repair(number, body, key, state)
    except (ValidationError, ApiError) as exc:
        if isinstance(exc, ValidationError):  # the endpoint never saw it: audit the refusal as it would
            action = "objections.decide" if kind == "objection" else "repair.decide"
            await audit_now(
                request, [AuditEntry(key.id, key.role, action, f"{kind}:{number}", "refused: 422")]
            )
        detail, errors = _errors_of(exc)
        if isinstance(exc, ApiError) and not errors:
            errors = {id_field: detail}
        status = exc.status if isinstance(exc, ApiError) else Invalid.status
        return await queue_page(request, session, status, decide_errors=errors, decide_form=form, kind=kind)
    return await queue_page(request, session, 200, decided=(kind, number))


@router.post("/objections/decide", response_class=HTMLResponse)
@page
async def decide_objection(request: Request) -> Response:
    """Uphold (revoking the record) or reject a pending objection of this authority, with reasons."""
    return await _decide(request, "objection")


@router.post("/repair-requests/decide", response_class=HTMLResponse)
@page
async def decide_repair(request: Request) -> Response:
    """Approve or reject a pending repair request about this authority's record, with reasons."""
    return await _decide(request, "repair")
