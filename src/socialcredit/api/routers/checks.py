"""Checks: may this subject do this action? Checkpoints get the decision only; registrars the whole Decision.

A check is a read of personal data, so it is audited; it is answered only once its audit entry is committed
(the entries of concurrent checks share one commit, see ``AuditWriter``). Checks run on the event loop: the
index is in memory, so a check costs microseconds and a thread hop would cost more than the check.

These are the hot endpoints, so they skip FastAPI's dependency injection and body parsing (which cost more
than the check itself): the same key, role and purpose rules are applied by the same functions (``deps``), the
body is parsed by pydantic straight from JSON bytes, and the OpenAPI document still describes body and header.
"""

from __future__ import annotations

import datetime as dt
import math
from operator import itemgetter
from typing import Any, TypeVar

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from ...audit import AuditEntry, AuditUnavailable
from ...engine import UnknownAction
from ...identifiers import IdentifierError, parse
from ...keys import ApiKey
from ...registry import parse_instant
from ..deps import check_role, key_from_header, purpose_for
from ..errors import PROBLEM, ApiError, Forbidden, Invalid, Unavailable, field_error, responses
from ..schemas import MAX_BATCH, BatchAnswer, BatchCheck, CheckpointDecision, CheckQuery, FullDecision
from ..state import AppState
from ..views import checkpoint_decisions, registrar_decision

__all__ = ["router"]

router = APIRouter(prefix="/v1/checks", tags=["checks"])
M = TypeVar("M", bound=BaseModel)

_PURPOSE_PARAM = {
    "name": "X-Purpose",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": 200},
    "description": "Why personal data is read; required for registrar and checkpoint keys.",
}


class UnsupportedMediaType(ApiError):
    status, slug, title = 415, "unsupported-media-type", "The body is not JSON"


_RESPONSES = {
    **responses(401, 403, 413, 422, 503),
    415: {
        "description": "The Content-Type is not JSON",
        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    },
}


def _doc(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
        },
        "parameters": [_PURPOSE_PARAM],
        "security": [{"HTTPBearer": []}],
    }


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


async def _caller(request: Request) -> tuple[AppState, ApiKey, str | None]:
    state: AppState = request.app.state.sc
    key = check_role(
        await key_from_header(state, request.headers.get("authorization")), ("checkpoint", "registrar")
    )
    return state, key, purpose_for(key, request.headers.get("x-purpose"))


def _json_body(request: Request) -> None:
    """A check's body is JSON: ``application/json`` or ``application/*+json`` (any parameters), or no
    Content-Type at all (then it is read as JSON). Anything else, ``curl -d``'s default form type included,
    is a 415: a form or text body is not silently parsed as JSON (docs/api.md, "Content types")."""
    raw = request.headers.get("content-type")
    if raw is None:
        return
    media = raw.split(";", 1)[0].strip().lower()
    if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
        return
    raise UnsupportedMediaType(
        f"Content-Type {raw[:100]!r} is not JSON: send the body as application/json",
        [field_error(["header", "content-type"], raw[:100], "expected application/json")],
    )


def _shown(value: Any) -> Any:
    # 1e999 parses as infinity, which JSON cannot carry back in the problem: show it as text.
    return str(value) if isinstance(value, float) and not math.isfinite(value) else value


async def _body(request: Request, model: type[M]) -> M:
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        errs = [
            field_error(
                ["body", *e["loc"]], _shown(e.get("input")) if e["type"] != "json_invalid" else None, e["msg"]
            )
            for e in exc.errors()[:100]
        ]
        where = ", ".join(".".join(str(p) for p in f["loc"]) for f in errs[:5])
        raise Invalid(f"{exc.error_count()} invalid field(s): {where}", errs) from None


# The instants a check may name. Wider than any record (the engine does arithmetic on them: a day before year
# 1 or after 9999 does not exist) and still far from the datetime limits, so no offset can overflow.
EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)


