"""The portal: server-rendered HTML pages for the public, checkpoint operators and subjects.

Pages: ``/`` (home and public search box), ``/portal/search`` (public search; an htmx request gets only
the results fragment), ``/portal/check`` (a checkpoint operator's check), ``/portal/me`` (a subject's own
file: :mod:`.self_service`) and ``/portal/catalogue`` (memoranda, measures, categories). Personal data
comes only through the JSON API (:mod:`.apiclient`), so every audience sees exactly what the API shows it.
Tokens travel only in POST bodies: never in a URL, never echoed back into a page, never logged. Pages showing
personal data are ``no-store``. Every page works without JavaScript; htmx only swaps fragments in place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from ..api.routers.public import MAX_PAGES, PAGE_SIZE
from ..api.state import AppState
from . import language
from .apiclient import ApiAnswer, call_api
from .labels import (
    EFFECTS,
    ERRORS,
    LISTS,
    PROTECTED_RIGHTS,
    STATUSES,
    VIA,
    action_names,
    authority_names,
    category_titles,
    local_minute,
    measure_titles,
    note_names,
    rights_for,
)

__all__ = ["STATIC_DIR", "TEMPLATES_DIR", "router"]

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
MIN_QUERY = 2
MAX_QUERY = 100
FORM_LIMIT = 8192  # bytes: the largest form is a token, a purpose, a subject, an action and a date

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.globals.update(
    STATUSES=STATUSES,
    LISTS=LISTS,
    EFFECTS=EFFECTS,
    PROTECTED_RIGHTS=PROTECTED_RIGHTS,
    MAX_PAGES=MAX_PAGES,
    VIA=VIA,
    ERRORS=ERRORS,
)
# The one name of the site, in the tab title and the header alike.
BRAND = ("信用记录登记", "Credit records registry")
templates.env.globals["BRAND"] = BRAND
language.install(templates.env)
# The header the search box's as-you-type requests carry (and the portal passes on to the API): they are
# counted against the typeahead budget, not the public rate limit (decision 0603).
TYPEAHEAD_HEADER = "X-Typeahead"

# Scripts and styles only from this origin (htmx is vendored), no framing, no referrer leaking a query.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Vary": "HX-Request",
}


class FormError(Exception):
    """A form that cannot be read at all (too large, wrong encoding)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _state(request: Request) -> AppState:
    """The API's app state (the portal reads only its catalogue and its key authentication)."""
    state: AppState = request.app.state.sc
    return state


def _is_fragment(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true" and request.headers.get(
        "HX-History-Restore-Request"
    ) != ("true")


def _render(
    request: Request, template: str, context: dict[str, Any], status: int = 200, private: bool = False
) -> HTMLResponse:
    if context.get("error") and not context.get("error_status"):
        context = {**context, "error_status": status}  # the portal's own errors get their kind named too
    resp = templates.TemplateResponse(request, template, context, status_code=status)
    resp.headers.update(_SECURITY_HEADERS)
    resp.headers["Cache-Control"] = "no-store" if private else "no-cache"
    return resp


