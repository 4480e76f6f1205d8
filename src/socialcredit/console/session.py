"""The console's request plumbing: the session cookie, the CSRF check, form reading and page rendering."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from .. import audit
from ..api.state import AppState
from ..audit import AuditEntry
from ..keys import ApiKey
from ..web import language
from ..web.labels import local_minute
from ..web.routes import _SECURITY_HEADERS
from .auth import Session, session_for

__all__ = [
    "COOKIE",
    "FormError",
    "NotSignedIn",
    "Refused",
    "app_state",
    "audit_now",
    "current",
    "identity",
    "read_form",
]

COOKIE = "sc_console"
PRE_COOKIE = "sc_console_pre"  # the sign-in form's own CSRF token (double submit: there is no session yet)
FORM_LIMIT = 65536  # bytes: a record's form with a long legal basis and summary
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent.parent / "web" / "templates"))
TEMPLATES.env.globals.update(local_minute=local_minute)
language.install(TEMPLATES.env)


class FormError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


class NotSignedIn(Exception):
    """No live session: the page answers with the sign-in form."""


class Refused(Exception):
    """A request the session may not make (wrong role, missing or forged CSRF token): a 403 page."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.sc
    return state


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def current(request: Request, *roles: str) -> Session:
    """The request's live session, of one of ``roles`` if given."""
    state = app_state(request)
    cookie = request.cookies.get(COOKIE)

    def load() -> Session | None:
        with state.db.engine.connect() as conn:
            return session_for(conn, cookie, utcnow())

    session = await run_in_threadpool(load)
    if session is None:
        raise NotSignedIn()
    if roles and session.user.role not in roles:
        raise Refused(f"this page is for {' or '.join(roles)} users, not {session.user.role}")
    return session


def identity(session: Session) -> ApiKey:
    """The identity the API's code acts with for this user (decision 0607): id ``user:<name>``, the user's role
    and, for a registrar, its authority. It lives only in memory: there is no token to steal."""
    u = session.user
    return ApiKey(u.actor, u.role, u.authority, (), None, u.name, u.created_at, None, None)


async def audit_now(request: Request, entries: list[AuditEntry]) -> None:
    """Append entries in their own transaction (a refusal, a sign-in, a page view)."""
    state = app_state(request)

    def work() -> None:
        with state.db.engine.begin() as conn:
            audit.append(conn, entries, utcnow())

    await run_in_threadpool(work)


async def read_form(request: Request) -> dict[str, str]:
    """A urlencoded body as a dict (first value of each field wins, values stripped)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise FormError(415, f"expected a form (application/x-www-form-urlencoded), got {ctype or 'nothing'}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            raise FormError(413, f"the form is larger than {FORM_LIMIT} bytes")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=40)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormError(400, f"the form could not be read: {exc}") from None
    out: dict[str, str] = {}
    for name, value in pairs:
        out.setdefault(name, value.strip())
    return out


async def checked_form(request: Request, session: Session) -> dict[str, str]:
    """The form of a POST whose ``csrf`` field is this session's token (else :class:`Refused`, audited)."""
    try:
        form = await read_form(request)
    except FormError as exc:
        if exc.status != 415:
            raise
        form = {}  # not a form at all (a cross-site JSON or empty post): it carries no token either
    if not session.csrf_ok(form.get("csrf")):
        why = "missing" if not form.get("csrf") else "forged"
        await audit_now(
            request,
            [
                AuditEntry(
                    session.user.actor,
                    session.user.role,
                    "console.csrf",
                    request.url.path,
                    f"refused: 403 ({why} token)",
                )
            ],
        )
        raise Refused(f"the form's CSRF token is {why}: reload the page and send the form again")
    return form


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    status: int = 200,
    session: Session | None = None,
) -> HTMLResponse:
    """A console page: never cached (every page is behind a session), the portal's security headers."""
    ctx = {"session": session, "page_title": None, **context}
    resp = TEMPLATES.TemplateResponse(request, template, ctx, status_code=status)
    resp.headers.update(_SECURITY_HEADERS)
    resp.headers["Cache-Control"] = "no-store"
    return resp
