"""``/portal/grade``: an organisation's own grade, its explanation drawn as a waterfall chart (issue 19 point 5).

The organisation opens it with its own subject key, as ``/portal/me``; the grade comes from the JSON API
(``GET /v1/subjects/{id}/grade``, decision 0600), so the page shows exactly what the API shows that key. The
chart is an SVG drawn on the server (no script; the CSP allows no inline style, so bars are coloured by class):
the start score, one bar per point from the running total, and the final score, with the thresholds as lines.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from ..identifiers import kind_of
from ..keys import InvalidToken
from .apiclient import call_api
from .labels import category_titles
from .language import pick
from .routes import FormError, _problem_context, _read_form, _render, _state

__all__ = ["router", "waterfall"]

router = APIRouter(include_in_schema=False)

# The chart's drawing box (SVG user units); bars share the width, the height is the score range.
WIDTH, HEIGHT, TOP, BOTTOM, LEFT = 720, 300, 16, 40, 48


def waterfall(grade: dict[str, Any]) -> dict[str, Any]:
    """Bars of the waterfall: start, each point (from the running total), the final score; and threshold lines."""
    # (kind, value label, from, to, axis label): the axis names what each bar is, a record by its id.
    steps: list[tuple[str, str, float, float, str]] = [
        ("start", str(grade["start"]), 0.0, float(grade["start"]), pick("起始", "start"))
    ]
    running = float(grade["start"])
    for p in grade["points"]:
        after = running + float(p["points"])
        axis = f"#{p['record_id']}" if p.get("record_id") is not None else "—"
        steps.append(("down" if p["points"] < 0 else "up", f"{p['points']:+g}", running, after, axis))
        running = after
    steps.append(("total", f"{grade['score']:g}", 0.0, float(grade["score"]), pick("得分", "score")))
    mins = [float(t["min"]) for t in grade["thresholds"] if t["min"] is not None]
    low = min(0.0, *(min(a, b) for _, _, a, b, _ in steps))
    high = max([*mins, *(max(a, b) for _, _, a, b, _ in steps)]) or 1.0
    span = (high - low) or 1.0

    def y(v: float) -> float:
        return round(TOP + (high - v) / span * (HEIGHT - TOP - BOTTOM), 1)

    slot = (WIDTH - LEFT) / len(steps)
    bars = []
    for i, (kind, label, a, b, axis) in enumerate(steps):
        x = LEFT + i * slot + slot * 0.15
        top, bottom = y(max(a, b)), y(min(a, b))
        bars.append(
            {
                "kind": kind,
                "label": label,
                "x": round(x, 1),
                "width": round(slot * 0.7, 1),
                "y": top,
                "height": max(round(bottom - top, 1), 1.0),
                "label_x": round(x + slot * 0.35, 1),
                "label_y": round(top - 4, 1),
                "axis": axis,
                "axis_y": round(y(low) + 16, 1),
            }
        )
    lines = [
        {"grade": t["grade"], "y": y(float(t["min"]))} for t in grade["thresholds"] if t["min"] is not None
    ]
    return {"width": WIDTH, "height": HEIGHT, "left": LEFT, "bars": bars, "lines": lines, "zero": y(0.0)}


def _context(request: Request) -> dict[str, Any]:
    models = sorted(
        (code, m.title) for code, m in _state(request).catalogue.models.items() if m.kind == "organisation"
    )
    return {
        "grade": None,
        "chart": None,
        "models": models,
        "model": "",
        "error": None,
        "field_errors": [],
        "page_title": "信用评价 Grade",
    }


@router.get("/portal/grade", response_class=HTMLResponse)
async def grade_form(request: Request) -> HTMLResponse:
    """The organisation's form: its own subject key and a model."""
    return _render(request, "grade.html", _context(request), private=True)


@router.post("/portal/grade", response_class=HTMLResponse)
async def grade_submit(request: Request) -> HTMLResponse:
    """The organisation's grade via ``GET /v1/subjects/{id}/grade``, drawn as a waterfall."""
    ctx = _context(request)
    status = 200
    try:
        form = await _read_form(request)
    except FormError as exc:
        form, ctx["error"], status = {}, exc.detail, exc.status
    token, model = form.get("token", ""), form.get("model", "")
    ctx["model"] = model
    if ctx["error"] is None and not token:
        ctx["error"], status = "token: required", 422
        ctx["field_errors"] = [{"loc": ["form", "token"], "reason": "required"}]
    if ctx["error"] is None:
        state = _state(request)
        try:
            key = await run_in_threadpool(state.key_for, token)
        except InvalidToken as exc:
            key, ctx["error"], status = None, f"the key was not accepted: {exc.reason}", 401
        if key is not None and (key.role != "subject" or key.subject is None):
            ctx["error"], status = f"this page opens an organisation's own grade; {key.role} keys cannot", 403
        elif key is not None and key.subject is not None and kind_of(key.subject) != "organisation":
            # Persons are graded only by reward-only models, and none is shipped (docs/grading.md).
            ctx["error"], status = "this page grades organisations; a person's key has no grade here", 403
        elif key is not None and key.subject is not None:
            params = {"model": model} if model else None
            answer = await call_api(
                request, "GET", f"/v1/subjects/{key.subject}/grade", token=token, params=params
            )
            if answer.ok:
                cat = state.catalogue
                points = [
                    {**p, "titles": category_titles(cat, str(p["category"]))} for p in answer.body["points"]
                ]
                ctx["grade"] = {**answer.body, "points": points}
                ctx["chart"] = waterfall(answer.body)
            else:
                ctx.update(_problem_context(answer))
                status = answer.status
    return _render(request, "grade.html", ctx, status, private=True)