async def _read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict (first value of each field wins)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise FormError(415, f"expected a form (application/x-www-form-urlencoded), got {ctype or 'nothing'}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            raise FormError(413, f"the form is larger than {FORM_LIMIT} bytes")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, max_num_fields=20, strict_parsing=False
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormError(400, f"the form could not be read: {exc}") from None
    out: dict[str, str] = {}
    for name, value in pairs:
        out.setdefault(name, value.strip())
    return out


def _problem_context(answer: ApiAnswer) -> dict[str, Any]:
    return {"error": answer.detail, "field_errors": answer.field_errors, "error_status": answer.status}


# -- public --------------------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> HTMLResponse:
    """What the registry is, the public search box and the way to every other page."""
    cat = _state(request).catalogue
    return _render(
        request,
        "home.html",
        {"q": "", "catalogue_version": cat.version, "memoranda": len(cat.memoranda), "page_title": None},
    )


def _page_number(raw: str) -> int | None:
    try:
        page = int(raw)
    except ValueError:
        return None
    return page if 1 <= page <= MAX_PAGES else None


@router.get("/portal/search", response_class=HTMLResponse)
async def search(request: Request, q: str = "", page: str = "1") -> HTMLResponse:
    """Published listings in force by name or full identifier (via ``GET /v1/public/search``)."""
    query = q.strip()
    ctx: dict[str, Any] = {
        "q": query,
        "page": 1,
        "results": None,
        "error": None,
        "hint": None,
        "page_title": "公示查询 Search",
    }
    status = 200
    number = _page_number(page)
    if number is None:
        ctx["error"], status = f"page: {page[:20]!r} is not a page number from 1 to {MAX_PAGES}", 422
    elif len(query) < MIN_QUERY:
        # Not sent to the API: a one-letter query would list everyone (and the API refuses it anyway).
        ctx["hint"] = True
    elif len(query) > MAX_QUERY:
        ctx["error"], status = f"q: at most {MAX_QUERY} characters (got {len(query)})", 422
    else:
        ctx["page"] = number
        typeahead = _is_fragment(request) and request.headers.get(TYPEAHEAD_HEADER) == "1"
        answer = await call_api(
            request,
            "GET",
            "/v1/public/search",
            params={"q": query, "page": number},
            extra_headers={TYPEAHEAD_HEADER: "1"} if typeahead else None,
        )
        if answer.ok:
            ctx["results"] = await run_in_threadpool(_results_view, request, answer.body)
            ctx["last_page"] = number >= MAX_PAGES
        else:
            ctx.update(_problem_context(answer))
            status = answer.status
    ctx["page_size"] = PAGE_SIZE
    template = "_results.html" if _is_fragment(request) else "search.html"
    return _render(request, template, ctx, status)


def _results_view(request: Request, page: dict[str, Any]) -> dict[str, Any]:
    """The API's search page with each record's category and authority named in both languages (the API
    gives the authority by its Chinese name)."""
    cat = _state(request).catalogue
    english = {a.name: a.name_en or a.name for a in cat.authorities.values()}
    from .lists import refs_by_shown  # the subject pages' references (lists imports this module)

    refs = refs_by_shown(request)
    hits = [
        {
            **hit,
            "ref": refs.get((str(hit.get("id")), str(hit.get("name")))),
            "records": [
                {
                    **r,
                    "category_titles": category_titles(cat, str(r.get("category"))),
                    "authority_names": (
                        str(r.get("authority")),
                        english.get(str(r.get("authority")), r.get("authority")),
                    ),
                }
                for r in hit.get("records", [])
            ],
        }
        for hit in page.get("results", [])
    ]
    return {**page, "results": hits}


@router.get("/portal/catalogue", response_class=HTMLResponse)
async def catalogue_page(request: Request) -> HTMLResponse:
    """The catalogue in force: memoranda and their measures, record categories, protected actions."""
    cat = _state(request).catalogue
    memoranda = sorted(cat.memoranda.values(), key=lambda m: (m.date, m.code))
    return _render(
        request,
        "catalogue.html",
        {
            "cat": cat,
            "memoranda": memoranda,
            "categories": list(cat.categories.values()),
            "authority_names": lambda code: authority_names(cat, code),
            "action_names": lambda code: action_names(cat, code),
            "page_title": "措施目录 Catalogue",
        },
    )


# -- checkpoint ----------------------------------------------------------------------------------------------


def _check_context(request: Request) -> dict[str, Any]:
    cat = _state(request).catalogue
    return {
        "actions": sorted((code, action_names(cat, code)) for code in cat.actions),
        "form": {},
        "decision": None,
        "error": None,
        "field_errors": [],
        "page_title": "核查 Checkpoint check",
    }


@router.get("/portal/check", response_class=HTMLResponse)
async def check_form(request: Request) -> HTMLResponse:
    """The checkpoint operator's form (token, purpose, subject, action, optional date)."""
    return _render(request, "check.html", _check_context(request), private=True)


@router.post("/portal/check", response_class=HTMLResponse)
async def check_submit(request: Request) -> HTMLResponse:
    """Forward the check to ``POST /v1/checks`` with the operator's own token; show decision and reasons."""
    ctx = _check_context(request)
    status = 200
    try:
        form = await _read_form(request)
    except FormError as exc:
        form, ctx["error"], status = {}, exc.detail, exc.status
    ctx["form"] = {k: form.get(k, "") for k in ("purpose", "subject", "action", "at")}  # never the token
    if ctx["error"] is None:
        missing = [name for name in ("token", "purpose", "subject", "action") if not form.get(name)]
        if missing:
            ctx["error"] = "required: " + ", ".join(missing)
            ctx["field_errors"] = [{"loc": ["form", m], "reason": "required"} for m in missing]
            status = 422
        else:
            body = {"subject": form["subject"], "action": form["action"]}
            if form.get("at"):
                body["at"] = form["at"]
            answer = await call_api(
                request, "POST", "/v1/checks", token=form["token"], purpose=form["purpose"], json=body
            )
            if answer.ok:
                ctx["decision"] = _decision_view(request, answer.body)
            else:
                ctx.update(_problem_context(answer))
                status = answer.status
    template = "_decision.html" if _is_fragment(request) else "check.html"
    return _render(request, template, ctx, status, private=True)


def _decision_view(request: Request, decision: dict[str, Any]) -> dict[str, Any]:
    """The API decision, every field of it (a registrar's full Decision keeps its record, category, ``via``,
    ``withheld`` and notes), with memoranda, measures, departments, categories and instants named for people."""
    cat = _state(request).catalogue
    effects = decision.get("effects", [])
    reasons = []
    for r in decision.get("reasons", []):
        memo = cat.memoranda.get(str(r.get("memorandum")))
        reasons.append(
            {
                **r,
                # A checkpoint's reasons carry no ``withheld``; the decision's effects are exactly the effects
                # not withheld (only red-list benefits are, and then all of them), so it is read from them.
                "withheld": bool(r.get("withheld", r.get("effect") not in effects)),
                "memorandum_titles": (memo.title, memo.title_en or memo.title) if memo else None,
                "document_no": memo.document_no if memo else None,
                "unverified": memo.unverified if memo else (),
                "measure_titles": measure_titles(cat, str(r.get("memorandum")), str(r.get("measure"))),
                "department_names": authority_names(cat, str(r.get("department"))),
                "category_titles": category_titles(cat, str(r["category"])) if "category" in r else None,
                "valid_until_local": local_minute(r.get("valid_until")),
            }
        )
    return {
        **decision,
        "reasons": reasons,
        "full": "known" in decision,  # a registrar's Decision (a checkpoint's has no file-level fields)
        "as_of_local": local_minute(decision.get("as_of")),
        "action_names": action_names(cat, str(decision.get("action"))),
        "notes": [note_names(str(n)) for n in decision.get("notes", [])],
    }


# -- subject -------------------------------------------------------------------------------------------------


def _file_view(request: Request, subject: dict[str, Any]) -> dict[str, Any]:
    cat = _state(request).catalogue
    records = []
    for r in subject.get("records", []):
        category = cat.categories.get(str(r.get("category")))
        records.append(
            {
                **r,
                "category_titles": category_titles(cat, str(r.get("category"))),
                "list": category.list if category else None,
                "authority_names": authority_names(cat, str(r.get("authority"))),
                "valid_until_local": local_minute(r.get("valid_until")),
                "ended_at_local": local_minute(r.get("ended_at")),
                "rights": rights_for(cat, r),
            }
        )
    order = {"in_force": 0, "notified": 1, "suspended": 2, "pending": 3}
    records.sort(key=lambda r: (order.get(str(r.get("display_status")), 9), -int(r.get("id", 0))))
    return {**subject, "records": records}


# -- errors --------------------------------------------------------------------------------------------------


@router.api_route("/portal", methods=["GET", "HEAD", "POST"], response_class=HTMLResponse)
@router.api_route("/portal/{rest:path}", methods=["GET", "HEAD", "POST"], response_class=HTMLResponse)
async def not_found(request: Request) -> HTMLResponse:
    """Any other path under /portal: a page saying so, in both languages (the API's /v1 paths keep their
    problem+json). Registered last, so every real page is matched first."""
    return _render(request, "error.html", {"page_title": "页面不存在 Not found", "status": 404}, status=404)
