"""The public lists by category, their CSV export, and a listed subject's public page (issue 18 point 1).

``/portal/lists`` names each public category with how many records are published now; ``/portal/lists/{code}``
pages through them, filtered by region (a code prefix), authority and decision dates, and ``?format=csv``
exports exactly the page shown. ``/portal/subjects/{ref}`` shows a listed subject's published records and their
public history. Everything comes from :class:`..api.public_lists.Listings`, the records public search shows
(decision 0611); subjects are named by a keyed reference, never by their identifier (decision 0612).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from ..api.public_lists import Listed, Listing, Listings
from ..api.state import AppState
from ..api.views import record_out
from ..registry.state import RecordState, local_date
from ..store.tables import record_events, records
from ..store.tables_process import objections
from .labels import authority_names, category_titles, rights_for
from .routes import _render, _state

__all__ = ["LIST_PAGE_SIZE", "MAX_LIST_PAGE", "escape_cell", "listing_of", "refs_by_shown", "router"]

router = APIRouter(include_in_schema=False)
LIST_PAGE_SIZE = 50
MAX_LIST_PAGE = 10_000
_REGION = re.compile(r"^\d{2,6}$")
_REF = re.compile(r"^[0-9a-f]{32}$")
_CSV_HEADER = [
    "名称 name",
    "证件号码(脱敏) masked id",
    "类别 category",
    "公布机关 authority",
    "地区 region",
    "文书编号 decision no.",
    "决定日期 decided on",
    "有效期至 in force until",
]


def escape_cell(value: str) -> str:
    """A CSV cell a spreadsheet will not run: one starting with = + - @ (or a tab or CR) gets a leading '."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def listing_of(request: Request) -> Listing:
    """The snapshot of published records (built in a worker thread by the caller)."""
    state = _state(request)
    cache: Listings | None = getattr(request.app.state, "portal_listings", None)
    if cache is None:
        cache = request.app.state.portal_listings = Listings()
    now = dt.datetime.now(dt.UTC)
    with state.db.engine.connect() as conn:
        return cache.get(conn, state.catalogue, state.lookups, now)


def refs_by_shown(request: Request) -> dict[tuple[str, str], str]:
    """Each listed subject's reference by (masked id, name), as search shows them; a pair two subjects share
    links to neither (search results carry no canonical id)."""
    out: dict[tuple[str, str], str | None] = {}
    for r in listing_of(request).records:
        key = (r.masked_id, r.name)
        out[key] = r.ref if out.get(key, r.ref) == r.ref else None
    return {k: v for k, v in out.items() if v is not None}


def _not_found(request: Request) -> HTMLResponse:
    return _render(request, "error.html", {"page_title": "页面不存在 Not found", "status": 404}, status=404)


@router.get("/portal/lists", response_class=HTMLResponse)
async def lists_index(request: Request) -> HTMLResponse:
    """The public categories, each with the number of records published now."""
    cat = _state(request).catalogue
    counts = (await run_in_threadpool(listing_of, request)).counts()
    rows = [
        {"code": code, "list": c.list, "titles": category_titles(cat, code), "count": counts.get(code, 0)}
        for code, c in cat.categories.items()
        if c.public
    ]
    return _render(request, "lists.html", {"rows": rows, "page_title": "名单 Lists"})


def _date_field(name: str, raw: str, errors: list[dict[str, Any]]) -> dt.date | None:
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        errors.append({"loc": ["query", name], "reason": "not a date (YYYY-MM-DD)", "value": raw[:40]})
        return None


def _bad(name: str, reason: str, value: str) -> dict[str, Any]:
    return {"loc": ["query", name], "reason": reason, "value": value[:40]}


