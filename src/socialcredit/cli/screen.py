"""``socialcredit screen INPUT --out OUTPUT``: screen a file of counterparties by identifier and by name.

Runs as the registry operator, like ``check``, and is audited (file digest, rows, hits; actor ``cli:<user>``).
Exit 0 when done, whatever was found; 2 on bad input with a one-line reason naming the file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from .. import audit
from ..audit import AuditEntry
from ..engine import UnknownAction
from ..feed.reader import head
from ..keys import get_key
from ..registry import parse_instant
from ..screening.files import ScreenInputError
from ..screening.run import HIT, Summary, screen_file
from ..screening.watch import Saver, check_name, get_watch, save_watch
from .common import EXIT_NOT_FOUND, console, err_console, fail, open_catalogue, open_db, utcnow

__all__ = ["register"]


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid (containers)
        return "cli:unknown"


@dataclass
class Saving:
    """A screening being saved (``--save``): its name, owner and view, the feed cursor before it ran."""

    name: str
    owner: str
    view: str
    cursor: int
    saver: Saver

    @classmethod
    def start(cls, engine: Engine, name: str, owner: str) -> Saving:
        """Refuse a bad or taken name, or an unknown owner, before the file is read."""
        check_name(name)
        with engine.connect() as conn:
            try:
                get_watch(conn, name, owner)
            except LookupError:
                pass
            else:
                raise ScreenInputError(
                    f"--save: {name!r}: a saved screening of that name exists; choose another"
                )
            view = "full"
            if owner != "cli":
                key = get_key(conn, owner)
                if key is None or key.role not in ("registrar", "checkpoint", "screener"):
                    raise LookupError(f"no registrar, checkpoint or screener key {owner}")
                view = "public" if key.role == "screener" else "full"
            return cls(name, owner, view, head(conn), Saver(engine))

    def save(self, conn: Connection, summary: Summary, action: str | None, threshold: float) -> None:
        assert summary.at is not None
        save_watch(
            conn,
            owner=self.owner,
            name=self.name,
            view=self.view,
            action=action,
            threshold=threshold,
            source=f"{summary.input.name} sha256:{summary.sha256}",
            at=summary.at,
            cursor=self.cursor,
            saver=self.saver,
            now=utcnow(),
        )


def _audit(conn: Connection, summary: Summary, action: str | None, saving: Saving | None) -> None:
    c = summary.counts
    audit.append(
        conn,
        [
            AuditEntry(
                _actor(),
                "operator",
                "screen.file",
                f"file:{summary.input.name} sha256:{summary.sha256}"
                + (f" action:{action}" if action else "")
                + (f" saved:{saving.name} owner:{saving.owner}" if saving else ""),
                f"{summary.rows} rows: {c['hit']} hits, {c['possible_match']} possible, {c['invalid']} invalid",
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
    save: Annotated[
        str | None,
        typer.Option(
            "--save", help="Keep the screening under this name for `socialcredit monitor screening`."
        ),
    ] = None,
    owner: Annotated[
        str, typer.Option("--owner", help="Who the saved screening belongs to (an API key id, or cli).")
    ] = "cli",
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
    saving: Saving | None = None
    if save is not None:
        try:
            saving = Saving.start(db.engine, save, owner)
        except ScreenInputError as exc:
            fail(str(exc))
        except LookupError as exc:
            fail(f"--owner: {exc}".strip("'\""), EXIT_NOT_FOUND)
        if instant is None:
            instant = utcnow()

    saved = False

    def finish(s: Summary) -> None:
        nonlocal saved
        with db.engine.begin() as conn:
            if saving is not None:
                saving.save(conn, s, action, threshold)
            _audit(conn, s, action, saving)
        saved = True

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
                done=finish,
                rows=None if saving is None else saving.saver,
                public_only=saving is not None and saving.view == "public",
            )
    except ScreenInputError as exc:
        fail(str(exc))
    except UnknownAction as exc:
        fail(f"--action: {exc}")
    except SQLAlchemyError as exc:
        fail(f"database: {type(exc).__name__}: {str(exc).splitlines()[0]} (run `socialcredit init`?)")
    finally:
        if saving is not None and not saved:
            with contextlib.suppress(SQLAlchemyError):
                saving.saver.discard()  # the rows of a run that failed: no screening names them
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
