"""docs/cli.md holds the ``--help`` of every command as the CLI prints it today (issue 16 section 1: help texts
and the docs drifted apart because nothing compared them)."""

from __future__ import annotations

import difflib

from .cli_doc import CLI_MD, REGENERATE, render


def test_cli_md_is_the_help_of_every_command() -> None:
    want = render()
    have = CLI_MD.read_text(encoding="utf-8") if CLI_MD.exists() else ""
    diff = "".join(
        list(difflib.unified_diff(have.splitlines(True), want.splitlines(True), "docs/cli.md", "the CLI"))[
            :60
        ]
    )
    assert have == want, f"docs/cli.md is out of date: run `{REGENERATE}`\n{diff}"


def test_every_command_has_a_section() -> None:
    # Each command and subcommand gets its own heading, so a link to one (docs/cli.md#socialcredit-keys-create)
    # keeps working and a new command cannot hide inside its group's help.
    text = render()
    for name in (
        "socialcredit keys create",
        "socialcredit audit verify",
        "socialcredit check",
        "socialcredit demo",
    ):
        assert f"\n## {name}\n" in text
