"""``socialcredit serve``: the HTTP API on uvicorn, with the connection limits of the settings.

uvicorn is told not to read ``X-Forwarded-For`` itself (``proxy_headers=False``): by default it believes that
header from 127.0.0.1, so any local client could claim any address. The app decides who the client is, from
``SOCIALCREDIT_TRUSTED_PROXIES`` (decision 0308).
"""

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

    from ..api.http_limits import protocol_path
    from ..settings import get_settings
    from ..store import Database

    try:
        settings = get_settings()
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
        http=protocol_path(),  # uvicorn's own protocol, plus a deadline for request headers
        proxy_headers=False,
        forwarded_allow_ips="",
        timeout_keep_alive=settings.serve_keep_alive_timeout,
        limit_concurrency=settings.serve_limit_concurrency,
        h11_max_incomplete_event_size=settings.serve_max_header_bytes,
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
