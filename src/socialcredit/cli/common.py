"""What every command needs: the database, the catalogue, the clock, and one way to fail."""

from __future__ import annotations

import datetime as dt
from typing import NoReturn

import typer
from rich.console import Console

from ..catalogue import Catalogue, CatalogueError, default_catalogue
from ..settings import get_settings
from ..store import Database

__all__ = ["console", "err_console", "fail", "open_catalogue", "open_db", "utcnow"]

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a one-line reason to standard error and exit (2: bad input or error, 1: a negative answer)."""
    err_console.print(f"error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def open_db() -> Database:
    try:
        return Database.open()
    except ValueError as exc:
        fail(str(exc))


def open_catalogue() -> Catalogue:
    try:
        return default_catalogue()
    except CatalogueError as exc:
        fail(f"the catalogue does not load ({len(exc.issues)} errors; run `socialcredit catalogue validate`)")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def allowlist() -> frozenset[str]:
    return get_settings().allowlisted_codes()
