"""Errors as RFC 9457 problem details, and the one table that maps every error to its status.

::

    ApiError                      a problem with an HTTP status, a type slug and a title
    ├── BadRequest (400)          the body cannot be parsed at all (e.g. JSON nested too deeply)
    ├── Unauthorized (401)        no token, or a tampered / unknown / expired / revoked one
    ├── Forbidden (403)           the key's role or scope does not reach this
    ├── NotFoundProblem (404)     no such resource (or none this key may see)
    ├── MethodNotAllowed (405)    the path exists, the method does not (``Allow`` lists those that do)
    ├── ConflictProblem (409)     the change contradicts the record's state
    ├── PayloadTooLarge (413)     the body is larger than the endpoint accepts
    ├── Invalid (422)             bad input; ``errors`` lists each field path, value and reason
    ├── RateLimited (429)         too many public requests from this client
    └── Unavailable (503)         the database (or the audit entry) could not be reached, so nothing is
                                  changed or answered; ``Retry-After`` says when to try again (decision 1104)

Domain errors raised below the API (``registry.NotFound``, ``registry.Conflict``, ``RowInvalid``,
``IdentifierError``, ``UnknownAction``, and as a 503 SQLAlchemy's errors of a database that does not answer:
``OperationalError``, ``InterfaceError`` and the pool's ``TimeoutError``) are mapped by
:data:`DOMAIN_ERRORS`; anything else is a 500 whose body says only "internal error" and an id to quote (the
trace goes to the server log, never to the client).
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from ..engine import UnknownAction
from ..identifiers import IdentifierError
from ..registry import Conflict, NotFound, RowInvalid

__all__ = [
    "DOMAIN_ERRORS",
    "PROBLEM",
    "RETRY_AFTER",
    "ApiError",
    "BadRequest",
    "ConflictProblem",
    "FieldError",
    "Forbidden",
    "Invalid",
    "MethodNotAllowed",
    "NotFoundProblem",
    "PayloadTooLarge",
    "RateLimited",
    "Unauthorized",
    "Unavailable",
    "document_problems",
    "field_error",
    "install",
    "plain_text",
    "problem_response",
    "responses",
]

PROBLEM = "application/problem+json"
_TYPE_BASE = "https://socialcredit.invalid/problems/"
log = logging.getLogger("socialcredit.api")

# Seconds a client is told to wait after a 503: about what a PostgreSQL restart or failover takes; the pool
# reconnects on the first request after it (pre-ping), so a retry then succeeds (decision 1104).
RETRY_AFTER = 2

FieldError = dict[str, Any]  # {"loc": [...], "pointer": "/a/0/b", "value": ..., "reason": "..."}


class ApiError(Exception):
    status = 500
    slug = "internal"
    title = "Internal error"

    def __init__(
        self, detail: str, errors: list[FieldError] | None = None, headers: dict[str, str] | None = None
    ):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers


class BadRequest(ApiError):
    status, slug, title = 400, "bad-request", "Malformed request"


class Unauthorized(ApiError):
    status, slug, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="socialcredit"'})


class Forbidden(ApiError):
    status, slug, title = 403, "forbidden", "Not allowed for this key"


class NotFoundProblem(ApiError):
    status, slug, title = 404, "not-found", "Not found"


class MethodNotAllowed(ApiError):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"


class ConflictProblem(ApiError):
    status, slug, title = 409, "conflict", "Conflicts with the current state"


class PayloadTooLarge(ApiError):
    status, slug, title = 413, "payload-too-large", "Request body too large"


class Invalid(ApiError):
    status, slug, title = 422, "invalid", "Invalid request"


class RateLimited(ApiError):
    status, slug, title = 429, "rate-limited", "Too many requests"


class Unavailable(ApiError):
    status, slug, title = 503, "unavailable", "Service unavailable"

    def __init__(self, detail: str, retry_after: int = RETRY_AFTER) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


_last_down_log = [0.0]  # monotonic time of the last "database unavailable" line


def _store_down(exc: Exception) -> ApiError:
    # The reason goes to the server log (the driver's message names the host), at most every 10 s: an outage
    # under load would otherwise write a line per request. The client learns what it needs.
    if time.monotonic() - _last_down_log[0] >= 10.0:
        _last_down_log[0] = time.monotonic()
        log.warning("database unavailable (answering 503): %s", (str(exc).splitlines() or [""])[0][:300])
    return Unavailable("the database is unavailable; nothing was changed or answered")


def field_error(loc: list[str | int], value: Any, reason: str) -> FieldError:
    if isinstance(value, float) and not math.isfinite(value):
        shown: Any = str(value)  # 1e999 parses as inf; JSON has no inf or nan to answer it with
    elif isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        # A huge integer is shown as text, clipped like any text (past 4300 digits Python will not print it).
        shown = (
            str(value)[:200] if value.bit_length() < 14_000 else f"an integer of {value.bit_length()} bits"
        )
    else:
        shown = value if isinstance(value, (int, float, bool)) or value is None else str(value)[:200]
    if isinstance(shown, str) and not shown.isascii():
        # A lone surrogate (from a JSON escape) cannot be encoded in the response: show it escaped.
        shown = shown.encode("utf-8", "backslashreplace").decode("utf-8")
    return {
        "loc": loc,
        "pointer": "/" + "/".join(str(p) for p in loc[1:]) if loc[:1] == ["body"] else None,
        "value": shown,
        "reason": reason,
    }


def plain_text(value: str | None, loc: list[str | int]) -> str | None:
    """``value`` unless it holds control characters or a lone surrogate: :func:`.inputs.plain_query`."""
    from .inputs import (
        plain_query,
    )  # the rule lives with the other input validators (which import this module)

    return plain_query(value, loc)


def _row_invalid(exc: RowInvalid) -> ApiError:
    errs = [
        field_error(["body"] if e.field == "row" else ["body", e.field], e.value, e.reason)
        for e in exc.errors
    ]
    return Invalid(f"{len(errs)} invalid field(s): " + "; ".join(str(e) for e in exc.errors)[:500], errs)


# The one table: a domain error class -> the problem it becomes.
DOMAIN_ERRORS: dict[type[Exception], Callable[[Any], ApiError]] = {
    NotFound: lambda e: NotFoundProblem(str(e)),
    Conflict: lambda e: ConflictProblem(str(e)),
    RowInvalid: _row_invalid,
    IdentifierError: lambda e: Invalid(str(e), [field_error(["body", "subject"], e.value, e.reason)]),
    OperationalError: _store_down,  # refused, reset or timed out connections; a server shutting down
    InterfaceError: _store_down,  # a connection the driver already knows is closed
    PoolTimeout: _store_down,  # every pooled connection busy (connecting) past the pool's timeout
    UnknownAction: lambda e: Invalid(str(e), [field_error(["body", "action"], e.action, "unknown action")]),
}


_DESCRIPTIONS = {
    400: "Malformed body: it cannot be decoded at all (e.g. JSON nested too deeply); syntax errors are 422",
    401: "No API key, or a tampered, unknown, expired or revoked one",
    403: "The key's role or scope does not allow this",
    404: "Not found (or not visible to this key)",
    405: "Method not allowed on this path; `Allow` lists the methods that are",
    409: "Conflicts with the record's current state",
    413: "Request body too large",
    422: "Invalid input: `errors` lists each field path, value and reason",
    429: "Rate limit exceeded (public endpoints)",
    503: "The database or the audit log is unavailable; nothing was changed or answered (see `Retry-After`)",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of the problem responses an endpoint can give."""
    ref = {"$ref": "#/components/schemas/Problem"}
    return {c: {"description": _DESCRIPTIONS[c], "content": {PROBLEM: {"schema": ref}}} for c in codes}


_HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with every error response as problem+json: FastAPI's own 422 (``application/json``,
    HTTPValidationError) is replaced by the :class:`Problem` it really is, and each operation that takes a
    body documents the 400 for a body that cannot be parsed."""
    for item in schema.get("paths", {}).values():
        for method, op in item.items():
            if method not in _HTTP_METHODS:
                continue
            answers = op.setdefault("responses", {})
            if op.get("requestBody") or op.get("parameters") or "422" in answers:
                answers["422"] = responses(422)[422]
            if op.get("requestBody"):
                answers.setdefault("400", responses(400)[400])
            for code, answer in answers.items():
                if code[:1] in "45" and code in {str(c) for c in _DESCRIPTIONS}:
                    answer["content"] = responses(int(code))[int(code)]["content"]
    comps = schema.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        comps.pop(unused, None)
    return schema


def problem_response(request: Request | None, err: ApiError) -> JSONResponse:
    body: dict[str, Any] = {
        "type": _TYPE_BASE + err.slug,
        "title": err.title,
        "status": err.status,
        "detail": err.detail,
    }
    if request is not None:
        body["instance"] = request.url.path
    if err.errors is not None:
        body["errors"] = err.errors
    return JSONResponse(body, status_code=err.status, media_type=PROBLEM, headers=err.headers)


def _validation(exc: RequestValidationError) -> ApiError:
    errs = []
    for e in exc.errors()[:100]:
        if e.get("type") == "json_invalid":  # FastAPI locates a syntax error by offset, under "body"
            why = (e.get("ctx") or {}).get("error", "") or "cannot be decoded"
            at = e.get("loc", ())[1:2]
            errs.append(
                field_error(
                    ["body"], None, f"not valid JSON: {why}" + (f" (at character {at[0]})" if at else "")
                )
            )
            continue
        loc = [p if isinstance(p, (str, int)) else str(p) for p in e.get("loc", ())]
        errs.append(field_error(loc, e.get("input"), str(e.get("msg", "invalid"))))
    where = ", ".join(".".join(str(p) for p in f["loc"]) for f in errs[:5])
    return Invalid(f"{len(errs)} invalid field(s): {where}", errs)


def _http(exc: StarletteHTTPException) -> ApiError:
    classes: dict[int, type[ApiError]] = {
        403: Forbidden,
        404: NotFoundProblem,
        405: MethodNotAllowed,
        409: ConflictProblem,
        413: PayloadTooLarge,
        422: Invalid,
    }
    if exc.status_code == 401:
        return Unauthorized(str(exc.detail))
    if exc.status_code == 400:
        # FastAPI's answer to a body it cannot decode (RecursionError on deep nesting, a broken form).
        return BadRequest("the request body could not be parsed (malformed, or nested too deeply)")
    cls = classes.get(exc.status_code)
    if exc.status_code == 405 and exc.headers and "Allow" in exc.headers:
        err: ApiError = MethodNotAllowed(f"this path answers only {exc.headers['Allow']}")
    elif cls is not None:
        err = cls(str(exc.detail))
    else:
        err = ApiError(str(exc.detail))
        err.status, err.slug, err.title = exc.status_code, f"http-{exc.status_code}", str(exc.detail)
    err.headers = dict(exc.headers) if exc.headers else None  # a 405 carries Allow (RFC 9110 section 15.5.6)
    return err


def _allowed(request: Request) -> str:
    """Every method some route answers on this request's path (a route fully matches with that method)."""
    routes = request.app.router.routes
    allowed = [
        m
        for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
        if any(r.matches({**request.scope, "method": m})[0] == Match.FULL for r in routes)
    ]
    return ", ".join(allowed)


def install(app: FastAPI) -> None:
    """Register the handlers: every error leaves as problem+json, and no trace leaves the server."""

    async def on_api(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return problem_response(request, exc)

    async def on_domain(request: Request, exc: Exception) -> JSONResponse:
        for cls in type(exc).__mro__:
            if cls in DOMAIN_ERRORS:
                return problem_response(request, DOMAIN_ERRORS[cls](exc))
        return await on_any(request, exc)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return problem_response(request, _validation(exc))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 405:
            # Starlette's Allow names the methods of the first route on the path; the path may have more.
            exc.headers = {**(exc.headers or {}), "Allow": _allowed(request)}
        return problem_response(request, _http(exc))

    async def on_any(request: Request, exc: Exception) -> JSONResponse:
        incident = uuid.uuid4().hex[:12]
        log.error("unhandled error %s on %s %s", incident, request.method, request.url.path, exc_info=exc)
        return problem_response(request, ApiError(f"internal error (incident {incident})"))

    app.add_exception_handler(ApiError, on_api)
    for cls in DOMAIN_ERRORS:
        app.add_exception_handler(cls, on_domain)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_any)
