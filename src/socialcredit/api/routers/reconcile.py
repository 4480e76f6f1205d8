"""W3C Entity Reconciliation API 0.2 over published listings: a manifest and a query endpoint.

``GET /reconcile`` answers the manifest; with ``queries`` (GET parameter, POST form field, or a JSON body) it
answers a query batch. Candidates are what public search shows: listed subjects with public records in force,
identified by their masked identifier; the manifest's view URL is public search for that masked identifier,
which shows the subjects listed under it (never the full number). ``query`` matches names or a full
identifier; a property ``id`` (or ``identifier``) matches a full identifier exactly; other properties are
accepted and ignored. Each query that looks up a person's full identifier costs one lookup of the
identifier budget, and a batch the budget cannot pay for whole is refused before any lookup (decision 0308).
JSON nested deeper than ``MAX_DEPTH`` is refused before it is parsed.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import urllib.parse
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError, model_validator
from starlette.concurrency import run_in_threadpool

from ... import audit
from ...audit import AuditEntry
from ..budget import masked_identifier
from ..deps import PublicLimit, StateDep, charge_identifiers, client_of, utcnow
from ..errors import Invalid, field_error, responses
from ..state import AppState
from .public import lookup_target, search_subjects

__all__ = ["MANIFEST_TYPES", "MAX_DEPTH", "ReconQuery", "router"]

router = APIRouter(tags=["reconciliation"])
MANIFEST_TYPES = [{"id": "person", "name": "Person"}, {"id": "organisation", "name": "Organisation"}]
MAX_QUERIES = 20
MAX_DEPTH = 32  # a query batch is 5 levels deep; Python's parser fails near 1,000 (a RecursionError)
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_ID_PROPERTIES = ("id", "identifier")

PropertyValue = str | float | bool | dict[str, Any]


class ReconProperty(BaseModel):
    model_config = ConfigDict(extra="allow")
    pid: str = Field(max_length=200)
    v: PropertyValue | list[PropertyValue]


class ReconQuery(BaseModel):
    """One query of a batch (reconciliation-query-batch.json)."""

    model_config = ConfigDict(extra="forbid")
    query: str | None = Field(default=None, max_length=200)
    type: str | list[str] | None = None
    limit: float | None = Field(default=None, allow_inf_nan=False)  # 1e400 reads as infinity
    properties: list[ReconProperty] | None = Field(default=None, max_length=20)
    type_strict: Literal["any", "should", "all"] | None = None

    @model_validator(mode="after")
    def _query_or_properties(self) -> ReconQuery:
        if self.query is None and not self.properties:
            raise ValueError("a query needs `query` or a non-empty `properties`")
        texts = [self.query or ""] + [p.v for p in self.properties or () if isinstance(p.v, str)]
        if any(ord(c) < 32 or ord(c) == 127 for t in texts for c in t):
            raise ValueError("query text contains control characters")
        return self


class ReconBatch(RootModel[dict[str, ReconQuery]]):
    pass


def manifest(base: str) -> dict[str, Any]:
    return {
        "versions": ["0.2"],
        "name": "socialcredit: published credit-discipline listings",
        "identifierSpace": "https://socialcredit.invalid/subjects/masked/",
        "schemaSpace": "https://socialcredit.invalid/schema/",
        "documentation": base + "docs",
        "defaultTypes": MANIFEST_TYPES,
        "view": {"url": base + "v1/public/search?q={{id}}"},
    }


def _depth(raw: str) -> int:
    """How deep ``raw``'s arrays and objects nest (strings skipped), without parsing it."""
    steps = (1 if c in "[{" else -1 for c in _STRINGS.sub("", raw) if c in "[]{}")
    return max(itertools.accumulate(steps, initial=0))


def _loads(raw: str, loc: list[str | int]) -> Any:
    """``raw`` as JSON, or a 422 naming ``loc``: not JSON, or nested deeper than MAX_DEPTH."""
    if _depth(raw) > MAX_DEPTH:
        raise Invalid(
            f"{'.'.join(map(str, loc))}: JSON nested deeper than {MAX_DEPTH} levels",
            [field_error(loc, raw[:200], f"nested deeper than {MAX_DEPTH} levels")],
        )
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise Invalid(
            f"{'.'.join(map(str, loc))}: not JSON", [field_error(loc, raw[:200], "not JSON")]
        ) from None


def _shown(value: Any) -> Any:
    # JSON has no infinity or NaN: a value parsed from 1e400 or NaN is shown as text.
    return str(value) if isinstance(value, float) and not math.isfinite(value) else value


