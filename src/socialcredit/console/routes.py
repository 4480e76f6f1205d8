"""The officer console's pages under ``/console`` (HTML, not in the OpenAPI schema).

Sign-in and sign-out here; the registrar's forms in :mod:`.records`, the queues, catalogue and audit viewer in
:mod:`.views`. Every page needs a live session (else it answers with the sign-in form), every POST the session's
CSRF token, and each page its role. Nothing needs JavaScript; htmx is only loaded, as in the portal.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from .. import audit
from ..audit import AuditEntry
from . import auth
from .session import (
    COOKIE,
    PRE_COOKIE,
    FormError,
    NotSignedIn,
    Refused,
    app_state,
    checked_form,
    current,
    read_form,
    render,
    utcnow,
)

__all__ = ["page", "router"]

router = APIRouter(prefix="/console", include_in_schema=False)

Handler = Callable[..., Awaitable[Response]]


def page(fn: Handler) -> Handler:
    """Answer the console's own refusals as pages: the sign-in form (401), a refusal (403), a bad form."""

    @functools.wraps(fn)
    async def wrapper(request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            return await fn(request, *args, **kwargs)
        except NotSignedIn:
            return _login_page(request, None, 401)
        except Refused as exc:
            return render(request, "console/refused.html", {"reason": exc.reason}, 403)
        except FormError as exc:
            return render(request, "console/refused.html", {"reason": exc.detail}, exc.status)

    return wrapper


def _cookie_args(request: Request, **extra: Any) -> dict[str, Any]:
    secure = not app_state(request).settings.console_insecure_cookie
    return {"httponly": True, "samesite": "strict", "secure": secure, "path": "/console", **extra}


def _login_page(request: Request, error: str | None, status: int = 200, name: str = "") -> HTMLResponse:
    pre = secrets.token_urlsafe(32)
    resp = render(request, "console/login.html", {"error": error, "pre": pre, "name": name}, status)
    resp.set_cookie(PRE_COOKIE, pre, **_cookie_args(request, max_age=3600))
    return resp


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> Response:
    return _login_page(request, None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    """Sign in: a new session cookie on success; the same answer for every kind of failure."""
    try:
        form = await read_form(request)
    except FormError as exc:
        return _login_page(request, exc.detail, exc.status)
    name, password = form.get("name", "")[:48], form.get("password", "")
    pre = request.cookies.get(PRE_COOKIE, "")
    if not pre or not secrets.compare_digest(pre.encode(), form.get("csrf", "").encode("utf-8", "replace")):
        return render(
            request,
            "console/refused.html",
            {"reason": "the sign-in form's CSRF token is missing or forged"},
            403,
        )
    state = app_state(request)
    now = utcnow()
    actor = f"user:{name}" if auth.NAME.match(name) else "public"

    def work() -> tuple[auth.Session, str] | str:
        with state.db.engine.begin() as conn:
            try:
                session, cookie = auth.sign_in(conn, name, password, state.settings, now)
            except auth.SignInRefused as exc:
                outcome: str = f"refused: {exc.reason}"
                entry = AuditEntry(actor, "public", "console.sign_in", f"user:{name}", outcome[:200])
                audit.append(conn, [entry], now)
                return exc.reason
            user = session.user
            audit.append(conn, [AuditEntry(user.actor, user.role, "console.sign_in", user.actor, "ok")], now)
            return session, cookie

    result = await run_in_threadpool(work)
    if isinstance(result, str):
        return _login_page(request, "name or password not accepted (or the account is locked)", 401, name)
    _, cookie = result
    resp = RedirectResponse("/console", status_code=303)
    resp.set_cookie(COOKIE, cookie, **_cookie_args(request))
    resp.delete_cookie(PRE_COOKIE, path="/console")
    return resp


@router.post("/logout", response_class=HTMLResponse)
@page
async def logout(request: Request) -> Response:
    """End the session in the store: the cookie, even copied, opens nothing afterwards."""
    session = await current(request)
    await checked_form(request, session)
    state = app_state(request)
    now = utcnow()

    def work() -> None:
        with state.db.engine.begin() as conn:
            auth.sign_out(conn, session, now)
            user = session.user
            audit.append(conn, [AuditEntry(user.actor, user.role, "console.sign_out", user.actor, "ok")], now)

    await run_in_threadpool(work)
    resp = RedirectResponse("/console/login", status_code=303)
    resp.delete_cookie(COOKIE, path="/console")
    return resp


@router.get("", response_class=HTMLResponse)
@page
async def home(request: Request) -> Response:
    """What this user may do, by role."""
    session = await current(request)
    return render(request, "console/home.html", {"page_title": "工作台 Console"}, session=session)
