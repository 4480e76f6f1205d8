"""``socialcredit serve``: the HTTP API on uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import fail

__all__ = ["register"]


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
    workers: Annotated[
        int, typer.Option(help="Worker processes (each holds its own index).", min=1, max=64)
    ] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
) -> None:
    """Serve the API: OpenAPI at /openapi.json, docs at /docs, /healthz, Prometheus metrics at /metrics."""
    import uvicorn

    from ..store import Database

    try:
        Database.open()
    except ValueError as exc:
        fail(str(exc))
    uvicorn.run(
        "socialcredit.api.app:server_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
