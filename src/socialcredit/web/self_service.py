"""Subject self-service on the portal: sign in with a subject key, the whole own file with its objections and
repair requests (status, deadlines, overdue marks, evidence with its digest), objection and repair forms with an
evidence upload, sign-out.

Signing in (``POST /portal/me`` with the key) opens a server-side session (decision 0615): an HttpOnly,
SameSite=Strict, Secure cookie holds a random id, the table its hash; the token itself is not kept. Pages then
act with the key's identity in memory through the API's own endpoint functions (as the console does, decision
0607), so a file view, an objection or a repair request runs the same checks, transaction and audit entry as the
API. Every POST after sign-in carries the session's CSRF token. An upload is read only up to its limit (413 by
``Content-Length`` before the body is read), typed by its magic bytes, and written with the objection or repair
request in one transaction: a refused step leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from .. import process
from ..api.errors import ApiError, NotFoundProblem
from ..api.inputs import MAX_ID
from ..api.routers import evidence as api_evidence
from ..api.routers import process as api_process
from ..api.routers import subjects as api_subjects
from ..api.schemas import SubjectOut
from ..audit import AuditEntry
from ..identifiers import kind_of
from ..keys import ApiKey, InvalidToken
from ..selfservice import (
    EvidenceInvalid,
    EvidenceUpload,
    SubjectSession,
    attach,
    check_upload,
    evidence_for,
    session_for,
    sign_in,
    sign_out,
)
from .labels import local_minute
from .multipart import TooLarge, Unreadable, declared_length, read_multipart
from .routes import FormError, _file_view, _read_form, _render, _state

__all__ = ["COOKIE", "FORM_OVERHEAD", "router"]

router = APIRouter(include_in_schema=False)
COOKIE = "sc_portal"
FORM_OVERHEAD = (
    64 * 1024
)  # bytes beside the file: the CSRF token, the record number, grounds up to 10,000 chars
LIVE = ("in_force", "notified", "suspended")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _cookie_args(request: Request) -> dict[str, Any]:
    # Secure always: browsers accept it on https and on http://localhost; the cookie is sent to /portal only.
    return {"httponly": True, "samesite": "strict", "secure": True, "path": "/portal"}


def _err(field: str, reason: str, value: Any = None) -> dict[str, Any]:
    return {"loc": ["form", field], "reason": reason, "value": value}


async def _session(request: Request) -> SubjectSession | None:
    state = _state(request)
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None

    def load() -> SubjectSession | None:
        with state.db.engine.connect() as conn:
            return session_for(conn, cookie, _utcnow())

    return await run_in_threadpool(load)


def _same_origin(request: Request) -> bool:
    """Login CSRF: a sign-in posted from another site is refused. ``Sec-Fetch-Site`` decides where the browser
    sends it; otherwise ``Origin``, unless it is ``null`` (the portal's ``Referrer-Policy: no-referrer`` makes
    browsers send ``null`` for its own forms)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    return origin.split("://", 1)[-1] == request.headers.get("host", "")


# -- the file --------------------------------------------------------------------------------------------------


def _iso_local(value: Any) -> str | None:
    return local_minute(value) if value else None


