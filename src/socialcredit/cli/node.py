"""``socialcredit node serve``: a check node (decision 1102, docs/scale.md "Check nodes")."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from .common import EXIT_NOT_FOUND, fail, open_catalogue, open_db

__all__ = ["register"]

node_group = typer.Typer(
    help="Check nodes: serve checks from a snapshot and the NATS feed.", no_args_is_help=True
)


@node_group.command("serve")
def node_serve(
    snapshot: Annotated[Path, typer.Option(help="An index snapshot (`socialcredit snapshot create`).")],
    nats: Annotated[str, typer.Option(help="NATS server with JetStream, e.g. nats://127.0.0.1:4222.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8100,
    name: Annotated[
        str | None,
        typer.Option(
            help="This node's id: its durable consumer and audit chain; 1 to 64 letters, digits, - or _"
            " (default node-HOST-PORT, other characters of the host name as -)."
        ),
    ] = None,
    stream: Annotated[
        str | None,
        typer.Option(help="The JetStream stream of the feed (default SOCIALCREDIT_NATS_STREAM)."),
    ] = None,
    prefix: Annotated[
        str | None,
        typer.Option(help="The stream's subject prefix (default SOCIALCREDIT_NATS_SUBJECT_PREFIX)."),
    ] = None,
    log_level: Annotated[str, typer.Option(help="Log level (uvicorn's and the node's).")] = "info",
) -> None:
    """Answer /v1/checks and /v1/checks/batch from the snapshot, following the feed; /readyz, /metrics.

    Exits 2 with the reason when the snapshot is refused (another catalogue, truncated, corrupt)."""
    import uvicorn

    from ..api.http_limits import protocol_path
    from ..node import SnapshotRefused
    from ..node.chain import NODE_ID
    from ..node.serve import default_name, node_app
    from ..settings import get_settings

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not snapshot.is_file():
        fail(f"{snapshot}: no such file", EXIT_NOT_FOUND)
    if name is not None and not NODE_ID.fullmatch(name):
        fail(
            f"--name {name!r}: a node id is 1 to 64 letters, digits, '-' or '_' (it is a NATS subject token)"
        )
    settings = get_settings()
    catalogue = open_catalogue()
    db = open_db()
    try:
        app = node_app(
            snapshot,
            nats,
            name=name or default_name(port),
            db=db,
            catalogue=catalogue,
            settings=settings,
            stream=stream,
            prefix=prefix,
            freeze_gc=True,
        )
    except SnapshotRefused as exc:
        logging.getLogger("socialcredit.node").error("snapshot refused: %s", exc)
        fail(f"snapshot refused: {exc}")
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        http=protocol_path(),
        proxy_headers=False,
        forwarded_allow_ips="",
        timeout_keep_alive=settings.serve_keep_alive_timeout,
        limit_concurrency=settings.serve_limit_concurrency,
        h11_max_incomplete_event_size=settings.serve_max_header_bytes,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(node_group, name="node")
