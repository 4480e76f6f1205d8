"""``socialcredit init``, ``import`` and ``subject show``: the registry from the command line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Connection

from ..identifiers import IdentifierError, mask, parse
from ..registry import FileInvalid, ImportReport, display_status, import_file, states_for_subject
from ..registry.workers import WorkerFailed
from ..store import upgrade
from ..store.tables import subjects
from ..timefmt import for_json, for_people
from .common import (
    EXIT_NOT_FOUND,
    allowlist,
    audit_cli,
    console,
    err_console,
    fail,
    open_catalogue,
    open_db,
    utcnow,
)

__all__ = ["register"]

subject_group = typer.Typer(help="Subjects: persons and organisations in the registry.", no_args_is_help=True)


def init() -> None:
    """Create or upgrade the database schema (idempotent)."""
    db = open_db(create=True)
    upgrade(db.engine)
    console.print(f"database ready: {db.engine.url.render_as_string(hide_password=True)}")


def _digest(path: Path) -> str:
    """The file's SHA-256, read in 1 MiB blocks (hashlib works on them without the interpreter lock)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _counts(report: ImportReport) -> str:
    return (
        f"{report.filed} filed, {report.amended} amended, {report.unchanged} unchanged, "
        f"{report.rejected} rejected"
    )


def import_(
    file: Annotated[
        Path, typer.Argument(help="File of record rows: JSON Lines (.jsonl or .ndjson) or CSV (.csv).")
    ],
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Import good rows; write bad ones to FILE.rejects.jsonl.")
    ] = False,
    actor: Annotated[str, typer.Option(help="Who is importing, for the event log.")] = "cli",
    progress: Annotated[bool, typer.Option(help="Show a progress bar with rows/s.")] = True,
    workers: Annotated[
        int | None,
        typer.Option(min=0, help="Processes checking rows in parallel (default: by file size; 0: none)."),
    ] = None,
) -> None:
    """Import record rows, all-or-nothing unless --skip-invalid; each bad row: FILE:LINE: field: reason."""
    if file.is_dir():
        fail(f"{file}: is a directory; import takes one .jsonl, .ndjson or .csv file")
    if not file.is_file():
        fail(f"{file}: no such file", EXIT_NOT_FOUND)
    cat = open_catalogue()
    db = open_db()
    size = file.stat().st_size
    bar = Progress(
        TextColumn("importing"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[rows]} rows, {task.fields[rate]} rows/s"),
        TimeElapsedColumn(),
        console=err_console,
        disable=not progress,
        transient=True,
    )
    started = utcnow()
    # Who imported which file, and what came of it (docs/import.md, "Audit"): the file named by its digest.
    try:
        digest = _digest(file)
    except OSError as exc:
        fail(f"{file}: cannot read: {exc.strerror}")
    target = f"file:{file.name} sha256:{digest}" + (f" actor:{actor}" if actor != "cli" else "")

    def audited(conn: Connection, report: ImportReport) -> None:  # in the import's own transaction
        audit_cli(conn, "records.import", target, f"imported: {_counts(report)}"[:200])

    with bar:
        task = bar.add_task("import", total=size or 1, rows=0, rate=0)

        def on_progress(rows: int, position: int) -> None:
            secs = max((utcnow() - started).total_seconds(), 1e-6)
            bar.update(task, completed=position, rows=rows, rate=int(rows / secs))

        try:
            report = import_file(
                db.engine,
                file,
                cat,
                actor,
                skip_invalid=skip_invalid,
                allowlist=allowlist(),
                on_error=lambda m: err_console.print(m, markup=False, soft_wrap=True),
                on_progress=on_progress,
                workers=workers,
                on_commit=audited,
            )
        except FileInvalid as exc:
            audit_cli(db.engine, "records.import", target, f"refused: {exc}"[:200])
            fail(str(exc))
        except WorkerFailed as exc:  # killed, or out of memory: the transaction was rolled back
            audit_cli(db.engine, "records.import", target, f"failed: {exc}"[:200])
            fail(f"{file}: {exc}; nothing was imported")
    rate = report.rows / report.seconds if report.seconds else 0.0
    summary = (
        f"{report.rows} rows in {report.seconds:.1f}s ({rate:,.0f} rows/s): {report.filed} filed, "
        f"{report.amended} amended, {report.unchanged} unchanged, {report.rejected} rejected"
    )
    if not report.committed:
        audit_cli(db.engine, "records.import", target, f"rolled back: {_counts(report)}"[:200])
        fail(f"{summary}; nothing was imported (fix the rows above, or use --skip-invalid)")
    console.print(summary)
    if report.rejects_path:
        console.print(f"rejected rows with reasons: {report.rejects_path}")


def show(
    subject_id: Annotated[
        str, typer.Argument(help="Resident ID, unified social credit code or passport:ISO3:NO.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show a subject and every record about it (or reaching it as a linked person), with status.

    Exit 3 if the registry knows no such subject. Audited as subjects.view by cli:<OS user>."""
    try:
        sid = parse(subject_id, allowlist())
    except IdentifierError as exc:
        fail(f"subject_id: {exc}")
    db = open_db()
    now = utcnow()
    target = f"subject:{sid.canonical}"
    # The read and its audit entry share one transaction (decision 0303); an unknown subject is audited too.
    with db.engine.begin() as conn:
        subj = conn.execute(subjects.select().where(subjects.c.id == sid.canonical)).mappings().first()
        states = states_for_subject(conn, sid.canonical) if subj is not None else []
        outcome = f"ok: {len(states)} records" if subj is not None else "refused: not found"
        audit_cli(conn, "subjects.view", target, outcome, now)
    if subj is None:
        fail(f"{sid.canonical}: the registry knows no such subject", EXIT_NOT_FOUND)
    rows: list[dict[str, str | int | None]] = [
        {
            "record_id": s.id,
            "category": s.category,
            "authority": s.authority,
            "decision_no": s.decision_no,
            "decided_on": s.decided_on.isoformat(),
            "status": display_status(s, now),
            "via": "subject"
            if s.subject_id == sid.canonical
            else next(r for p, r in s.linked() if p == sid.canonical) + f" of {s.subject_id}",
            "valid_until": for_json(s.valid_until),
        }
        for s in states
    ]
    if as_json:
        console.print_json(
            json.dumps(
                {"subject": dict(subj, created_at=for_json(subj["created_at"])), "records": rows},
                ensure_ascii=False,
                default=str,
            )
        )
        return
    # Plain lines, not a table: whole values survive narrow terminals and pipes (grep, scripts).
    out = Console(highlight=False, soft_wrap=True)
    out.print(
        f"[bold]{escape(subj['name'])}[/bold]  {sid.canonical}  ({subj['kind']}"
        f"{', ' + subj['region'] if subj['region'] else ''}"
        f"{', pilot-era code accepted by allowlist' if subj['allowlisted'] else ''})"
    )
    if sid.birth_date:
        out.print(f"born {sid.birth_date.isoformat()}, {sid.sex}; public form {mask(sid.canonical)}")
    if not rows:
        out.print("no records")
    for s, r in zip(states, rows, strict=True):
        until = for_people(s.valid_until, empty="fulfilment")
        out.print(
            f"record {r['record_id']}  {r['category']}  {r['status']}  via {r['via']}  "
            f"{r['authority']} {escape(str(r['decision_no']))} decided {r['decided_on']}  until {until}",
            markup=False,
        )


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("import")(import_)
    subject_group.command("show")(show)
    app.add_typer(subject_group, name="subject")