async def _file_context(request: Request, key: ApiKey) -> tuple[dict[str, Any], int]:
    """The subject's file as the API shows it to this key, with objections, repair requests and evidence."""
    state = _state(request)
    assert key.subject is not None
    try:
        raw = await api_subjects.get_subject(key.subject, key, state, None)
        body = SubjectOut.model_validate(raw).model_dump(mode="json")
        file = _file_view(request, body)
    except NotFoundProblem:  # the registry has never heard of this subject: an empty file, not an error
        file = {"id": key.subject, "kind": kind_of(key.subject), "name": "", "region": None, "records": []}
    except ApiError as exc:
        return {"file": None, "error": exc.detail, "field_errors": [], "error_status": exc.status}, exc.status
    objections = (await api_process.list_objections(key, state, None, False, None))["objections"]
    repairs = (await api_process.list_repairs(key, state, None))["repair_requests"]

    def files() -> list[dict[str, Any]]:
        with state.db.engine.connect() as conn:  # only of the steps the API just listed to this key
            return evidence_for(
                conn,
                objection_ids=[int(o["id"]) for o in objections],
                repair_ids=[int(r["id"]) for r in repairs],
            )

    attached = await run_in_threadpool(files)
    for kind, items in (("objection", objections), ("repair", repairs)):
        for item in items:
            item["kind"] = kind
            item["evidence"] = [e for e in attached if e[f"{kind}_id"] == item["id"]]
            for name in ("filed_at", "due_at", "decided_at"):
                item[f"{name}_local"] = _iso_local(item.get(name))
    today = _utcnow()
    for r in file["records"]:
        steps = [o for o in objections if o["record_id"] == r["id"]] + [
            q for q in repairs if q["record_id"] == r["id"]
        ]
        r["steps"] = sorted(steps, key=lambda s: str(s["filed_at"]), reverse=True)
        live = r.get("display_status") in LIVE and r.get("status") == "filed"
        pending = {s["kind"] for s in steps if s["status"] == "pending"}
        r["can_object"] = live and "objection" not in pending
        repair_from = getattr(r.get("rights"), "repair_from", None)
        r["can_repair"] = (
            live and "repair" not in pending and repair_from is not None and repair_from <= today.date()
        )
    pending_steps = [s for s in objections + repairs if s["status"] == "pending"]
    return {
        "file": file,
        "pending": sorted(pending_steps, key=lambda s: str(s["due_at"])),
        "overdue": sum(1 for s in pending_steps if s.get("overdue")),
        "error": None,
        "field_errors": [],
    }, 200


async def _file_page(
    request: Request,
    session: SubjectSession,
    status: int = 200,
    form_errors: dict[str, Any] | None = None,
    done: str | None = None,
) -> HTMLResponse:
    ctx, file_status = await _file_context(request, session.key)
    form_errors = dict(form_errors or {})
    shown = {str(r["id"]): r for r in (ctx["file"] or {}).get("records", [])}
    for rid, fe in list(form_errors.items()):
        if rid == "page":
            continue
        r = shown.get(rid)
        if r is None or not r.get("can_object" if fe["kind"] == "objection" else "can_repair"):
            # No form on the page to carry the error (not one's own record, or no longer open): say it on top.
            form_errors.pop(rid)
            form_errors["page"] = {"detail": fe["detail"], "errors": fe["errors"]}
    ctx.update(
        {
            "page_title": "本人档案 My file",
            "csrf": session.csrf,
            "signed_in": True,
            "form_errors": form_errors or {},
            "done": done,
            "form_status": status,
            "max_bytes": _state(request).settings.evidence_max_bytes,
        }
    )
    if form_errors and form_errors.get("page"):
        page_err = form_errors["page"]
        ctx.update(error=page_err["detail"], field_errors=page_err["errors"], error_status=status)
    return _render(request, "me.html", ctx, status if status != 200 else file_status, private=True)


def _sign_in_page(request: Request, status: int = 200, **extra: Any) -> HTMLResponse:
    ctx = {"file": None, "error": None, "field_errors": [], "page_title": "本人档案 My file", **extra}
    return _render(request, "me.html", ctx, status, private=True)


@router.get("/portal/me", response_class=HTMLResponse)
async def me(request: Request) -> HTMLResponse:
    """Signed in: the whole own file with its history and forms. Otherwise the sign-in form."""
    session = await _session(request)
    if session is None:
        return _sign_in_page(request)
    return await _file_page(request, session)


