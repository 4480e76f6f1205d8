"""``create_app()``: the FastAPI app, its routers, error handlers, middleware and the state it holds.

Routers (one per audience or feature): records (registrars, subjects), checks (checkpoints, registrars),
subjects, public (search, catalogue), reconcile (W3C 0.2), screenings (file screening jobs), audit
(auditors), keys (admins), health (/healthz, /metrics), and feed and process (due process) when they exist
(owned by the feed area).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..anchor import publishing
from ..catalogue import Catalogue, default_catalogue
from ..settings import Settings, get_settings
from ..store import Database
from ..web.language import LanguageMiddleware
from . import errors
from .metrics import RequestGuard
from .routers import (
    audit,
    checks,
    grades,
    health,
    keys,
    public,
    reconcile,
    records,
    screenings,
    subjects,
)
from .schemas import BatchCheck, CheckQuery, Problem
from .state import AppState

log = logging.getLogger(__name__)

__all__ = ["create_app", "server_app"]

_DESCRIPTION = """\
Records of adjudicated credit findings, joint measures, explained checks.

Authenticate with `Authorization: Bearer <token>` (tokens from `socialcredit keys create`).
Roles: **registrar** (files, amends, revokes its authority's categories), **checkpoint** (checks for the
actions in its scope), **subject** (its own file), **screener** (screens files of counterparties against the
public listings, `POST /v1/screenings`), **auditor** (the audit log), **admin** (keys).
No key: public endpoints only. Registrars and checkpoints state why they read personal data in
`X-Purpose`. Every read or write of personal data is audited. Errors are RFC 9457 `application/problem+json`.
"""


def _optional_routers() -> list[Any]:
    out = []
    for name in (
        "socialcredit.api.routers.feed",
        "socialcredit.api.routers.process",
        "socialcredit.api.routers.evidence",
        "socialcredit.api.routers.reports",
        "socialcredit.api.routers.screening_watch",
    ):
        try:
            out.append(importlib.import_module(name).router)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return out


def create_app(
    db: Database | None = None,
    catalogue: Catalogue | None = None,
    settings: Settings | None = None,
    *,
    freeze_gc: bool = False,
    expiry_every: float | None = None,
) -> FastAPI:
    """The app over ``db`` (default: the configured database) and ``catalogue`` (default: the shipped one).

    ``freeze_gc``: at startup, move everything alive (the index above all) out of the cyclic garbage
    collector, whose full passes over a large index otherwise show up as tail latency. For a server process,
    not for tests that build many apps in one process (frozen objects are never collected as cycles).
    ``expiry_every``: seconds between sweeps that append ``expired`` events for records past their end (the server
    runs one so expiry is announced within a minute; checks are exact without it)."""
    settings = settings or get_settings()
    db = db or Database.open(settings.database_url)
    catalogue = catalogue or default_catalogue()
    state = AppState.build(db, catalogue, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if freeze_gc:
            gc.collect()
            gc.freeze()
        state.start()
        sweeper = asyncio.create_task(_sweep_expiry(state, expiry_every)) if expiry_every else None
        async with publishing(state):  # signed audit heads: at start, every minute, on shutdown (0313)
            yield
        if sweeper is not None:
            sweeper.cancel()
        await state.stop()

    app = FastAPI(
        title="socialcredit",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served below from the package's own copy of Swagger UI (decision 0106)
        redoc_url=None,  # ReDoc would load from a CDN: not offered
    )
    app.state.sc = state
    errors.install(app)
    for module in (records, checks, subjects, grades, public, reconcile, screenings, audit, keys, health):
        app.include_router(module.router)
    for router in _optional_routers():
        app.include_router(router)
    from ..web import routes as web  # the portal (HTML pages); imported here as it imports the API

    # Reports' pages first: the portal's router ends in a catch-all for unknown /portal paths (its 404 page).
    app.include_router(importlib.import_module("socialcredit.web.verify").router)  # reports: decision 0605
    app.include_router(importlib.import_module("socialcredit.web.grade").router)  # grades: issue 19 point 5
    app.include_router(importlib.import_module("socialcredit.web.self_service").router)  # decision 0615
    app.include_router(importlib.import_module("socialcredit.web.lists").router)  # lists, subjects: issue 18
    app.include_router(importlib.import_module("socialcredit.web.stats").router)  # statistics: issue 18
    app.include_router(web.router)
    from ..console import router as console_router  # the officer console (HTML), after the API it reuses

    app.include_router(console_router)
    app.mount("/static", StaticFiles(directory=web.STATIC_DIR), name="static")
    app.add_api_route("/docs", _swagger_ui, include_in_schema=False)
    app.add_middleware(LanguageMiddleware)  # the pages' ?lang= and lang cookie (decision 0620)
    app.add_middleware(
        RequestGuard,
        metrics=state.metrics,
        limits={"/v1/screenings": settings.screening_max_upload_bytes},  # uploads: decision 0910
    )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            comps = schema.setdefault("components", {}).setdefault("schemas", {})
            # Problem documents every error; the check bodies are parsed by hand on the hot path (checks.py).
            for model in (Problem, CheckQuery, BatchCheck):
                doc = model.model_json_schema(ref_template="#/components/schemas/{model}")
                comps.update(doc.pop("$defs", {}))
                comps[model.__name__] = doc
            app.openapi_schema = errors.document_problems(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


async def _swagger_ui() -> HTMLResponse:
    """The API docs, with every asset from ``/static`` (vendored): they work offline and name no other host."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="socialcredit API",
        swagger_js_url="/static/swagger-ui-bundle.js",
        swagger_css_url="/static/swagger-ui.css",
        swagger_favicon_url="/static/swagger-ui-favicon-32x32.png",
        oauth2_redirect_url=None,
        swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from the public validator
    )


async def _sweep_expiry(state: AppState, every: float) -> None:
    from ..process.expiry import expire_due

    while True:
        await asyncio.sleep(every)
        try:
            await asyncio.wrap_future(
                state.audit.run(lambda: expire_due(state.db.engine, dt.datetime.now(dt.UTC)))
            )
            await state.refresh_now()
        except Exception:  # a failed sweep is retried at the next tick; checks never depended on it
            log.exception("expiry sweep failed")


def server_app() -> FastAPI:
    """The uvicorn factory of ``socialcredit serve``: the configured app, collector frozen at startup, and
    an expiry sweep every 20 seconds."""
    return create_app(freeze_gc=True, expiry_every=20.0)
