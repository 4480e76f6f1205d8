"""W3C Entity Reconciliation API 0.2 over published listings: a manifest, a query endpoint and a preview.

``GET /reconcile`` answers the manifest; with ``queries`` (GET parameter, POST form field, or a JSON body) it
answers a query batch. Candidates are what public search shows: listed subjects with public records in force,
identified by their masked identifier; the manifest's view URL is public search for that masked identifier,
which shows the subjects listed under it (never the full number), and its preview URL an HTML card of the
same public fields. ``query`` text that is a full or masked identifier, or a property ``id`` (or
``identifier``), matches exactly (score 100); other text goes through the screening name matcher (decision
0906), with the properties ``birth_date`` (YYYY-MM-DD) and ``region`` (a 2-, 4- or 6-digit code prefix) and a
single ``type`` as its kind: score is the matcher's 0-1 score times 100, ``features`` its contributions, and
``match`` is true only for a unique candidate at ``HIT`` or above. Other properties are accepted and ignored.
Each query that looks up a person's full identifier costs one lookup of the identifier budget, and a batch
the budget cannot pay for whole is refused before any lookup (decision 0308). JSON nested deeper than
``MAX_DEPTH`` is refused before it is parsed.
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import json
import math
import re
import urllib.parse
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError, model_validator
from starlette.concurrency import run_in_threadpool

from ... import audit
from ...audit import AuditEntry
from ...identifiers import IdentifierError, parse
from ...screening.matcher import HIT, NameQuery
from ..budget import masked_identifier
from ..deps import PublicLimit, StateDep, charge_identifiers, client_of, utcnow
from ..errors import Invalid, NotFoundProblem, field_error, responses
from ..state import AppState
from .public import _masked_pattern, listed_subjects, lookup_target, search_subjects

__all__ = ["MANIFEST_TYPES", "MAX_DEPTH", "ReconQuery", "router"]

router = APIRouter(tags=["reconciliation"])
MANIFEST_TYPES = [{"id": "person", "name": "Person"}, {"id": "organisation", "name": "Organisation"}]
MAX_QUERIES = 20
MAX_DEPTH = 32  # a query batch is 5 levels deep; Python's parser fails near 1,000 (a RecursionError)
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_ID_PROPERTIES = ("id", "identifier")
_NAME_PROPERTIES = ("birth_date", "region")
BATCH_SIZE = (
    10  # queries OpenRefine sends in one batch (the 1.0 draft's manifest `batchSize`); <= MAX_QUERIES
)

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
        "preview": {
            "url": base + "reconcile/preview?id={{id}}",
            "width": PREVIEW_WIDTH,
            "height": PREVIEW_HEIGHT,
        },
        "batchSize": BATCH_SIZE,
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


def _is_identifier(text: str, codes: frozenset[str]) -> bool:
    """Whether ``text`` is a full or masked identifier (matched exactly, as public search does)."""
    if _masked_pattern(text) is not None:
        return True
    try:
        parse(text, codes)
    except IdentifierError:
        return False
    return True


def _name_query(q: ReconQuery, loc: list[str | int]) -> NameQuery:
    """The matcher's query: the text, the kind the types name (one), and the `birth_date` and `region`
    properties; a bad property value is a 422 naming it."""
    types = [q.type] if isinstance(q.type, str) else (q.type or [])
    kinds = {t for t in types if t in ("person", "organisation")}
    facts: dict[str, Any] = {}
    for i, p in enumerate(q.properties or ()):
        if p.pid not in _NAME_PROPERTIES:
            continue
        where = [*loc, "properties", i, "v"]
        if not isinstance(p.v, str):
            raise Invalid(f"{p.pid}: must be text", [field_error(where, _shown(p.v), "must be text")])
        try:
            facts[p.pid] = dt.date.fromisoformat(p.v.strip()) if p.pid == "birth_date" else p.v.strip()
        except ValueError:
            raise Invalid(
                f"birth_date: {p.v!r} is not a date", [field_error(where, p.v, "not a date (YYYY-MM-DD)")]
            ) from None
    try:
        return NameQuery((q.query or "").strip(), kinds.pop() if len(kinds) == 1 else None, **facts)
    except ValueError as exc:
        field = str(exc).split(":", 1)[0]
        raise Invalid(str(exc), [field_error([*loc, field], None, str(exc))]) from None


def _by_name(conn: Any, state: AppState, q: NameQuery, limit: int, now: dt.datetime) -> list[dict[str, Any]]:
    """Candidates by the matcher (decision 0906): the listed subjects it scores at least POSSIBLE, best first,
    each confirmed listed now; `match` only for a unique candidate at HIT or above."""
    found = state.names.index(conn, state.catalogue, now).match(q, limit=limit * 2)
    listed = listed_subjects(conn, state, [m.subject_id for m in found], now)
    shown = [(m, listed[m.subject_id]) for m in found if m.subject_id in listed][:limit]
    hits = [m for m, _ in shown if m.score >= HIT]
    out = []
    for m, h in shown:
        out.append(
            {
                "id": h["id"],
                "name": h["name"],
                "score": round(m.score * 100, 1),
                "match": len(hits) == 1 and hits[0] is m,
                "type": [t for t in MANIFEST_TYPES if t["id"] == h["kind"]],
                "description": "; ".join(
                    [r["category_title"] for r in h["records"]] + ([m.explanation] if m.explanation else [])
                ),
                "features": [{"id": f, "value": round(v * 100, 1)} for f, v in m.features.items()],
            }
        )
    return out


async def _answer(request: Request, state: AppState, raw: str, loc: list[str | int]) -> dict[str, Any]:
    batch = _parse_batch(raw, loc)
    now = utcnow()
    codes = state.settings.allowlisted_codes()
    looked_up = {name: masked_identifier(_text(q), codes) for name, q in batch.items()}
    by_id = {name: _identifier(q) is not None or _is_identifier(_text(q), codes) for name, q in batch.items()}
    named = {name: _name_query(q, [*loc, name]) for name, q in batch.items() if not by_id[name]}
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
                if name in named:
                    result = _by_name(conn, state, named[name], limit, now) if len(text) >= 2 else []
                    out[name] = {"result": result}
                    continue
                types = [q.type] if isinstance(q.type, str) else (q.type or [])
                hits = search_subjects(conn, state, text, now, 0, limit) if len(text) >= 2 else []
                found += bool(hits) and looked_up[name] is not None
                # An identifier matches exactly: each subject listed under it scores 100.
                out[name] = {
                    "result": [
                        {
                            "id": h["id"],
                            "name": h["name"],
                            "score": 100.0,
                            "match": len(hits) == 1,
                            "type": [t for t in MANIFEST_TYPES if t["id"] == h["kind"]],
                            "description": "; ".join(r["category_title"] for r in h["records"]),
                        }
                        for h in hits
                        if not types or h["kind"] in types
                    ]
                }
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


PREVIEW_WIDTH, PREVIEW_HEIGHT = 400, 200


def _preview_html(hits: list[dict[str, Any]]) -> str:
    """The public fields of the subjects listed under one masked id, escaped, with no script or style."""
    rows = []
    for h in hits:
        items = "".join(
            f"<li>{html.escape(r['category_title'])}: {html.escape(r['authority'])}, "
            f"{html.escape(r['decision_no'])} ({html.escape(r['decided_on'])}), "
            f"until {html.escape(str(r['valid_until'] or '-'))}</li>"
            for r in h["records"]
        )
        rows.append(
            f"<section><h1>{html.escape(h['name'])}</h1><p>{html.escape(h['id'])} ({html.escape(h['kind'])})"
            f"</p><ul>{items}</ul></section>"
        )
    return f'<!doctype html><html lang="zh"><meta charset="utf-8"><body>{"".join(rows)}</body></html>'


@router.get("/reconcile/preview", include_in_schema=False, response_class=HTMLResponse)
async def reconcile_preview(
    request: Request,
    state: StateDep,
    _limit: PublicLimit,
    id: Annotated[str, Query(min_length=2, max_length=100)],
) -> HTMLResponse:
    """An HTML preview of a candidate: what public search shows under its (masked) id. A full person's
    identifier is not an id the service hands out, so it is not found (no oracle past the budget)."""
    wanted = id.strip()
    if masked_identifier(wanted, state.settings.allowlisted_codes()) is not None:
        raise NotFoundProblem(f"id: {wanted[:6]}... is not a reconciliation id (use the masked identifier)")
    now = utcnow()

    def work() -> list[dict[str, Any]]:
        with state.db.engine.connect() as conn:
            found = search_subjects(conn, state, wanted, now, 0, 10) if len(wanted) >= 2 else []
        return [h for h in found if h["id"] == wanted]  # a name is not an id

    hits = await run_in_threadpool(work)
    await state.audit.record(
        AuditEntry(
            "public",
            "public",
            "public.reconcile",
            json.dumps({"client": client_of(request, state), "preview": wanted}, ensure_ascii=False),
            f"ok: {len(hits)} subjects",
        )
    )
    if not hits:
        raise NotFoundProblem(f"id: no listed subject under {wanted!r}")
    return HTMLResponse(_preview_html(hits))
