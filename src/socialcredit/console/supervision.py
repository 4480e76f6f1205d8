"""Console pages of random-inspection plans (双随机、一公开): a registrar sees its own authority's plans only.

``/console/supervision`` lists the plans of the registrar's authority; ``/console/supervision/{id}`` shows one
plan's firms, classes and inspectors (audited as ``console.supervision``: it names the inspectors). Another
authority's plan answers as one that does not exist (404), so plan numbers are no oracle.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from ..audit import AuditEntry
from ..supervision.store import StoredPlan, count_plans, get_plan, list_plans
from .routes import page, router
from .session import app_state, audit_now, current, identity, render

__all__: list[str] = []

MAX_ID = 10**15


@router.get("/supervision", response_class=HTMLResponse)
@page
async def plans(request: Request) -> Response:
    """The plans of the registrar's authority, newest first."""
    session = await current(request, "registrar")
    state = app_state(request)
    authority = session.user.authority or ""

    def load() -> tuple[list[StoredPlan], int]:
        with state.db.engine.connect() as conn:
            return list_plans(conn, authority), count_plans(conn, authority)

    found, total = await run_in_threadpool(load)
    policy = state.catalogue.supervision.get(authority)
    ctx = {"plans": found, "total": total, "policy": policy, "page_title": "双随机抽查 Inspection plans"}
    return render(request, "console/supervision.html", ctx, session=session)


@router.get("/supervision/{plan_id}", response_class=HTMLResponse)
@page
async def plan(request: Request, plan_id: str) -> Response:
    """One plan's rows, if it is the registrar's authority's."""
    session = await current(request, "registrar")
    state = app_state(request)
    key = identity(session)
    authority = session.user.authority or ""
    pid = int(plan_id) if plan_id.isascii() and plan_id.isdigit() and len(plan_id) <= 15 else None

    def load() -> StoredPlan | None:
        if pid is None or pid > MAX_ID:
            return None
        with state.db.engine.connect() as conn:
            return get_plan(conn, pid, authority)

    found = await run_in_threadpool(load)
    target = f"plan:{plan_id[:40]}"
    if found is None:
        await audit_now(
            request, [AuditEntry(key.id, key.role, "console.supervision", target, "refused: 404")]
        )
        refused = {
            "reason": f"no plan {plan_id[:40]!r} of {authority}",
            "page_title": "双随机抽查 Inspection plans",
        }
        return render(request, "console/refused.html", refused, 404, session=session)
    rows = found.rows or []
    await audit_now(
        request, [AuditEntry(key.id, key.role, "console.supervision", target, f"ok: {len(rows)} rows")]
    )
    ctx: dict[str, Any] = {"plan": found, "rows": rows, "page_title": f"抽查计划 Plan {found.id}"}
    return render(request, "console/supervision_plan.html", ctx, session=session)
