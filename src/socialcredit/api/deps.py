"""Dependencies and their aliases: app state, the caller's key, role checks, the stated purpose, the clock.

Routers declare who may call them with one alias (``RegistrarKey``, ``CheckerKey``, ...): no key is a 401, a
key of another role a 403. ``Purpose`` enforces ``X-Purpose`` where the role must state one.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..keys import ApiKey, InvalidToken, Role
from .budget import budget_key, client_address
from .errors import Forbidden, Invalid, RateLimited, Unauthorized, field_error
from .state import AppState

__all__ = [
    "PURPOSE_ROLES",
    "PURPOSE_RULE",
    "AdminKey",
    "AnyKey",
    "AuditorKey",
    "CheckerKey",
    "OptionalKey",
    "PublicLimit",
    "Purpose",
    "ReaderKey",
    "RegistrarKey",
    "ScreenerKey",
    "StateDep",
    "charge_identifiers",
    "check_role",
    "client_of",
    "get_state",
    "key_from_header",
    "purpose_for",
    "purpose_rule_broken",
    "require",
    "utcnow",
]

# Roles that must say why they read personal data (a subject reading its own file need not).
PURPOSE_ROLES: frozenset[str] = frozenset({"registrar", "checkpoint"})
# One rule, stated once: enforced by purpose_rule_broken, quoted by the 422 and by docs/api.md.
PURPOSE_RULE = (
    "3 to 200 characters, at least one of them a letter, none a control or format character "
    "(tab, newline, NUL, zero-width or bidi marks); any other printable Unicode, punctuation included"
)

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


AnyKey = Annotated[
    ApiKey, Depends(require("registrar", "checkpoint", "subject", "screener", "auditor", "admin"))
]
RegistrarKey = Annotated[ApiKey, Depends(require("registrar"))]
CheckerKey = Annotated[ApiKey, Depends(require("checkpoint", "registrar"))]
ReaderKey = Annotated[ApiKey, Depends(require("registrar", "subject"))]
AuditorKey = Annotated[ApiKey, Depends(require("auditor"))]
AdminKey = Annotated[ApiKey, Depends(require("admin"))]
# Who may screen files over HTTP (decision 0910): each gets its own view of the result.
ScreenerKey = Annotated[ApiKey, Depends(require("registrar", "checkpoint", "screener"))]

XPurpose = Annotated[
    str | None,
    Header(
        alias="X-Purpose",
        max_length=800,  # bytes as sent: 200 characters of UTF-8 (the rule, checked after decoding)
        description="Why personal data is read; required for registrar and checkpoint keys.",
        examples=["boarding check, flight CA1234"],
    ),
]


def purpose_rule_broken(value: str) -> bool:
    if not 3 <= len(value) <= 200 or not any(unicodedata.category(c).startswith("L") for c in value):
        return True
    return any(unicodedata.category(c)[0] == "C" or unicodedata.category(c) in ("Zl", "Zp") for c in value)


def purpose_for(key: ApiKey, value: str | None) -> str | None:
    """The stated purpose, or a 422 naming the header when the role must state one or the rule is broken."""
    if value is not None:
        # HTTP headers arrive decoded as Latin-1; the purpose is UTF-8 (e.g. Chinese), and nothing else.
        try:
            value = value.encode("latin-1").decode("utf-8")
        except UnicodeError:
            raise Invalid(
                "X-Purpose: not UTF-8",
                [field_error(["header", "X-Purpose"], value, "not UTF-8 (send the purpose's UTF-8 bytes)")],
            ) from None
        if purpose_rule_broken(value):
            raise Invalid(
                f"X-Purpose: {PURPOSE_RULE}", [field_error(["header", "X-Purpose"], value, PURPOSE_RULE)]
            )
    if value is None and key.role in PURPOSE_ROLES:
        raise Invalid(
            f"X-Purpose: a {key.role} must state why it reads personal data",
            [field_error(["header", "X-Purpose"], None, f"required for role {key.role}")],
        )
    return value


Purpose = XPurpose


def client_of(request: Request, state: AppState) -> str:
    """The client's address (trusted proxies' forwarded address, else the socket peer), once per request."""
    known: str | None = getattr(request.state, "client_address", None)
    if known is None:
        known = client_address(request, state.proxies)
        request.state.client_address = known
    return known


async def public_limit(request: Request, state: StateDep) -> None:
    """Public endpoints are rate-limited per client (settings.public_rate_limit requests a minute); requests
    marked ``X-Typeahead: 1`` (search as you type) have a budget of their own (decision 0603). Neither
    replaces the identifier budget, which every exact lookup pays."""
    limiter, what = state.limiter, "public requests"
    if request.headers.get("x-typeahead") == "1":
        limiter, what = state.typeahead, "search-as-you-type requests"
    wait = limiter.hit(budget_key(client_of(request, state)))
    if wait is not None:
        raise RateLimited(
            f"at most {limiter.per_minute} {what} a minute; retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )


def charge_identifiers(request: Request, state: AppState, n: int, key: ApiKey | None = None) -> None:
    """Take ``n`` exact-identifier lookups from the client's budget and the day's shared misses, or refuse
    the whole request with a 429 before any lookup. With a screener ``key``, from that key's own budget
    (``screener_identifier_lookups_per_hour``) instead: a compliance team screens files, not one name."""
    if key is not None:
        refusal = state.screener_budget.charge(f"key:{key.id}", n)
    else:
        refusal = state.budget.charge(budget_key(client_of(request, state)), n)
    if refusal is not None:
        raise RateLimited(
            f"{refusal.detail}; retry in {refusal.retry_after} s",
            headers={"Retry-After": str(refusal.retry_after)},
        )


PublicLimit = Annotated[None, Depends(public_limit)]