def _parse_batch(raw: str, loc: list[str | int]) -> dict[str, ReconQuery]:
    data = _loads(raw, loc)
    if not isinstance(data, dict) or len(data) > MAX_QUERIES:
        raise Invalid(
            f"queries: an object of at most {MAX_QUERIES} queries",
            [field_error(loc, raw[:200], f"an object of 1-{MAX_QUERIES} queries")],
        )
    try:
        return ReconBatch.model_validate(data).root
    except ValidationError as exc:
        errs = [
            field_error([*loc, *[str(p) for p in e["loc"]]], _shown(e.get("input")), e["msg"])
            for e in exc.errors()[:50]
        ]
        raise Invalid(f"queries: {len(errs)} invalid field(s)", errs) from None


def _identifier(q: ReconQuery) -> str | None:
    for p in q.properties or ():
        if p.pid in _ID_PROPERTIES and isinstance(p.v, str):
            return p.v
    return None


def _text(q: ReconQuery) -> str:
    return (_identifier(q) or q.query or "").strip()


async def _answer(request: Request, state: AppState, raw: str, loc: list[str | int]) -> dict[str, Any]:
    batch = _parse_batch(raw, loc)
    now = utcnow()
    codes = state.settings.allowlisted_codes()
    looked_up = {name: masked_identifier(_text(q), codes) for name, q in batch.items()}
    n = sum(v is not None for v in looked_up.values())
    if n > state.budget.clients.capacity:
        raise Invalid(
            f"queries: at most {state.budget.clients.capacity} identifier lookups in one batch",
            [field_error(loc, raw[:200], f"{n} identifier lookups; at most {state.budget.clients.capacity}")],
        )
    charge_identifiers(request, state, n)  # the whole batch, before any lookup: no partial oracle
    client = client_of(request, state)
    found = 0

    def work() -> dict[str, Any]:
        nonlocal found
        out: dict[str, Any] = {}
        with state.db.engine.begin() as conn:
            for name, q in batch.items():
                text = _text(q)
                limit = max(1, min(int(q.limit or 5), 20))
                types = [q.type] if isinstance(q.type, str) else (q.type or [])
                hits = search_subjects(conn, state, text, now, 0, limit) if len(text) >= 2 else []
                found += bool(hits) and looked_up[name] is not None
                result = []
                for h in hits:
                    if types and h["kind"] not in types:
                        continue
                    exact = h["name"] == text or _identifier(q) is not None
                    result.append(
                        {
                            "id": h["id"],
                            "name": h["name"],
                            "score": 100.0 if exact else 50.0,
                            "match": exact and len(hits) == 1,
                            "type": [t for t in MANIFEST_TYPES if t["id"] == h["kind"]],
                            "description": "; ".join(r["category_title"] for r in h["records"]),
                        }
                    )
                out[name] = {"result": result}
            # Looked-up identifiers are kept masked and keyed-hashed, names as sent, with the client.
            asked = {
                k: _text(q) if looked_up[k] is None else lookup_target(state, str(looked_up[k]))
                for k, q in batch.items()
            }
            audit.append(
                conn,
                [
                    AuditEntry(
                        "public",
                        "public",
                        "public.reconcile",
                        json.dumps({"client": client, "queries": asked}, ensure_ascii=False),
                        f"ok: {sum(len(v['result']) for v in out.values())} candidates",
                    )
                ],
                now,
            )
        return out

    answer: dict[str, Any] = await run_in_threadpool(work)
    state.budget.settle(found)
    return answer


@router.get("/reconcile", responses=responses(413, 422, 429))
async def reconcile_get(
    request: Request,
    state: StateDep,
    _limit: PublicLimit,
    queries: Annotated[str | None, Query(max_length=20_000, description="A JSON query batch.")] = None,
) -> dict[str, Any]:
    """The service manifest, or with ``queries`` the answer to a query batch."""
    if queries is None:
        return manifest(str(request.base_url))
    return await _answer(request, state, queries, ["query", "queries"])


@router.post("/reconcile", responses=responses(413, 422, 429))
async def reconcile_post(request: Request, state: StateDep, _limit: PublicLimit) -> dict[str, Any]:
    """A query batch, as the form field ``queries`` (the 0.2 protocol) or as a JSON body."""
    body = (await request.body()).decode("utf-8", errors="replace")
    if request.headers.get("content-type", "").startswith("application/json"):
        parsed = _loads(body, ["body"])
        loc: list[str | int] = ["body", "queries"]
        queries = parsed.get("queries") if isinstance(parsed, dict) else None
        # The body is the batch itself, or {"queries": batch} with the batch as an object or a JSON string.
        raw = (
            queries
            if isinstance(queries, str)
            else json.dumps(queries)
            if isinstance(queries, dict)
            else body
        )
        if not isinstance(queries, (str, dict)):
            loc = ["body"]
    else:
        loc = ["form", "queries"]
        raw = urllib.parse.parse_qs(body).get("queries", [""])[0]
    if not raw:
        raise Invalid("queries: required", [field_error(loc, None, "required")])
    return await _answer(request, state, raw, loc)
