"""Dependencies and their aliases: app state, the caller's key, role checks, the stated purpose, the clock.

Routers declare who may call them with one alias (``RegistrarKey``, ``CheckerKey``, ...): no key is a 401, a
key of another role a 403. ``Purpose`` enforces ``X-Purpose`` where the role must state one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..keys import ApiKey, InvalidToken, Role
from .errors import Forbidden, Invalid, RateLimited, Unauthorized, field_error
from .state import AppState

__all__ = [
    "PURPOSE_ROLES",
    "AdminKey",
    "AnyKey",
    "AuditorKey",
    "CheckerKey",
    "OptionalKey",
    "PublicLimit",
    "Purpose",
    "ReaderKey",
    "RegistrarKey",
    "StateDep",
    "check_role",
    "get_state",
    "key_from_header",
    "purpose_for",
    "require",
    "utcnow",
]

# Roles that must say why they read personal data (a subject reading its own file need not).
PURPOSE_ROLES: frozenset[str] = frozenset({"registrar", "checkpoint"})
_PURPOSE = re.compile(r"^[\w .,:;/()'-]{3,200}$", re.UNICODE)

_bearer = HTTPBearer(
    auto_error=False, description="An API key: `Authorization: Bearer sc_<key id>_<secret>`."
)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.sc
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def key_from_header(state: AppState, header: str | None) -> ApiKey | None:
    """The key an ``Authorization: Bearer`` header names; None without the header; 401 if it does not hold."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("expected an Authorization header of the form: Bearer <token>")
    try:
        return await state.key_for_async(token.strip())
    except InvalidToken as exc:
        raise Unauthorized(exc.reason) from None


def check_role(key: ApiKey | None, roles: tuple[Role, ...]) -> ApiKey:
    """401 without a key, 403 for a key of another role."""
    if key is None:
        raise Unauthorized("this endpoint needs an API key (Authorization: Bearer <token>)")
    if key.role not in roles:
        raise Forbidden(f"a {key.role} key may not use this endpoint (roles: {', '.join(roles)})")
    return key


async def optional_key(
    request: Request,
    state: StateDep,
    _creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey | None:
    return await key_from_header(state, request.headers.get("authorization"))


OptionalKey = Annotated[ApiKey | None, Depends(optional_key)]


def require(*roles: Role) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency: the caller's key, which must have one of ``roles``."""

    async def dependency(key: OptionalKey) -> ApiKey:
        return check_role(key, roles)

    return dependency


AnyKey = Annotated[ApiKey, Depends(require("registrar", "checkpoint", "subject", "auditor", "admin"))]
RegistrarKey = Annotated[ApiKey, Depends(require("registrar"))]
CheckerKey = Annotated[ApiKey, Depends(require("checkpoint", "registrar"))]
ReaderKey = Annotated[ApiKey, Depends(require("registrar", "subject"))]
AuditorKey = Annotated[ApiKey, Depends(require("auditor"))]
AdminKey = Annotated[ApiKey, Depends(require("admin"))]

XPurpose = Annotated[
    str | None,
    Header(
        alias="X-Purpose",
        max_length=200,
        description="Why personal data is read; required for registrar and checkpoint keys.",
        examples=["boarding check, flight CA1234"],
    ),
]


def purpose_for(key: ApiKey, value: str | None) -> str | None:
    """The stated purpose, or a 422 naming the header when the role must state one."""
    if value is not None:
        # HTTP headers arrive decoded as Latin-1; a UTF-8 purpose (e.g. in Chinese) is read as UTF-8.
        with contextlib.suppress(UnicodeError):
            value = value.encode("latin-1").decode("utf-8")
    if value is not None and not _PURPOSE.match(value):
        raise Invalid(
            "X-Purpose: 3-200 letters, digits, spaces and . , : ; / ( ) ' -",
            [field_error(["header", "X-Purpose"], value, "3-200 printable characters")],
        )
    if value is None and key.role in PURPOSE_ROLES:
        raise Invalid(
            f"X-Purpose: a {key.role} must state why it reads personal data",
            [field_error(["header", "X-Purpose"], None, f"required for role {key.role}")],
        )
    return value


Purpose = XPurpose


async def public_limit(request: Request, state: StateDep) -> None:
    """Public endpoints are rate-limited per client address (settings.public_rate_limit a minute)."""
    client = request.client.host if request.client else "unknown"
    wait = state.limiter.hit(client)
    if wait is not None:
        raise RateLimited(
            f"at most {state.limiter.per_minute} public requests a minute; retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )


PublicLimit = Annotated[None, Depends(public_limit)]
