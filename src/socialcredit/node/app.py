"""The check node's app: the API's own check and health routers over a :class:`NodeState`, plus ``/readyz``.

Routes, and nothing else (tests/security/test_node_routes.py): ``POST /v1/checks``, ``POST /v1/checks/batch``
(the API's code: same keys, roles, purpose rule, views and errors), ``GET /healthz``, ``GET /metrics`` (the API's
request and check metrics, and the follower's lag), ``GET /readyz`` (200 in sync and within the lag settings,
else 503 with the reason). No records, feed, portal, OpenAPI document or docs page: a node is a check endpoint
behind a load balancer, and the registry server documents the contract.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from .. import __version__
from ..api import errors
from ..api.metrics import RequestGuard
from ..api.routers import checks, health
from .follow import Follower
from .state import NodeState

__all__ = ["create_node_app"]


def create_node_app(state: NodeState, follower: Follower | None, *, freeze_gc: bool = False) -> FastAPI:
    """The node's app; its lifespan starts the auditor, the key refresh and the follower (None: no feed, for
    tests of the routes alone) and stops them."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if freeze_gc:  # the index out of the collector's full passes (as the API server does)
            gc.collect()
            gc.freeze()
        state.start()
        tasks = [asyncio.create_task(state.keys.follow(), name="node-keys")]
        if follower is not None:
            tasks.append(asyncio.create_task(follower.run(), name="node-follow"))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if follower is not None:
                await follower.close()
            state.close()

    app = FastAPI(
        title="socialcredit check node",
        version=__version__,
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.sc = state
    errors.install(app)
    app.include_router(checks.router)
    app.include_router(health.router)

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """200 when the node is in sync with the stream and within the lag settings; 503 and why not."""
        reason = state.readiness()
        body: dict[str, Any] = {
            "status": "ready" if reason is None else "not ready",
            "reason": reason,
            "last_seq": state.live.last_seq,
            "source": state.live.source,
            "lag_events": state.lag_events,
            "lag_seconds": _finite(state.lag_seconds()),
        }
        return JSONResponse(body, status_code=200 if reason is None else 503)

    app.add_middleware(RequestGuard, metrics=state.metrics)
    return app


def _finite(value: float) -> float | None:
    return None if value == float("inf") else round(value, 3)
