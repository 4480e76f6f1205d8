"""The Typer app: one module per area registers its commands."""

from __future__ import annotations

import typer

from . import catalogue, registry
from .helptext import ReadableGroup

__all__ = ["app"]

app = typer.Typer(
    name="socialcredit",
    help="Registry of adjudicated credit findings, joint measures, explained checks and due process.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=ReadableGroup,
)


@app.callback()
def _main(ctx: typer.Context) -> None:
    # A command that appended audit entries signs a head for them as it ends (decision 0313).
    ctx.call_on_close(_publish_heads)


def _publish_heads() -> None:
    from ..anchor import publish_witnessed
    from ..settings import get_settings

    try:
        publish_witnessed(get_settings())
    except Exception as exc:  # the command's work stands; its entries will show as not vouched for
        typer.echo(f"warning: no signed audit head published: {exc}", err=True)


for _module in (registry, catalogue):
    _module.register(app)

# Areas added by later work register here too; each module owns its commands.
for _name in (
    "check",
    "serve",
    "keys",
    "audit",
    "demo",
    "process",
    "feed",
    "export",
    "report",
    "screen",
    "grade",
    "users",
    "supervision",
    "snapshot",
    "node",
):
    try:
        _mod = __import__(f"socialcredit.cli.{_name}", fromlist=["register"])
    except ModuleNotFoundError as _exc:
        if _exc.name != f"socialcredit.cli.{_name}":
            raise
        continue
    _mod.register(app)
