"""The shell and HTTP examples of README.md and docs/*.md, read from their fenced code blocks.

A block fenced as ``sh`` (or ``bash``, ``shell``), ``console`` or ``http`` is an example and is run by
test_doc_examples.py. An HTML comment on the line(s) just before the fence annotates it::

    <!-- doctest: skip reason="a placeholder file" -->        not run; the reason is required
    <!-- doctest: xfail="issue 16: what is wrong" -->          run, expected to fail (strict)
    <!-- doctest: on="check 1101" exit=1 expect="DENIED" -->   the command containing "check 1101" exits 1
                                                              and prints "DENIED" (expect may repeat)
    <!-- doctest: on="/v1/checks" status=403 -->              an HTTP example answers a 403 problem

Without ``on`` a command annotation needs a block of one command. Every command exits 0 unless annotated.
In ``sh`` blocks a command is a line with its continuation lines (a trailing backslash or an open quote);
comment lines are prose. In ``console`` blocks a command starts with ``$ ``; the lines after it are its
documented output, each of which must appear in what it prints (``...`` matches anything within a line).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["EXAMPLE_LANGS", "Command", "Example", "doc_files", "lint", "read_examples"]

ROOT = Path(__file__).resolve().parents[2]
SH_LANGS = {"sh", "bash", "shell"}
EXAMPLE_LANGS = SH_LANGS | {"console", "http"}
BLOCK_KEYS = {"skip", "reason", "xfail"}
COMMAND_KEYS = {"on", "exit", "expect", "status"}
_FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")
_DIRECTIVE = re.compile(r"^\s*<!--\s*doctest:(.*?)-->\s*$")


@dataclass
class Command:
    text: str
    line: int
    exit: int = 0
    expect: list[str] = field(default_factory=list)
    status: int | None = None  # an HTTP example's documented error status
    output: list[str] = field(default_factory=list)  # a console block's documented output


@dataclass
class Example:
    path: str  # relative to the repository
    line: int  # of the opening fence
    lang: str
    body: str
    commands: list[Command]
    skip: str | None = None
    xfail: str | None = None
    errors: list[str] = field(default_factory=list)  # annotation mistakes: the example test fails on them

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"


def doc_files() -> list[Path]:
    """README.md and docs/*.md. Not docs/decisions/: notes record what was true when written, and their
    snippets are history, not instructions (decision 0800)."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _complete(text: str) -> bool:
    if text.endswith("\\"):
        return False
    try:
        shlex.split(text, comments=True)
    except ValueError:  # an open quote: the command goes on on the next line
        return False
    return True


def _sh_commands(lines: list[tuple[int, str]]) -> list[Command]:
    out: list[Command] = []
    pending: list[str] = []
    start = 0
    for number, line in lines:
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if not pending:
            start = number
        pending.append(line)
        text = "\n".join(pending)
        if _complete(text):
            out.append(Command(text, start))
            pending = []
    if pending:
        out.append(Command("\n".join(pending), start))
    return out


def _console_commands(lines: list[tuple[int, str]]) -> list[Command]:
    out: list[Command] = []
    for number, line in lines:
        if line.startswith("$ "):
            out.append(Command(line[2:], number))
        elif out and not _complete(out[-1].text):
            out[-1].text += "\n" + line
        elif out and line.strip():
            out[-1].output.append(line)
    return out


def _http_commands(lines: list[tuple[int, str]]) -> list[Command]:
    # One request a block: request line, headers, a blank line, the body.
    return [Command("\n".join(text for _, text in lines).strip(), lines[0][0])] if lines else []


def _apply(example: Example, directive: str) -> None:
    try:
        tokens = shlex.split(directive)
    except ValueError as exc:
        example.errors.append(f"unreadable doctest comment {directive!r}: {exc}")
        return
    pairs: list[tuple[str, str]] = []
    for token in tokens:
        key, _, value = token.partition("=")
        if key not in BLOCK_KEYS | COMMAND_KEYS:
            example.errors.append(f"unknown doctest key {key!r} (known: {sorted(BLOCK_KEYS | COMMAND_KEYS)})")
        pairs.append((key, value))
    keys = {k for k, _ in pairs}
    if "skip" in keys:
        reason = dict(pairs).get("reason", "")
        if not reason:
            example.errors.append('a skipped example needs reason="..."')
        example.skip = reason or "no reason given"
    if "xfail" in keys:
        example.xfail = dict(pairs)["xfail"] or "no reason given"
        if not example.xfail.startswith("issue"):
            example.errors.append('xfail="..." names the issue and the defect it waits for ("issue 16: ...")')
    if not keys & {"exit", "expect", "status"}:
        return
    on = dict(pairs).get("on")
    targets = [c for c in example.commands if on is None or on in c.text]
    if len(targets) != 1:
        what = (
            f"on={on!r} matches {len(targets)} commands" if on else "no on=... in a block of several commands"
        )
        example.errors.append(f"{what}: an annotation must name exactly one command")
        return
    (command,) = targets
    for key, value in pairs:
        try:
            if key == "exit":
                command.exit = int(value)
            elif key == "status":
                command.status = int(value)
        except ValueError:
            example.errors.append(f"{key}={value!r} is not a number")
        if key == "expect":
            command.expect.append(value)


def read_examples(path: Path) -> list[Example]:
    rel = path.relative_to(ROOT).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    examples: list[Example] = []
    directives: list[str] = []
    i = 0
    while i < len(lines):
        match = _DIRECTIVE.match(lines[i])
        if match:
            directives.append(match.group(1))
            i += 1
            continue
        fence = _FENCE.match(lines[i])
        if not fence:
            if directives:
                examples.append(_orphan(rel, i, directives))
                directives = []
            i += 1
            continue
        indent, marker, lang = fence.groups()
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(marker):
            j += 1
        body = [(n + 1, line[len(indent) :]) for n, line in enumerate(lines[i + 1 : j], start=i + 1)]
        lang = lang.lower()
        if lang in EXAMPLE_LANGS:
            parse = (
                _console_commands if lang == "console" else _http_commands if lang == "http" else _sh_commands
            )
            example = Example(rel, i + 1, lang, "\n".join(t for _, t in body), parse(body))
            for directive in directives:
                _apply(example, directive)
            examples.append(example)
        elif directives:
            examples.append(
                _orphan(rel, i, directives, f"a doctest comment before a {lang or 'plain'} block")
            )
        directives = []
        i = j + 1
    if directives:
        examples.append(_orphan(rel, len(lines), directives))
    return examples


def _orphan(rel: str, index: int, directives: list[str], why: str = "") -> Example:
    example = Example(rel, index, "none", "", [])
    example.errors.append((why or "a doctest comment not directly before a code fence") + f": {directives}")
    return example


def lint(path: Path) -> list[str]:
    """Unlabelled blocks that look like examples (a ``$ `` prompt or a curl call): they would not be run."""
    rel = path.relative_to(ROOT).as_posix()
    problems = []
    lines = path.read_text(encoding="utf-8").splitlines()
    inside: tuple[int, str, str] | None = None
    for number, line in enumerate(lines, start=1):
        fence = _FENCE.match(line)
        if inside is None and fence:
            inside = (number, fence.group(2), fence.group(3).lower())
        elif inside is not None and line.strip().startswith(inside[1]):
            inside = None
        elif inside is not None and inside[2] == "" and re.match(r"\s*(\$ |curl )", line):
            problems.append(
                f"{rel}:{inside[0]}: a shell example in an unlabelled block (line {number}): fence it as "
                "```console or ```sh so that it runs (annotated skip, with a reason, if it cannot)"
            )
            inside = (inside[0], inside[1], "reported")
    return problems
