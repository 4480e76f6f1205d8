"""``socialcredit catalogue``: validate and show the catalogue.

Both commands read the catalogue the other commands run on: the directory given, else
``SOCIALCREDIT_CATALOGUE_DIR``, else the shipped one (``check`` tells the user to run ``validate`` when the
catalogue does not load, and that advice must look at the same directory).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from ..catalogue import Catalogue, CatalogueError, load_catalogue
from ..catalogue.model import Category, Memorandum
from ..settings import get_settings
from .common import console, err_console, fail

__all__ = ["register"]

group = typer.Typer(
    help="Validate and show the catalogue of categories, actions and memoranda.", no_args_is_help=True
)

_DIRECTORY_HELP = "Catalogue directory (default: SOCIALCREDIT_CATALOGUE_DIR, else the shipped one)."
_UNVERIFIED = {"date": "unverified / 日期待核实", "document_no": "unverified / 文号待核实"}


def _load(directory: Path | None) -> tuple[Catalogue, str]:
    """The catalogue asked for and how to name it; every error listed on standard error, exit 2."""
    configured = get_settings().catalogue_dir
    root = directory if directory is not None else (Path(configured) if configured else None)
    name = str(root) if root is not None else "(shipped)"
    try:
        return load_catalogue(root), name
    except CatalogueError as exc:
        for issue in exc.issues:
            err_console.print(str(issue), markup=False, soft_wrap=True)
        fail(f"{len(exc.issues)} error(s) in catalogue {name}")


@group.command("validate")
def validate(
    directory: Annotated[Path | None, typer.Argument(help=_DIRECTORY_HELP)] = None,
) -> None:
    """Load and lint a catalogue; list every error with its file and path, exit 2 if there is any."""
    cat, name = _load(directory)
    n_measures = sum(len(m.measures) for m in cat.memoranda.values())
    console.print(
        f"catalogue {name} {cat.version}: {len(cat.authorities)} authorities, {len(cat.categories)} categories, "
        f"{len(cat.actions)} actions, {len(cat.memoranda)} memoranda, {n_measures} measures, "
        f"{len(cat.models)} scoring models, {len(cat.supervision)} supervision policies: valid",
        markup=False,
    )


def _marked(memo: Memorandum, what: str, text: str) -> str:
    return f"{text} ({_UNVERIFIED[what]})" if what in memo.unverified else text


def _as_json(cat: Catalogue) -> dict[str, Any]:
    """The same shape as ``GET /v1/catalogue`` for these three parts."""
    return {
        "version": cat.version,
        "title": cat.title,
        "categories": {k: v.model_dump(mode="json") for k, v in cat.categories.items()},
        "memoranda": {k: v.model_dump(mode="json") for k, v in cat.memoranda.items()},
    }


def _table(title: str, *columns: str) -> Table:
    # A light box and folded cells: readable in an 80-column terminal, where the codes alone take half a line.
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in columns:  # a code column ("=name") keeps its codes whole; the others wrap
        table.add_column(col.lstrip("="), overflow="fold", no_wrap=col.startswith("="), min_width=len(col))
    return table


def _ends(c: Category) -> str:
    ends = f"{c.duration_days} days" if c.duration_days else ""
    if c.ends_by_fulfilment:
        ends = (ends + " or " if ends else "") + "when performed"
        if c.max_duration_days:
            ends += f" (max {c.max_duration_days} days)"
    return ends


def _tables(cat: Catalogue) -> list[Table]:
    cats = _table("Record categories", "=category", "list", "filed by", "ends", "notice")
    for c in cat.categories.values():
        days = f"{c.notice_days} {'working ' if c.notice_working_days else ''}days"
        cats.add_row(
            c.code, c.list, ", ".join(c.authorities), _ends(c), "at once" if c.takes_effect_at_once else days
        )
    memos = _table(
        "Memoranda and other sources of measures", "=memorandum, triggers", "document", "date", "n"
    )
    ordered = sorted(cat.memoranda.values(), key=lambda m: (m.date, m.code))
    for m in ordered:
        memos.add_row(
            "\n".join([m.code, f"  ({m.kind})", *(f"  {t}" for t in m.triggers)]),
            _marked(m, "document_no", m.document_no or "-"),
            _marked(m, "date", m.date.isoformat()),
            str(len(m.measures)),
        )
    measures = _table("Measures, by memorandum", "measure", "department", "effect", "actions")
    for m in ordered:
        measures.add_row(m.code, style="bold")
        for x in m.measures:
            measures.add_row(f"  {x.code}", x.department, x.effect, "\n".join(x.actions))
    return [cats, memos, measures]


@group.command("show")
def show(
    directory: Annotated[Path | None, typer.Argument(help=_DIRECTORY_HELP)] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="The catalogue as JSON (as GET /v1/catalogue).")
    ] = False,
) -> None:
    """Show the categories, memoranda and measures of a catalogue as readable tables (or JSON)."""
    cat, name = _load(directory)
    if as_json:
        typer.echo(json.dumps(_as_json(cat), ensure_ascii=False, indent=2))
        return
    console.print(f"catalogue {name} {cat.version}: {cat.title}", markup=False)
    for table in _tables(cat):
        console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="catalogue")
