"""Liveness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from ..deps import StateDep

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz(state: StateDep) -> dict[str, Any]:
    """Up, with the catalogue version and the newest record event the checker has applied."""
    return {"status": "ok", "catalogue_version": state.catalogue.version, "last_seq": state.checker.last_seq}


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Prometheus text format",
        }
    },
)
async def metrics(state: StateDep) -> Response:
    """Request counts and latencies by route, and checks by outcome."""
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
