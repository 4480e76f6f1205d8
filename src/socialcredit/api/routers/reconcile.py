"""W3C Entity Reconciliation API 0.2 over published listings: a manifest and a query endpoint.

``GET /reconcile`` answers the manifest; with ``queries`` (GET parameter, POST form field, or a JSON body) it
answers a query batch. Candidates are what public search shows: listed subjects with public records in force,
identified by their masked identifier. ``query`` matches names or a full identifier; a property ``id`` (or
``identifier``) matches a full identifier exactly; other properties are accepted and ignored.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError, model_validator
from starlette.concurrency import run_in_threadpool

from ... import audit
from ...audit import AuditEntry
from ..deps import PublicLimit, StateDep, utcnow
from ..errors import Invalid, field_error, responses
from .public import search_subjects

__all__ = ["MANIFEST_TYPES", "ReconQuery", "router"]

router = APIRouter(tags=["reconciliation"])
MANIFEST_TYPES = [{"id": "person", "name": "Person"}, {"id": "organisation", "name": "Organisation"}]
MAX_QUERIES = 20
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
    limit: float | None = None
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


def _parse_batch(raw: str) -> dict[str, ReconQuery]:
    try:
        data = json.loads(raw)
    except ValueError:
        raise Invalid(
            "queries: not JSON", [field_error(["query", "queries"], raw[:200], "not JSON")]
        ) from None
    if not isinstance(data, dict) or len(data) > MAX_QUERIES:
        raise Invalid(
            f"queries: an object of at most {MAX_QUERIES} queries",
            [field_error(["query", "queries"], raw[:200], f"an object of 1-{MAX_QUERIES} queries")],
        )
    try:
        return ReconBatch.model_validate(data).root
    except ValidationError as exc:
        errs = [
            field_error(["query", "queries", *[str(p) for p in e["loc"]]], e.get("input"), e["msg"])
            for e in exc.errors()[:50]
        ]
        raise Invalid(f"queries: {len(errs)} invalid field(s)", errs) from None


def _identifier(q: ReconQuery) -> str | None:
    for p in q.properties or ():
        if p.pid in _ID_PROPERTIES and isinstance(p.v, str):
            return p.v
    return None


async def _answer(request: Request, state: Any, raw: str) -> dict[str, Any]:
    batch = _parse_batch(raw)
    now = utcnow()

    def work() -> dict[str, Any]:
        out: dict[str, Any] = {}
        with state.db.engine.begin() as conn:
            for name, q in batch.items():
                text = (_identifier(q) or q.query or "").strip()
                limit = max(1, min(int(q.limit or 5), 20))
                types = [q.type] if isinstance(q.type, str) else (q.type or [])
                hits = search_subjects(conn, state, text, now, 0, limit) if len(text) >= 2 else []
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
            audit.append(
                conn,
                [
                    AuditEntry(
                        "public",
                        "public",
                        "public.reconcile",
                        json.dumps({k: q.query for k, q in batch.items()}, ensure_ascii=False),
                        f"ok: {sum(len(v['result']) for v in out.values())} candidates",
                    )
                ],
                now,
            )
        return out

    answer: dict[str, Any] = await run_in_threadpool(work)
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
    return await _answer(request, state, queries)


@router.post("/reconcile", responses=responses(413, 422, 429))
async def reconcile_post(request: Request, state: StateDep, _limit: PublicLimit) -> dict[str, Any]:
    """A query batch, as the form field ``queries`` (the 0.2 protocol) or as a JSON body."""
    body = (await request.body()).decode("utf-8", errors="replace")
    if request.headers.get("content-type", "").startswith("application/json"):
        raw = body
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("queries"), str):
            raw = parsed["queries"]
        elif isinstance(parsed, dict) and isinstance(parsed.get("queries"), dict):
            raw = json.dumps(parsed["queries"])
    else:
        raw = urllib.parse.parse_qs(body).get("queries", [""])[0]
    if not raw:
        raise Invalid("queries: required", [field_error(["body", "queries"], None, "required")])
    return await _answer(request, state, raw)
