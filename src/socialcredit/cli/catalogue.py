"""``socialcredit catalogue``: validate and show the catalogue."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..catalogue import CatalogueError, load_catalogue
from .common import console, err_console, fail

__all__ = ["register"]

group = typer.Typer(
    help="Validate and show the catalogue of categories, actions and memoranda.", no_args_is_help=True
)


@group.command("validate")
def validate(
    directory: Annotated[
        Path | None, typer.Argument(help="Catalogue directory (default: the shipped one).")
    ] = None,
) -> None:
    """Load and lint a catalogue; list every error with its file and path, exit 2 if there is any."""
    try:
        cat = load_catalogue(directory)
    except CatalogueError as exc:
        for issue in exc.issues:
            err_console.print(str(issue), markup=False, soft_wrap=True)
        fail(f"{len(exc.issues)} error(s) in catalogue {directory or '(default)'}")
    n_measures = sum(len(m.measures) for m in cat.memoranda.values())
    console.print(
        f"catalogue {cat.version}: {len(cat.authorities)} authorities, {len(cat.categories)} categories, "
        f"{len(cat.actions)} actions, {len(cat.memoranda)} memoranda, {n_measures} measures: valid"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="catalogue")
