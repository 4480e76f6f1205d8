"""``socialcredit snapshot``: the engine's index as one file for check nodes (docs/scale.md, decision 1101)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from .common import EXIT_NOT_FOUND, audit_cli, console, fail, open_catalogue, open_db

__all__ = ["register"]

snapshot_group = typer.Typer(
    help="Index snapshots for check nodes: create and inspect.", no_args_is_help=True
)


@snapshot_group.command("create")
def snapshot_create(
    out: Annotated[Path, typer.Argument(help="The file to write (replaced whole, never half-written).")],
    all_history: Annotated[
        bool,
        typer.Option(
            "--all-history", help="Keep records that ended over 366 days ago too (default: as the API does)."
        ),
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it exists.")] = False,
) -> None:
    """Write the index at the registry's newest event; prints the header (seq: the feed's event_id)."""
    from ..node import create_snapshot
    from ..node.create import HISTORY

    if out.exists() and not force:
        fail(f"{out}: exists (--force replaces it)")
    if not out.parent.is_dir():
        fail(f"{out.parent}: no such directory", EXIT_NOT_FOUND)
    db = open_db()
    catalogue = open_catalogue()
    try:
        header = create_snapshot(db.engine, catalogue, out, history=None if all_history else HISTORY)
    except (OSError, SQLAlchemyError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0]
        fail(f"{out}: {reason}")
    # Every listed subject id is in the file: the bulk read is audited like an export.
    audit_cli(
        db.engine,
        "snapshot.create",
        str(out),
        f"ok: seq {header.seq}, {header.counts['entries']} entries, sha256:{header.body_sha256}",
        dt.datetime.now(dt.UTC),
    )
    console.print_json(header.model_dump_json())


@snapshot_group.command("inspect")
def snapshot_inspect(file: Annotated[Path, typer.Argument(help="A snapshot file.")]) -> None:
    """Print a snapshot's header once its checksums hold; exit 2 with the reason if they do not."""
    from ..node import SnapshotRefused, read_header

    if not file.is_file():
        fail(f"{file}: no such file", EXIT_NOT_FOUND)
    try:
        header = read_header(file)
    except SnapshotRefused as exc:
        fail(str(exc))
    body = header.model_dump()
    body["checksums"] = "ok"
    console.print_json(json.dumps(body, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    app.add_typer(snapshot_group, name="snapshot")
