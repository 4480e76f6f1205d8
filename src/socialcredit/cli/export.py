"""``socialcredit export``: the public lists for other tools (docs/exports.md, decision 0904)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from ..export import FORMATS
from ..export.output import Refused, check_targets, companions
from ..export.run import run_export
from ..settings import get_settings
from .common import audit_cli, err_console, fail, open_catalogue, open_db, option_instant, utcnow

__all__ = ["register"]


def export(
    format_: Annotated[
        str,
        typer.Option("--format", help="ftm (FollowTheMoney JSON lines), csv or parquet.", show_default=False),
    ],
    out: Annotated[
        str,
        typer.Option(
            "--out", help="File to write, or - for standard output (ftm and csv).", show_default=False
        ),
    ],
    at: Annotated[
        str | None,
        typer.Option("--at", help="The lists as of this instant (ISO date or datetime; default now)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace files that exist.")] = False,
) -> None:
    """Export the public lists: published records in force of public categories, identity numbers masked.

    csv and parquet also write OUT.dictionary.csv (the columns) and OUT.measures.csv (the measures) beside it."""
    fmt = format_.strip().lower()
    if fmt not in FORMATS:
        fail(f"--format: {format_!r}: expected one of {', '.join(FORMATS)}")
    started = utcnow()
    as_of = option_instant(at, "--at") or started
    to_stdout = out == "-"
    if to_stdout and fmt == "parquet":
        fail("--out: parquet is a binary file; give a file name")
    path = Path(out)
    beside = [] if to_stdout or fmt == "ftm" else list(companions(path))
    try:
        check_targets(([] if to_stdout else [path]) + beside, force)
    except Refused as exc:
        fail(str(exc))
    cat = open_catalogue()
    db = open_db()
    target = f"format:{fmt} at:{as_of.isoformat()} out:{'stdout' if to_stdout else path.resolve()}"
    try:
        done = run_export(
            db.engine,
            cat,
            fmt,
            None if to_stdout else path,
            as_of,
            get_settings().lookup_hash_key_file,
            started,
        )
    except (OSError, SQLAlchemyError) as exc:
        # Names were read, and perhaps some written, before the failure: the attempt is audited too.
        audit_cli(db.engine, "export.public_lists", target, f"error: {type(exc).__name__}")
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0]
        fail(f"{out}: {reason}")
    unit = "entities" if fmt == "ftm" else "rows"
    audit_cli(
        db.engine,
        "export.public_lists",
        target,
        f"ok: {done.records} records, {done.units} {unit}, sha256:{done.sha256}",
    )
    if not to_stdout:
        err_console.print(
            f"{done.records} records, {done.units} {unit} written to {path}"
            + (f" (data dictionary {beside[0].name}, measures {beside[1].name})" if beside else ""),
            markup=False,
            soft_wrap=True,
        )


def register(app: typer.Typer) -> None:
    app.command("export")(export)
