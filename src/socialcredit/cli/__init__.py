"""The ``socialcredit`` command line: one Typer app, one module per area registering its commands.

Exit codes, the same for every command (decision 0700): 0 success (or "allowed"), 1 a negative answer (denied,
tampered, overdue), 2 bad input or an error, 3 what the command names does not exist (a subject, record, key,
objection, file...); every failure has a one-line reason on standard error.

The app (:mod:`.application`, which loads every area) loads on first use (:func:`main`, or ``app`` asked for),
so importing this package alone costs little.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .application import app

__all__ = ["app", "main"]


def main() -> None:
    from .application import app

    app()


def __getattr__(name: str) -> Any:
    if name == "app":
        from .application import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
