"""Console pages that read: the registrar's objection and repair queues, the catalogue browser, and the
auditor's audit viewer with chain verification.

The queues and the audit viewer call the API's own endpoint functions with the user's identity (decision
0607), so they see exactly what the API shows that role: a registrar its authority's objections and repair
requests, an auditor the log. Each page that shows personal data appends an audit entry under ``user:<name>``.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from ..api.errors import ApiError
from ..api.routers import audit as api_audit
from ..api.routers import process as api_process
from ..audit import AuditEntry
from ..catalogue import Catalogue
from ..web.labels import EFFECTS, authority_name
from .auth import Session
from .routes import page, router
from .session import app_state, audit_now, checked_form, current, identity, render, utcnow

__all__ = ["filter_measures", "queue_page"]

FILTERS = (
    ("memorandum", "备忘录", "Memorandum"),
    ("measure", "措施", "Measure"),
    ("department", "实施部门", "Department"),
    ("legal_basis", "法律依据", "Legal basis"),
)
MAX_FILTER = 100


@router.get("/queues", response_class=HTMLResponse)
@page
async def queues(request: Request) -> Response:
    """Pending objections (due date, overdue first) and repair requests of the registrar's authority."""
    session = await current(request, "registrar")
    return await queue_page(request, session)


async def queue_page(request: Request, session: Session, status: int = 200, **extra: Any) -> HTMLResponse:
    """The queues as the API lists them to this registrar, audited as a page showing personal data."""
    state = app_state(request)
    key = identity(session)
    objections = (
        await api_process.list_objections(key, state, status="pending", overdue=False, record_id=None)
    )["objections"]
    repairs = (await api_process.list_repairs(key, state, status="pending"))["repair_requests"]
    objections.sort(key=lambda o: (not o["overdue"], o["due_at"]))
    overdue = sum(1 for o in objections if o["overdue"])
    await audit_now(
        request,
        [
            AuditEntry(
                key.id,
                key.role,
                "console.queues",
                f"authority:{key.authority}",
                f"ok: {len(objections)} objections ({overdue} overdue), {len(repairs)} repair requests",
            )
        ],
    )
    ctx = {
        "objections": objections,
        "repairs": repairs,
        "overdue": overdue,
        "as_of": utcnow().isoformat(),
        "decide_errors": {},
        "decide_form": {},
        "kind": None,
        "decided": None,
        "page_title": "异议与修复 Queues",
        **extra,
    }
    return render(request, "console/queues.html", ctx, status, session=session)


def filter_measures(cat: Catalogue, filters: dict[str, str]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The measures matching every filter given, and an error per filter that names nothing in the catalogue.

    ``memorandum`` and ``department`` are codes (or a part of a name); ``measure`` and ``legal_basis`` match a
    part of the code, title or text, case-insensitively."""
    errors: dict[str, str] = {}
    for name, value in filters.items():
        if len(value) > MAX_FILTER:
            errors[name] = f"at most {MAX_FILTER} characters (got {len(value)})"
        elif any(ord(c) < 32 for c in value):
            errors[name] = f"{value[:40]!r}: control characters are not allowed"
    if errors:
        return [], errors
    memo, dept = filters.get("memorandum", "").lower(), filters.get("department", "").lower()
    measure, basis = filters.get("measure", "").lower(), filters.get("legal_basis", "").lower()
    if memo and not any(
        memo in f"{m.code} {m.title} {m.title_en or ''}".lower() for m in cat.memoranda.values()
    ):
        errors["memorandum"] = f"{filters['memorandum']!r}: no memorandum by that code or name"
    if dept and not any(dept in f"{code} {authority_name(cat, code)}".lower() for code in cat.authorities):
        errors["department"] = f"{filters['department']!r}: no department by that code or name"
    if errors:
        return [], errors
    out = []
    for m in sorted(cat.memoranda.values(), key=lambda m: (m.date, m.code)):
        if memo and memo not in f"{m.code} {m.title} {m.title_en or ''}".lower():
            continue
        for ms in m.measures:
            dept_text = (
                f"{ms.department} {authority_name(cat, ms.department)}".lower() if ms.department else ""
            )
            if dept and dept not in dept_text:
                continue
            if measure and measure not in f"{ms.code} {ms.title}".lower():
                continue
            if basis and basis not in ms.legal_basis.lower():
                continue
            out.append({"memorandum": m, "measure": ms, "department": authority_name(cat, ms.department)})
    return out, errors


@router.get("/catalogue", response_class=HTMLResponse)
@page
async def catalogue(request: Request) -> Response:
    """Every measure of every memorandum, filtered (public law: no audit entry)."""
    session = await current(request)
    cat = app_state(request).catalogue
    filters = {name: request.query_params.get(name, "").strip() for name, *_ in FILTERS}
    given = {k: v for k, v in filters.items() if v}
    rows, errors = filter_measures(cat, given)
    ctx = {
        "filters": filters,
        "filter_fields": FILTERS,
        "rows": rows,
        "errors": errors,
        "effects": EFFECTS,
        "memoranda": sorted(cat.memoranda.values(), key=lambda m: m.code),
        "departments": sorted(cat.authorities),
        "page_title": "措施目录 Catalogue",
    }
    return render(request, "console/catalogue.html", ctx, 422 if errors else 200, session=session)


def _audit_errors(err: ApiError) -> dict[str, str]:
    return {str(e["loc"][-1]): f"{e['value']!r}: {e['reason']}" for e in err.errors or []} or {
        "form": err.detail
    }


@router.get("/audit", response_class=HTMLResponse)
@page
async def audit_viewer(request: Request) -> Response:
    """The audit log for auditors, through ``GET /v1/audit``'s code (which audits the query itself)."""
    session = await current(request, "auditor")
    state = app_state(request)
    q = request.query_params
    form = {n: q.get(n, "").strip() for n in ("after", "actor", "action", "target", "since", "until")}
    ctx: dict[str, Any] = {"form": form, "errors": {}, "entries": [], "next_after": None, "verified": None}
    ctx["page_title"] = "审计日志 Audit log"
    after = form["after"] or "0"
    if not after.isdigit() or len(after) > 18:
        ctx["errors"] = {"after": f"{after[:40]!r}: not a sequence number"}
        return render(request, "console/audit.html", ctx, 422, session=session)
    try:
        page_ = await api_audit.audit_entries(
            identity(session),
            state,
            after=int(after),
            limit=100,
            **{k: (v or None) for k, v in form.items() if k != "after"},
        )
    except ApiError as exc:
        ctx["errors"] = _audit_errors(exc)
        return render(request, "console/audit.html", ctx, exc.status, session=session)
    ctx.update(entries=page_["entries"], next_after=page_["next_after"])
    return render(request, "console/audit.html", ctx, session=session)


@router.post("/audit/verify", response_class=HTMLResponse)
@page
async def audit_verify(request: Request) -> Response:
    """Walk the hash chain (``GET /v1/audit/verify``'s code) and show the result on the viewer."""
    session = await current(request, "auditor")
    await checked_form(request, session)
    state = app_state(request)
    result = await api_audit.audit_verify(identity(session), state)
    key = identity(session)
    outcome = "ok" if result["ok"] else f"broken at {result['first_bad_seq']}"
    await audit_now(request, [AuditEntry(key.id, key.role, "audit.verify", "audit_log", outcome)])
    ctx = {"form": {}, "errors": {}, "entries": [], "next_after": None, "verified": result}
    ctx["page_title"] = "审计日志 Audit log"
    return render(request, "console/audit.html", ctx, 200 if result["ok"] else 409, session=session)
