"""Every command's ``--help`` reads as a person expects (issue 16 section 3, help text).

Pins the defect: Typer printed ``--json <bool>``, ``--actions <list[str]>`` and ``Usage: ... {file}``, and
docstrings leaked reStructuredText (``expired`` in double backticks) into the help.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import typer
from typer.testing import CliRunner

from socialcredit.cli import app
from socialcredit.cli.helptext import metavar_for

runner = CliRunner()

# A Python type label (<bool>, <str>, <list[str]>, <int range>), a required argument in braces, RST markup.
RAW = re.compile(r"<[a-z][a-z_ ]*(\[[^\]]*\])?>|\{[a-z_]+\}|``|:(func|class|mod|meth|ref):`")


def _paths(command: object, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _paths(sub, (*path, name))


PATHS = list(_paths(typer.main.get_command(app)))


def test_the_walk_reaches_every_command() -> None:
    names = {" ".join(p) for p in PATHS}
    assert {"check", "import", "keys create", "objection decide", "expire run", "audit show"} <= names
    assert len(PATHS) > 30


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "socialcredit")
def test_help_has_no_raw_types_or_markup(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"}, color=False)
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    found = [m.group(0) for m in RAW.finditer(result.output)]
    assert not found, f"socialcredit {' '.join(path)} --help shows {found}:\n{result.output}"


def test_metavars() -> None:
    assert [metavar_for(x) for x in ("<str>", "<int range>", "<list[str]>", "<float>", "<path>")] == [
        "TEXT",
        "INTEGER",
        "TEXT",
        "NUMBER",
        "PATH",
    ]
    assert metavar_for("<a|b>") == "[a|b]"