def _instant(value: str | None, field: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        t = parse_instant(value)
    except (
        OverflowError
    ):  # 0001-01-01 in China time, 9999-12-31T23:59:59-14:00: outside what a datetime holds
        t = None
    except ValueError:
        raise Invalid(
            f"{field}: not an ISO 8601 date or instant",
            [field_error(["body", field], value, "expected an ISO 8601 date or date-time")],
        ) from None
    if t is None or not EARLIEST <= t < LATEST:
        raise Invalid(
            f"{field}: {value!r} is out of range",
            [
                field_error(
                    ["body", field], value, "expected an instant from 1900-01-01 to before 9000-01-01 UTC"
                )
            ],
        )
    return t


def _times(
    key: ApiKey, at: str | None, known_at: str | None
) -> tuple[dt.datetime | None, dt.datetime | None]:
    if known_at is not None and key.role != "registrar":
        raise Forbidden("known_at (what the registry knew then) is for registrar keys only")
    return _instant(at, "at"), _instant(known_at, "known_at")


async def _audited(state: AppState, entry: AuditEntry) -> int:
    try:
        return await state.audit.record(entry)
    except AuditUnavailable as exc:  # no audit entry, no answer; this one says when to come back
        wait = max(1, math.ceil(exc.retry_after))
        raise Unavailable(f"{exc}; the check was not answered, retry in {wait} s", retry_after=wait) from exc
    except Exception as exc:  # no audit entry, no answer
        raise Unavailable("the audit log could not be written; the check was not answered") from exc


@router.post(
    "",
    response_model=FullDecision | CheckpointDecision,
    openapi_extra=_doc(CheckQuery),
    responses=_RESPONSES,
)
async def check(request: Request) -> Response:
    """One check (body: CheckQuery). A checkpoint may ask only about actions in its key's scope and receives a
    CheckpointDecision; a registrar receives the full Decision. Requires ``X-Purpose``."""
    state, key, purpose = await _caller(request)
    _json_body(request)
    body = await _body(request, CheckQuery)
    try:
        as_of, known_at = _times(key, body.at, body.known_at)
        if (
            key.role == "checkpoint"
            and body.action in state.catalogue.actions
            and not key.covers(body.action)
        ):
            raise Forbidden(f"action {body.action!r} is outside this key's scope ({', '.join(key.actions)})")
        state.start()
        try:
            if body.action in state.checker.graded:
                # A graded action reads the subject's grade from the store (decision 1003): off the loop.
                d = await run_in_threadpool(state.checker.check, body.subject, body.action, as_of, known_at)
            else:
                d = state.checker.check(body.subject, body.action, as_of=as_of, known_at=known_at)
        except (IdentifierError, UnknownAction):
            raise _bad_check(state, body.subject, body.action) from None
    except ApiError as exc:
        await _audited(
            state,
            AuditEntry(key.id, key.role, "checks.single", body.subject, f"refused: {exc.status}", purpose),
        )
        raise
    outcome = "allowed" if d.allowed else "denied"
    ref = await _audited(state, AuditEntry(key.id, key.role, "checks.single", d.subject, outcome, purpose))
    state.metrics.checks.labels(outcome).inc()
    if key.role == "checkpoint":
        view = checkpoint_decisions([d], [body.subject], ref)[0]
    else:
        view = registrar_decision(d, key.authority, ref)
    return _json(view)


def _bad_check(state: AppState, subject: str, action: str) -> Invalid:
    """Every bad field of one check: a bad subject and a bad action are both named, not the first found."""
    details, errs = [], []
    try:
        parse(subject, state.settings.allowlisted_codes())
    except IdentifierError as exc:
        details.append(str(exc))
        errs.append(field_error(["body", "subject"], subject, exc.reason))
    if action not in state.checker.rules.actions:
        details.append(f"unknown action {action!r}")
        errs.append(field_error(["body", "action"], action, "not in the catalogue"))
    return Invalid("; ".join(details) or "invalid check", errs)


def _locate_bad(state: AppState, queries: list[tuple[str, str]]) -> Invalid:
    """Which queries are bad (only run once the batch failed, so the fast path parses nothing twice)."""
    errs = []
    allow = state.settings.allowlisted_codes()
    for i, (subject, action) in enumerate(queries):
        if action not in state.checker.rules.actions:
            errs.append(field_error(["body", "queries", i, "action"], action, "unknown action"))
        try:
            parse(subject, allow)
        except IdentifierError as exc:
            errs.append(field_error(["body", "queries", i, "subject"], subject, exc.reason))
        if len(errs) >= 100:
            break
    return Invalid(
        f"{len(errs)} invalid quer{'y' if len(errs) == 1 else 'ies'} (first {len(errs)} shown)", errs
    )


_Batch = tuple[list[tuple[str, str]], str | None, str | None]


def _fast_batch(raw: bytes) -> _Batch | None:
    """The batch body as plain tuples when it is exactly what BatchCheck accepts in the usual shape; None
    otherwise, and then pydantic parses it (and names every bad field). Building 10,000 models costs more than
    checking them."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(data) is not dict or not data.keys() <= {"queries", "at", "known_at"}:
        return None
    queries, at, known_at = data.get("queries"), data.get("at"), data.get("known_at")
    if type(queries) is not list or len(queries) > MAX_BATCH:
        return None
    for t in (at, known_at):
        if t is not None and (type(t) is not str or len(t) > 40):
            return None
    # Whole-list passes in C, not a Python loop per query: exactly two keys, both named, both strings.
    if not set(map(type, queries)) <= _DICT or not set(map(len, queries)) <= _TWO:
        return None
    try:
        out = list(map(_PAIR, queries))
        actions = set(map(_second, out))  # TypeError: an action that is a list or an object
    except (KeyError, TypeError):
        return None
    subjects = list(map(_first, out))
    if not set(map(type, subjects)) <= _STR or (subjects and max(map(len, subjects)) > 64):
        return None
    if not set(map(type, actions)) <= _STR or max(map(len, actions), default=0) > 120:
        return None
    return out, at, known_at


_PAIR, _first, _second = itemgetter("subject", "action"), itemgetter(0), itemgetter(1)
_DICT, _TWO, _STR = frozenset({dict}), frozenset({2}), frozenset({str})


@router.post(
    "/batch",
    response_model=BatchAnswer,
    openapi_extra=_doc(BatchCheck),
    responses=_RESPONSES,
)
async def check_batch(request: Request) -> Response:
    """Up to 10,000 checks at one instant (body: BatchCheck), answered in order; one audit entry names every
    subject checked. Any bad query fails the whole batch with a 422 naming each bad query's index."""
    state, key, purpose = await _caller(request)
    _json_body(request)
    parsed = _fast_batch(await request.body())
    if parsed is None:
        body = await _body(request, BatchCheck)
        parsed = ([(q.subject, q.action) for q in body.queries], body.at, body.known_at)
    queries, at, known = parsed
    n = len(queries)
    try:
        as_of, known_at = _times(key, at, known)
        if key.role == "checkpoint":
            acts = state.catalogue.actions
            in_scope = {a: a not in acts or key.covers(a) for a in {a for _, a in queries}}
            out = [i for i, (_, a) in enumerate(queries) if not in_scope[a]]
            if out:
                raise Forbidden(
                    f"{len(out)} queries ask about actions outside this key's scope, first at index "
                    f"{out[0]}: {queries[out[0]][1]!r}"
                )
        state.start()
        graded = state.checker.graded
        try:
            if graded and any(a in graded for a in {a for _, a in queries}):
                # Its graded queries read their subjects' grades from the store (decision 1003): off the loop.
                decisions = await run_in_threadpool(state.checker.check_many, queries, as_of, known_at)
            else:
                decisions = state.checker.check_many(queries, as_of, known_at)
        except (IdentifierError, UnknownAction):
            raise _locate_bad(state, queries) from None
    except ApiError as exc:
        await _audited(
            state,
            AuditEntry(key.id, key.role, "checks.batch", f"{n} queries", f"refused: {exc.status}", purpose),
        )
        raise
    denied = decisions.denied_count
    target = orjson.dumps(sorted(set(decisions.subjects))).decode()
    ref = await _audited(
        state, AuditEntry(key.id, key.role, "checks.batch", target, f"{n} checks, {denied} denied", purpose)
    )
    state.metrics.checks.labels("allowed").inc(n - denied)
    state.metrics.checks.labels("denied").inc(denied)
    if key.role == "checkpoint":
        views = checkpoint_decisions(decisions, list(map(_first, queries)), None)
    else:
        views = [registrar_decision(d, key.authority, None) for d in decisions]
    return _json({"count": n, "reference": ref, "decisions": views})
