"""``--help`` as a person reads it: ``--json`` and ``FILE``, not ``--json <bool>`` and ``{file}``.

Typer labels every parameter with its Python type (``<bool>``, ``<list[str]>``, ``<int range>``) and writes
required arguments as ``{file}``. :class:`ReadableGroup`, the root group's class, walks the command tree once
it is built and gives each parameter the metavar a command line has always used: nothing for a flag, ``TEXT``,
``INTEGER``, ``NUMBER``, ``PATH`` for a value, the argument's name in capitals for an argument.
"""

from __future__ import annotations

import re
from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

__all__ = ["ReadableGroup", "metavar_for"]

_NAMES = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "path": "PATH", "file": "FILE", "dir": "DIR"}
_LABEL = re.compile(r"^<(?:list\[)?(?P<name>[^\]>]*?)(?: range)?\]?>$")


def metavar_for(label: str) -> str:
    """``<int range>`` -> ``INTEGER``, ``<list[str]>`` -> ``TEXT``; choices ``<a|b>`` -> ``[a|b]``."""
    m = _LABEL.match(label)
    name = m.group("name") if m else label.strip("<>")
    if "|" in name:
        return f"[{name}]"
    return _NAMES.get(name, name.upper())


class _Argument(TyperArgument):
    __slots__ = ()

    def display_type_rich(self, ctx: Any) -> str | None:
        return None  # the name column already says FILE; a second "<path>" column says nothing more


# Usage lines say FILE, not {file}; --help is a flag like any other. Each class is one of Typer's with the same
# slots (none), so a built command can be re-classed in place: Typer has no hook to choose them for every command.
class _Command(TyperCommand):
    __slots__ = ()

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [_plain(p) for p in super().collect_usage_pieces(ctx)]

    def get_help_option(self, ctx: Any) -> Any:
        return _flag(super().get_help_option(ctx))


class _Group(TyperGroup):
    __slots__ = ()

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [_plain(p) for p in super().collect_usage_pieces(ctx)]

    def get_help_option(self, ctx: Any) -> Any:
        return _flag(super().get_help_option(ctx))


class ReadableGroup(_Group):
    """The root group: tidies every command below it once built (so CliRunner and the console agree)."""

    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _tidy(self)


def _plain(piece: str) -> str:
    return piece[1:-1] if piece.startswith("{") and piece.endswith("}") else piece


def _flag(option: Any) -> Any:
    if option is not None:
        option.metavar = ""
    return option


def _tidy(command: Any) -> None:
    ctx = typer.Context(command)  # display_type reads it only to normalise choices
    for param in command.params:
        if isinstance(param, TyperOption) and param.metavar is None:
            if param.is_flag:
                param.metavar = ""
            elif hasattr(param, "display_type"):  # a Typer without it prints click's TEXT, INTEGER
                param.metavar = metavar_for(param.display_type(ctx))
        elif isinstance(param, TyperArgument) and type(param) is TyperArgument:
            if param.metavar is None:
                many = "..." if param.nargs != 1 else ""  # what Typer adds only when there is no metavar
                param.metavar = (param.name or "value").upper() + many
            # Same layout, one method more: the class is swapped rather than every command rebuilt.
            param.__class__ = _Argument
    if type(command) is TyperCommand:
        command.__class__ = _Command
    elif type(command) is TyperGroup:
        command.__class__ = _Group
    for sub in getattr(command, "commands", {}).values():
        _tidy(sub)
