"""``socialcredit screen INPUT --out OUTPUT``: screen a file of counterparties by identifier and by name.

Runs as the registry operator, like ``check``, and is audited (file digest, rows, hits; actor ``cli:<user>``).
Exit 0 when done, whatever was found; 2 on bad input with a one-line reason naming the file.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from .. import audit
from ..audit import AuditEntry
from ..engine import UnknownAction
from ..registry import parse_instant
from ..screening.files import ScreenInputError
from ..screening.run import HIT, Summary, screen_file
from .common import console, err_console, fail, open_catalogue, open_db, utcnow

__all__ = ["register"]


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid (containers)
        return "cli:unknown"


def _audit(db_engine: Engine, summary: Summary, action: str | None) -> None:
    c = summary.counts
    with db_engine.begin() as conn:
        audit.append(
            conn,
            [
                AuditEntry(
                    _actor(),
                    "operator",
                    "screen.file",
                    f"file:{summary.input.name} sha256:{summary.sha256}"
                    + (f" action:{action}" if action else ""),
                    f"{summary.rows} rows: {c['hit']} hits, {c['possible_match']} possible, "
                    f"{c['invalid']} invalid",
                )
            ],
            utcnow(),
        )


def screen(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="CSV, JSON Lines, Parquet or .xlsx.")],
    out: Annotated[Path, typer.Option("--out", help="Output file, in the input's format.")],
    action: Annotated[
        str | None, typer.Option("--action", help="Give every match the decision for this action.")
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Screen against the listings at this instant (default now).")
    ] = None,
    threshold: Annotated[
        float, typer.Option("--threshold", help=f"Name score for a hit (default {HIT}).")
    ] = HIT,
    fmt: Annotated[
        str | None, typer.Option("--format", help="Read INPUT as csv, jsonl, parquet or xlsx.")
    ] = None,
    encoding: Annotated[
        str | None, typer.Option("--encoding", help="Text encoding (default: UTF-8, else GB18030).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Screen every row of INPUT into OUTPUT with status, score and matches: exit 0 done, 2 bad input."""
    instant: dt.datetime | None = None
    if at is not None:
        try:
            instant = parse_instant(at)
        except ValueError:
            fail(f"--at: {at!r}: expected an ISO 8601 date (YYYY-MM-DD) or datetime")
    cat = open_catalogue()
    db = open_db()
    show = not quiet and sys.stderr.isatty()
    try:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.completed:,.0f} rows"),
            TextColumn("{task.fields[rate]} rows/s"),
            TimeElapsedColumn(),
            console=err_console,
            disable=not show,
            transient=True,
        ) as bar:
            task = bar.add_task(f"screening {input_path.name}", total=None, rate="-")

            def advance(n: int) -> None:
                bar.advance(task, n)
                speed = bar.tasks[task].speed
                bar.update(task, rate=f"{speed:,.0f}" if speed else "-")

            summary = screen_file(
                db.engine,
                cat,
                input_path,
                out,
                action=action,
                at=instant,
                threshold=threshold,
                fmt=fmt,
                encoding=encoding,
                progress=advance,
                done=lambda s: _audit(db.engine, s, action),
            )
    except ScreenInputError as exc:
        fail(str(exc))
    except UnknownAction as exc:
        fail(f"--action: {exc}")
    except SQLAlchemyError as exc:
        fail(f"database: {type(exc).__name__}: {str(exc).splitlines()[0]} (run `socialcredit init`?)")
    finally:
        db.engine.dispose()
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), ensure_ascii=False))
    else:
        c = summary.counts
        console.print(
            f"{summary.rows:,} rows -> {summary.output}: {c['hit']:,} hit, {c['possible_match']:,} possible match, "
            f"{c['clear']:,} clear, {c['invalid']:,} invalid"
        )


def register(app: typer.Typer) -> None:
    app.command("screen")(screen)