@router.post("/portal/me", response_class=HTMLResponse)
async def me_sign_in(request: Request) -> Response:
    """Sign in with a subject key: opens a session (cookie) and shows the file at once."""
    state = _state(request)
    try:
        token = (await _read_form(request)).get("token", "")
    except FormError as exc:
        return _sign_in_page(request, exc.status, error=exc.detail)
    if not token:
        return _sign_in_page(request, 422, error="token: required", field_errors=[_err("token", "required")])
    if not _same_origin(request):
        return _sign_in_page(request, 403, error="the sign-in form was sent from another site")
    try:
        key = await run_in_threadpool(state.key_for, token)
    except InvalidToken as exc:
        return _sign_in_page(request, 401, error=f"the key was not accepted: {exc.reason}")
    if key.role != "subject" or key.subject is None:
        detail = f"this page opens a subject's own file; {key.role} keys cannot (use a subject key)"
        return _sign_in_page(request, 403, error=detail)

    def open_session() -> tuple[str, SubjectSession]:
        now = _utcnow()
        with state.db.engine.begin() as conn:
            cookie = sign_in(conn, key, now, state.settings.portal_session_minutes)
            found = session_for(conn, cookie, now)
        assert found is not None
        return cookie, found

    cookie, session = await run_in_threadpool(open_session)
    resp = await _file_page(request, session)
    resp.set_cookie(
        COOKIE, cookie, max_age=state.settings.portal_session_minutes * 60, **_cookie_args(request)
    )
    return resp


async def _csrf_refused(request: Request, session: SubjectSession, form: dict[str, str]) -> str | None:
    """None if the form carries the session's CSRF token; else why not (the refusal is audited)."""
    if session.csrf_ok(form.get("csrf")):
        return None
    why = "missing" if not form.get("csrf") else "forged"
    key = session.key
    await _state(request).audit.record(
        AuditEntry(key.id, key.role, "portal.csrf", request.url.path, f"refused: 403 ({why} token)")
    )
    return why


@router.post("/portal/me/sign-out", response_class=HTMLResponse)
async def me_sign_out(request: Request) -> Response:
    """End the session in the store: the cookie, even copied, opens nothing afterwards."""
    session = await _session(request)
    if session is None:
        return _sign_in_page(request)
    try:
        form = await _read_form(request)
    except FormError:
        form = {}
    why = await _csrf_refused(request, session, form)
    if why is not None:
        errors = {"page": {"detail": f"csrf: the form's token is {why}", "errors": [_err("csrf", why)]}}
        return await _file_page(request, session, 403, errors)
    state = _state(request)

    def end() -> None:
        with state.db.engine.begin() as conn:
            sign_out(conn, session, _utcnow())

    await run_in_threadpool(end)
    resp = RedirectResponse("/portal/me", status_code=303)
    resp.delete_cookie(COOKIE, path="/portal", secure=True, httponly=True, samesite="strict")
    return resp


# -- objection and repair forms --------------------------------------------------------------------------------


