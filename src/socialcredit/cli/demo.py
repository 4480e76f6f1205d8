"""``socialcredit demo``: fill an empty registry with deterministic demo data."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..demo import FIXED, DemoError, Organisation, generate, load
from ..store import Database, upgrade
from .common import console, err_console, fail, open_catalogue, open_db

__all__ = ["register"]


def demo(
    subjects: Annotated[
        int, typer.Option(min=1, max=10_000_000, help="How many persons and organisations.")
    ] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")] = 7,
    database_url: Annotated[
        str | None,
        typer.Option(help="Database URL (default: SOCIALCREDIT_DATABASE_URL).", show_default=False),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Fill an empty registry with deterministic demo data.

    Records in every catalogue category, some expired or lifted, checked and filed by the registry.

    Subjects #1-#8 are the same for any seed (see docs/decisions/0500-demo-data.md)."""
    started = time.perf_counter()
    cat = open_catalogue()
    if database_url is not None:
        try:
            db = Database.open(database_url)
        except ValueError as exc:
            fail(str(exc))
    else:
        db = open_db(create=True)
    upgrade(db.engine)  # idempotent: a fresh database needs no separate `init`
    data = generate(subjects, seed, cat)
    total = len(data.filings) + len(data.changes)
    bar = Progress(
        TextColumn("filing demo data"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=not progress,
        transient=True,
    )
    with bar:
        task = bar.add_task("demo", total=total)
        try:
            report = load(db.engine, data, cat, progress=lambda n: bar.advance(task, n))
        except DemoError as exc:
            fail(str(exc))
    seconds = time.perf_counter() - started
    console.print(
        f"{subjects:,} subjects (seed {seed}, as of {data.anchor}): {report.records:,} records in "
        f"{len(data.category_counts())} categories about {report.subjects:,} subjects, "
        f"{report.changes:,} lifecycle changes, in {seconds:.1f}s"
    )
    first = next((s for s in FIXED[:subjects] if isinstance(s, Organisation)), None)
    if first is not None:
        console.print(
            f"try: socialcredit subject show {first.id}   ({first.name}; legal representative "
            f"{first.legal_representative.name} {first.legal_representative.id})"
        )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
