"""The ``socialcredit`` command line: one Typer app, one module per area registering its commands.

Exit codes: 0 success (or "allowed"), 1 a negative answer (denied, not found), 2 bad input or an error, with a
one-line reason on standard error.
"""

from __future__ import annotations

import typer

from . import catalogue, registry

__all__ = ["app", "main"]

app = typer.Typer(
    name="socialcredit",
    help="Registry of adjudicated credit findings, joint measures, explained checks and due process.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _module in (registry, catalogue):
    _module.register(app)

# Areas added by later work register here too; each module owns its commands.
for _name in ("check", "serve", "keys", "audit", "demo", "process", "feed"):
    try:
        _mod = __import__(f"socialcredit.cli.{_name}", fromlist=["register"])
    except ModuleNotFoundError as _exc:
        if _exc.name != f"socialcredit.cli.{_name}":
            raise
        continue
    _mod.register(app)


def main() -> None:
    app()