def _record_number(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and len(raw) <= 19 and 1 <= int(raw) <= MAX_ID else None


def _validation_errors(exc: ValidationError, names: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for e in exc.errors():
        field = str(e["loc"][0]) if e["loc"] else "form"
        out.append(_err(names.get(field, field), str(e["msg"])))
    return out


async def _submit(request: Request, kind: str) -> Response:
    """One objection or repair request from the file page, with an optional evidence file."""
    session = await _session(request)
    if session is None:
        return _sign_in_page(
            request, 401, error="you are not signed in (or the session ended): sign in again"
        )
    state = _state(request)
    max_bytes = state.settings.evidence_max_bytes
    limit = max_bytes + FORM_OVERHEAD

    async def page_error(status: int, field: str, detail: str) -> HTMLResponse:
        errors = {"page": {"detail": f"{field}: {detail}", "errors": [_err(field, detail)]}}
        return await _file_page(request, session, status, errors)

    declared = declared_length(request)
    if declared is not None and declared > limit:  # refused before a byte of the body is read
        return await page_error(413, "file", f"the upload is larger than {max_bytes} bytes (the limit)")
    try:
        form = await read_multipart(request, limit)
    except TooLarge:
        return await page_error(413, "file", f"the upload is larger than {max_bytes} bytes (the limit)")
    except Unreadable as exc:
        return await page_error(exc.status, "form", exc.detail)
    why = await _csrf_refused(request, session, form.fields)
    if why is not None:
        return await page_error(
            403, "csrf", f"the form's CSRF token is {why}: reload the page and send it again"
        )
    raw_id = form.fields.get("record_id", "")
    record_id = _record_number(raw_id)
    if record_id is None:
        return await page_error(422, "record_id", f"{raw_id[:40]!r} is not a record number")
    values = dict(form.fields)
    values.pop("csrf", None)

    async def on_form(status: int, errors: list[dict[str, Any]], detail: str) -> HTMLResponse:
        return await _file_page(
            request,
            session,
            status,
            {str(record_id): {"kind": kind, "detail": detail, "errors": errors, "values": values}},
        )

    upload: EvidenceUpload | None = None
    filename, content = form.files.get("file", ("", b""))
    if filename or content:
        try:
            upload = check_upload("file", filename, content, max_bytes)
        except EvidenceInvalid as exc:
            status = 413 if "larger than" in exc.reason else 422
            return await on_form(status, [_err("file", exc.reason, filename)], f"file: {exc.reason}")
    key = session.key
    action = "objections.file" if kind == "objection" else "repair.request"
    try:
        if kind == "objection":
            body: Any = api_process.ObjectionIn(
                grounds=form.fields.get("grounds", ""), counsel=form.fields.get("counsel") or None
            )
        else:
            body = api_process.RepairIn(
                evidence=form.fields.get("evidence", ""), commitment=form.fields.get("commitment", "")
            )
    except ValidationError as exc:  # the step never ran: audit the refusal as the API would
        await state.audit.record(AuditEntry(key.id, key.role, action, f"record:{record_id}", "refused: 422"))
        errors = _validation_errors(exc, {})
        return await on_form(422, errors, "; ".join(f"{e['loc'][1]}: {e['reason']}" for e in errors))

    def step(conn: Connection, now: dt.datetime) -> dict[str, Any]:
        api_process._own_record(conn, key, record_id)
        actor = api_process._actor(key)
        if kind == "objection":
            made = process.file_objection(
                conn, state.catalogue, record_id, body.grounds, actor, now, counsel=body.counsel
            )
            link = {"objection_id": int(made["id"])}
        else:
            made = process.request_repair(
                conn, state.catalogue, record_id, body.evidence, body.commitment, actor, now
            )
            link = {"repair_id": int(made["id"])}
        if upload is not None:
            made["evidence"] = [attach(conn, upload, record_id, actor, now, **link)]
        return made

    try:
        made = await api_process._write(state, key, action, f"record:{record_id}", step)
    except ApiError as exc:
        errors = [
            _err(str((e.get("loc") or ["", "form"])[-1]), str(e.get("reason")), e.get("value"))
            for e in (exc.errors or [])
        ] or [_err("record_id", exc.detail, record_id)]
        return await on_form(exc.status, errors, exc.detail)
    return await _file_page(request, session, 200, done=f"{kind}:{made['id']}")


@router.post("/portal/me/objection", response_class=HTMLResponse)
async def me_objection(request: Request) -> Response:
    """Object to a record in one's own file (grounds, optional counsel, optional evidence file)."""
    return await _submit(request, "objection")


@router.post("/portal/me/repair", response_class=HTMLResponse)
async def me_repair(request: Request) -> Response:
    """Ask for credit repair of a record in one's own file (evidence, commitment, optional evidence file)."""
    return await _submit(request, "repair")


@router.get("/portal/me/evidence/{evidence_id}")
async def me_evidence(request: Request, evidence_id: str) -> Response:
    """One's own evidence file, through the API's endpoint function (audited as ``evidence.read``)."""
    session = await _session(request)
    if session is None:
        return _sign_in_page(
            request, 401, error="you are not signed in (or the session ended): sign in again"
        )
    number = _record_number(evidence_id)
    try:
        if number is None:
            raise NotFoundProblem(f"no evidence {evidence_id[:40]!r}")
        return await api_evidence.read_evidence(number, session.key, _state(request), None)
    except ApiError as exc:
        return await _file_page(request, session, exc.status, {"page": {"detail": exc.detail, "errors": []}})
