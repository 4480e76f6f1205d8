"""The Typer app: one module per area registers its commands."""

from __future__ import annotations

import typer

from . import catalogue, registry

__all__ = ["app"]

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
for _name in ("check", "serve", "keys", "audit", "demo", "process", "feed", "screen"):
    try:
        _mod = __import__(f"socialcredit.cli.{_name}", fromlist=["register"])
    except ModuleNotFoundError as _exc:
        if _exc.name != f"socialcredit.cli.{_name}":
            raise
        continue
    _mod.register(app)