def _filters(request: Request, q: dict[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The filters of a list page, read and checked: each bad one becomes an error naming field and value."""
    cat = _state(request).catalogue
    errors: list[dict[str, Any]] = []
    region, authority = q.get("region", "").strip(), q.get("authority", "").strip()
    if region and not _REGION.match(region):
        errors.append(
            {"loc": ["query", "region"], "reason": "2 to 6 digits of a region code", "value": region[:40]}
        )
    if authority and authority not in cat.authorities:
        errors.append(_bad("authority", "not an authority of the catalogue", authority))
    since = _date_field("from", q.get("from", "").strip(), errors)
    until = _date_field("to", q.get("to", "").strip(), errors)
    if since and until and since > until:
        errors.append({"loc": ["query", "to"], "reason": "before 'from'", "value": until.isoformat()})
    raw_page = q.get("page", "1").strip() or "1"
    page = int(raw_page) if raw_page.isdigit() and len(raw_page) <= 6 else 0
    if not 1 <= page <= MAX_LIST_PAGE:
        errors.append(_bad("page", f"a page number from 1 to {MAX_LIST_PAGE}", raw_page))
        page = 1
    fmt = q.get("format", "html")
    if fmt not in ("html", "csv"):
        errors.append({"loc": ["query", "format"], "reason": "html or csv", "value": fmt[:20]})
    return {
        "region": region,
        "authority": authority,
        "from": since,
        "to": until,
        "page": page,
        "format": fmt,
    }, errors


def _matches(r: Listed, f: dict[str, Any]) -> bool:
    if f["region"] and not (r.region_code or "").startswith(f["region"]):
        return False
    if f["authority"] and r.state.authority != f["authority"]:
        return False
    if f["from"] and r.state.decided_on < f["from"]:
        return False
    return not (f["to"] and r.state.decided_on > f["to"])


def _row(request: Request, r: Listed) -> dict[str, Any]:
    cat = _state(request).catalogue
    until = r.state.valid_until
    return {
        "name": r.name,
        "id": r.masked_id,
        "kind": r.kind,
        "ref": r.ref,
        "region": r.region or "",
        "category": r.state.category,
        "category_titles": category_titles(cat, r.state.category),
        "authority_names": authority_names(cat, r.state.authority),
        "decision_no": r.state.decision_no,
        "decided_on": r.state.decided_on.isoformat(),
        "valid_until": None if until is None else (local_date(until) - dt.timedelta(days=1)).isoformat(),
    }


def _csv(rows: list[dict[str, Any]], category: str, page: int) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_CSV_HEADER)
    for r in rows:
        cells = [
            r["name"],
            r["id"],
            r["category_titles"][1],
            r["authority_names"][1],
            r["region"],
            r["decision_no"],
            r["decided_on"],
            r["valid_until"] or "until performed",
        ]
        writer.writerow([escape_cell(str(c)) for c in cells])
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", category)
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{safe}-page{page}.csv"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
        },
    )


@router.get("/portal/lists/{category}", response_class=HTMLResponse)
async def list_page(request: Request, category: str) -> Response:
    """One public category's published records, newest decision first, filtered, 50 a page (or as CSV)."""
    cat = _state(request).catalogue
    c = cat.categories.get(category)
    if c is None or not c.public:
        return _not_found(request)
    f, errors = _filters(request, dict(request.query_params))
    ctx: dict[str, Any] = {
        "category": category,
        "list": c.list,
        "titles": category_titles(cat, category),
        "filters": {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in f.items()},
        "authorities": sorted((a, authority_names(cat, a)) for a in c.authorities),
        "rows": [],
        "page": f["page"],
        "has_more": False,
        "error": None,
        "field_errors": errors,
        "page_title": f"{c.title} {c.title_en or ''}".strip(),
    }
    if errors:
        ctx["error"] = "; ".join(f"{e['loc'][1]}: {e['reason']} (got {e['value']!r})" for e in errors)
        return _render(request, "list.html", ctx, status=422)
    listing = await run_in_threadpool(listing_of, request)
    rows = listing.of_category(category)
    filtered = any(f[k] for k in ("region", "authority", "from", "to"))
    shown = [r for r in rows if _matches(r, f)] if filtered else rows
    start = (f["page"] - 1) * LIST_PAGE_SIZE
    ctx["rows"] = [_row(request, r) for r in shown[start : start + LIST_PAGE_SIZE]]
    ctx["has_more"] = len(shown) > start + LIST_PAGE_SIZE
    ctx["total"] = len(shown)
    if f["format"] == "csv":
        return _csv(ctx["rows"], category, f["page"])
    query = {k: ctx["filters"][k] for k in ("region", "authority", "from", "to") if ctx["filters"][k]}
    ctx["query"] = query
    return _render(request, "list.html", ctx)


# -- a listed subject ----------------------------------------------------------------------------------------


def _history(request: Request, sid: str) -> list[dict[str, Any]]:
    """The public history of the subject's records of public categories: upheld objections, repairs,
    revocations (a revoked or repaired record itself is no longer published; that it ended is)."""
    state: AppState = _state(request)
    cat = state.catalogue
    public = [c for c, category in cat.categories.items() if category.public]
    out: list[dict[str, Any]] = []
    with state.db.engine.connect() as conn:
        record_ids = list(
            conn.execute(
                select(records.c.id).where(records.c.subject_id == sid, records.c.category.in_(public))
            ).scalars()
        )
        for rid, decided_at, remedy in conn.execute(
            select(objections.c.record_id, objections.c.decided_at, objections.c.remedy).where(
                objections.c.record_id.in_(record_ids), objections.c.status == "upheld"
            )
        ):
            out.append({"record": rid, "what": "objection_upheld", "remedy": remedy, "at": decided_at})
        for rid, typ, at, body in conn.execute(
            select(
                record_events.c.record_id,
                record_events.c.type,
                record_events.c.recorded_at,
                record_events.c.state,
            ).where(
                record_events.c.record_id.in_(record_ids), record_events.c.type.in_(("repaired", "revoked"))
            )
        ):
            st = RecordState.from_json(body)
            out.append(
                {
                    "record": rid,
                    "what": typ,
                    "remedy": None,
                    "at": at,
                    "category_titles": category_titles(cat, st.category),
                }
            )
    for h in out:
        h["on"] = local_date(h["at"]).isoformat() if h["at"] else ""
    return sorted(out, key=lambda h: h["on"], reverse=True)


def _subject_view(request: Request, listing: Listing, sid: str) -> dict[str, Any]:
    cat = _state(request).catalogue
    now = dt.datetime.now(dt.UTC)
    mine = listing.of_subject(sid)
    records = []
    for r in mine:
        s = r.state
        c = cat.categories[s.category]
        measures = [
            {
                "memo": (m.title, m.title_en or m.title),
                "titles": (x.title_zh or x.title, x.title),
                "department": authority_names(cat, x.department),
                "effect": x.effect,
                "basis": x.legal_basis,
            }
            for m in cat.memoranda.values()
            if s.category in m.triggers
            for x in m.measures
        ]
        records.append(
            {
                **_row(request, r),
                "legal_basis": s.legal_basis or c.legal_basis,
                "list": c.list,
                "effective_from": local_date(s.effective_from).isoformat(),
                "measures": measures,
                "rights": rights_for(cat, record_out(s, now)),
            }
        )
    first = mine[0]
    return {
        "name": first.name,
        "id": first.masked_id,
        "kind": first.kind,
        "region": first.region,
        "records": records,
        "history": _history(request, sid),
    }


@router.get("/portal/subjects/{ref}", response_class=HTMLResponse)
async def subject_page(request: Request, ref: str) -> HTMLResponse:
    """A listed subject's published records and public history, by its keyed reference."""
    if not _REF.match(ref):
        return _not_found(request)
    listing = await run_in_threadpool(listing_of, request)
    sid = listing.by_ref.get(ref)
    if sid is None:
        return _not_found(request)
    view = await run_in_threadpool(_subject_view, request, listing, sid)
    return _render(request, "subject.html", {"subject": view, "page_title": view["name"]})
