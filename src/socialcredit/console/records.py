"""The registrar's forms: file (or amend, by the same authority and external id) and revoke a record.

Decision 0607: the console does not call the API over HTTP with a token of its own (it would need a stored
bearer secret per user). It runs the records endpoint's own code (``_authorise_filing`` and ``_write`` of
:mod:`socialcredit.api.routers.records`, ``refuse`` for refusals) with an in-memory registrar identity whose id is
``user:<name>``: the same checks, the same transaction, the same audit entries, with the user as the actor. The
form is validated by the API's own body model, so a bad field is named as the API names it, inline.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from .. import audit
from ..api.errors import DOMAIN_ERRORS, ApiError, Invalid, NotFoundProblem, field_error
from ..api.inputs import MAX_ID
from ..api.routers import records as api_records
from ..api.schemas import RecordAmend, RecordCreate, RevokeBody
from ..api.views import record_visible
from ..audit import AuditEntry
from ..registry import NotFound, load_state, revoke
from .auth import Session
from .routes import page, router
from .session import app_state, checked_form, current, identity, render, utcnow

__all__ = ["AMENDABLE", "FIELDS"]

# The record form's fields, in the API's names, with their bilingual labels.
FIELDS: tuple[tuple[str, str, str, bool], ...] = (
    ("external_id", "本机关编号", "Your reference", True),
    ("category", "记录类别", "Category", True),
    ("subject_id", "主体标识（身份证号/统一社会信用代码）", "Subject identifier", True),
    ("subject_name", "主体名称", "Subject name", True),
    ("decision_no", "决定文书号", "Decision number", True),
    ("decided_on", "决定日期", "Decided on (YYYY-MM-DD)", True),
    ("effective_from", "生效日期", "Effective from", False),
    ("effective_until", "截止日期", "Effective until", False),
    ("legal_basis", "法律依据", "Legal basis", False),
    ("summary", "摘要", "Summary", False),
    ("legal_representative_id", "法定代表人标识", "Legal representative id", False),
    ("legal_representative_name", "法定代表人姓名", "Legal representative name", False),
)

# What an amendment may change (the key fields, authority, reference, subject and category, cannot).
AMENDABLE = tuple(f for f in FIELDS if f[0] in RecordAmend.model_fields)


def _errors_of(exc: Exception) -> tuple[str, dict[str, str]]:
    """A refusal as a message and the reason per form field (``body.<field>`` of the API's problem)."""
    if isinstance(exc, ValidationError):
        errs = [field_error(list(e["loc"]), e.get("input"), e["msg"]) for e in exc.errors()]
        err: ApiError = ApiError(f"{len(errs)} invalid field(s)", errs)
    elif isinstance(exc, ApiError):
        err = exc
    else:
        mapper = next((DOMAIN_ERRORS[c] for c in type(exc).__mro__ if c in DOMAIN_ERRORS), None)
        if mapper is None:
            raise exc
        err = mapper(exc)
    fields: dict[str, str] = {}
    for e in err.errors or []:
        loc = [str(p) for p in e["loc"] if p != "body"]
        name = "subject_id" if loc == ["subject"] else (loc[0] if loc else "form")
        fields.setdefault(
            name, f"{e['value']!r}: {e['reason']}" if e["value"] not in (None, "") else e["reason"]
        )
    return err.detail, fields


def _form_page(
    request: Request, session: Session, form: dict[str, str], status: int = 200, **extra: Any
) -> HTMLResponse:
    cat = app_state(request).catalogue
    authority = session.user.authority or ""
    categories = sorted(c for c in cat.categories if cat.can_file(authority, c))
    ctx = {
        "fields": FIELDS,
        "amendable": AMENDABLE,
        "form": form,
        "categories": categories,
        "errors": {},
        "error": None,
        "written": None,
        "page_title": "登记记录 File a record",
        **extra,
    }
    return render(request, "console/file.html", ctx, status, session=session)


@router.get("/records/new", response_class=HTMLResponse)
@page
async def file_form(request: Request) -> Response:
    session = await current(request, "registrar")
    return _form_page(request, session, {})


@router.post("/records", response_class=HTMLResponse)
@page
async def file_record(request: Request) -> Response:
    """File a record through the records endpoint's code; a refusal re-shows the form, each field's reason
    beside it, and nothing is stored."""
    session = await current(request, "registrar")
    form = await checked_form(request, session)
    key = identity(session)
    state = app_state(request)
    body = {name: form.get(name, "") for name, *_ in FIELDS}
    body = {k: v for k, v in body.items() if v != ""}
    body["authority"] = session.user.authority or ""
    target = f"external:{body['authority']}/{body.get('external_id', '')[:200]}"
    now = utcnow()
    try:
        model = RecordCreate(**body)
        api_records._authorise_filing(key, state, model.authority, model.category)
        st, outcome = await run_in_threadpool(
            api_records._write, state, key, model.model_dump(exclude_none=True), now, "records.file"
        )
    except Exception as exc:
        detail, errors = _errors_of(exc)
        refused = Invalid(detail) if isinstance(exc, ValidationError) else exc
        await api_records.refuse(state, key, "records.file", target, None, refused)
        return _form_page(request, session, form, 422, errors=errors, error=detail)
    await state.refresh_now()
    return _form_page(request, session, {}, 201 if outcome == "filed" else 200, written=(st.id, outcome))


def _record_id(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and len(raw) <= 19 and 1 <= int(raw) <= MAX_ID else None


@router.post("/records/revoke", response_class=HTMLResponse)
@page
async def revoke_record(request: Request) -> Response:
    """Revoke a record of this user's authority, as ``POST /v1/records/{id}/revoke`` does."""
    session = await current(request, "registrar")
    form = await checked_form(request, session)
    key = identity(session)
    state = app_state(request)
    raw = form.get("record_id", "")
    record_id = _record_id(raw)
    ctx = {"revoke_form": form, "revoke_errors": {}}
    if record_id is None:
        ctx["revoke_errors"] = {"record_id": f"{raw[:40]!r}: not a record number from 1 to {MAX_ID}"}
        return _form_page(request, session, {}, 422, **ctx)
    try:
        reason = RevokeBody(reason=form.get("reason", "")).reason
    except ValidationError as exc:
        ctx["revoke_errors"] = {"reason": exc.errors()[0]["msg"]}
        return _form_page(request, session, {}, 422, **ctx)
    now = utcnow()

    def work() -> int:
        with state.db.engine.begin() as conn:
            if not record_visible(key, load_state(conn, record_id)):
                raise NotFoundProblem(f"no record {record_id} filed by authority {key.authority!r}")
            st, _ = revoke(conn, record_id, reason, api_records.actor(key), now)
            target = f"record:{st.id} subject:{st.subject_id}"
            audit.append(conn, [AuditEntry(key.id, key.role, "records.revoke", target, "revoked")], now)
        return st.id

    try:
        revoked = await run_in_threadpool(work)
    except (NotFound, NotFoundProblem) as exc:
        await api_records.refuse(state, key, "records.revoke", f"record:{record_id}", None, exc)
        ctx["revoke_errors"] = {
            "record_id": f"{record_id}: no record of authority {key.authority} by that number"
        }
        return _form_page(request, session, {}, 404, **ctx)
    except Exception as exc:
        await api_records.refuse(state, key, "records.revoke", f"record:{record_id}", None, exc)
        ctx["revoke_errors"] = {"record_id": _errors_of(exc)[0]}  # e.g. already revoked
        return _form_page(request, session, {}, 409, **ctx)
    await state.refresh_now()
    return _form_page(request, session, {}, 200, revoked=revoked, **ctx)


@router.post("/records/amend", response_class=HTMLResponse)
@page
async def amend_record(request: Request) -> Response:
    """Change some fields of a record of this user's authority, as ``POST /v1/records/{id}/amend`` does."""
    session = await current(request, "registrar")
    form = await checked_form(request, session)
    key = identity(session)
    state = app_state(request)
    raw = form.get("record_id", "")
    record_id = _record_id(raw)
    ctx: dict[str, Any] = {"amend_form": form, "amend_errors": {}}
    if record_id is None:
        ctx["amend_errors"] = {"record_id": f"{raw[:40]!r}: not a record number from 1 to {MAX_ID}"}
        return _form_page(request, session, {}, 422, **ctx)
    changes = {name: form[name] for name, *_ in AMENDABLE if form.get(name)}
    now = utcnow()
    try:
        body = RecordAmend(**changes).model_dump(exclude_unset=True)
        st, outcome = await run_in_threadpool(
            api_records._write, state, key, body, now, "records.amend", record_id
        )
    except Exception as exc:
        detail, errors = _errors_of(exc)
        refused = Invalid(detail) if isinstance(exc, ValidationError) else exc
        await api_records.refuse(state, key, "records.amend", f"record:{record_id}", None, refused)
        if isinstance(exc, (NotFound, NotFoundProblem)):
            errors = {"record_id": f"{record_id}: no record of authority {key.authority} by that number"}
        ctx["amend_errors"] = errors or {"record_id": detail}
        status = 404 if isinstance(exc, (NotFound, NotFoundProblem)) else 422
        return _form_page(request, session, {}, status, **ctx)
    await state.refresh_now()
    return _form_page(request, session, {}, 200, amended=(st.id, outcome), **ctx)
