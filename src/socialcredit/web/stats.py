"""``/portal/stats``: the registry's public figures as server-drawn SVG bar charts, each with a data table
(issue 18 point 1, decision 0613). No script, no CDN: every chart is plain SVG with ``<title>`` and ``<desc>``.

Figures cover public categories only: records by category and month filed, published records by region,
filings, repairs and expiries by month, and measures in force by department.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from ..registry.state import local_date
from ..store.tables import record_events, records
from .labels import authority_names, category_titles
from .lists import listing_of
from .routes import _render, _state

__all__ = ["bars", "router"]

router = APIRouter(include_in_schema=False)
_MONTHS = 12


def bars(rows: list[tuple[str, int]], width: int = 340) -> dict[str, Any]:
    """Horizontal bars (label, value) laid out for an SVG ``width`` wide (fits 375 px)."""
    top = max((v for _, v in rows), default=0) or 1
    return {
        "width": width,
        "height": 22 * len(rows) + 4,
        "bars": [
            {"label": label, "value": v, "y": 22 * i + 2, "w": round((width - 150) * v / top)}
            for i, (label, v) in enumerate(rows)
        ],
    }


def _figures(request: Request) -> dict[str, Any]:
    state = _state(request)
    cat = state.catalogue
    public = [c for c, category in cat.categories.items() if category.public]
    listing = listing_of(request)
    filed: dict[tuple[str, str], int] = {}
    flows: dict[tuple[str, str], int] = {}
    with state.db.engine.connect() as conn:
        q = (
            select(record_events.c.type, record_events.c.recorded_at, records.c.category)
            .join(records, records.c.id == record_events.c.record_id)
            .where(records.c.category.in_(public), record_events.c.type.in_(("filed", "repaired", "expired")))
        )
        for typ, at, category in conn.execute(q):
            month = local_date(at).strftime("%Y-%m")
            if typ == "filed":
                filed[(month, category)] = filed.get((month, category), 0) + 1
            flows[(month, typ)] = flows.get((month, typ), 0) + 1
    months = sorted({m for m, _ in filed} | {m for m, _ in flows})[-_MONTHS:]
    by_cat = [(f"{m} {category_titles(cat, c)[1]}", n) for (m, c), n in sorted(filed.items()) if m in months]
    regions: dict[str, int] = {}
    departments: dict[str, int] = {}
    for r in listing.records:
        regions[r.region or "—"] = regions.get(r.region or "—", 0) + 1
        for memo in cat.memoranda.values():
            if r.state.category in memo.triggers:
                for m in memo.measures:
                    departments[m.department] = departments.get(m.department, 0) + 1
    ranked = sorted(regions.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
    names = {"filed": "listings", "repaired": "repairs", "expired": "expiries"}
    flow_rows = [
        (f"{m} {names[t]}", flows.get((m, t), 0)) for m in months for t in ("filed", "repaired", "expired")
    ]
    dept = sorted(
        ((" ".join(dict.fromkeys(authority_names(cat, d))), n) for d, n in departments.items()),
        key=lambda kv: (-kv[1], kv[0]),
    )[:20]
    return {
        "charts": [
            {"id": "by-category", "zh": "按类别和月份的记录数", "en": "Records by category and month filed",
             "rows": by_cat},
            {"id": "by-region", "zh": "按地区的公示记录数", "en": "Published records by region", "rows": ranked},
            {"id": "flows", "zh": "列入、信用修复与到期", "en": "Listings, repairs and expiries by month",
             "rows": flow_rows},
            {"id": "by-department", "zh": "按部门的现行措施", "en": "Measures in force by department", "rows": dept},
        ]
    }  # fmt: skip


@router.get("/portal/stats", response_class=HTMLResponse)
async def stats_page(request: Request) -> HTMLResponse:
    """The public figures as SVG charts with their data tables."""
    figures = await run_in_threadpool(_figures, request)
    for c in figures["charts"]:
        c["svg"] = bars(c["rows"])
    return _render(request, "stats.html", {**figures, "page_title": "统计 Statistics"})
