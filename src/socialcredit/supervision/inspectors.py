"""The list of inspectors an authority uploads: a CSV of ``id,name,authority,conflicts``, checked whole.

``conflicts`` holds the unified social credit codes of the firms an inspector must never inspect (a former
employer, a relative's firm: 回避), separated by ``;`` or spaces. Every problem is reported as
``FILE:LINE: field: reason`` and the file is refused whole: a plan is never drawn from half a list.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

from ..identifiers import IdentifierError, parse

__all__ = ["COLUMNS", "Inspector", "InspectorsError", "read_inspectors"]

COLUMNS = ("id", "name", "authority", "conflicts")
MAX_BYTES = 10 * 1024 * 1024
MAX_ID = 64
MAX_NAME = 100
_SPLIT = re.compile(r"[;\s]+")


@dataclass(frozen=True)
class Inspector:
    id: str
    name: str
    authority: str
    conflicts: frozenset[str]


class InspectorsError(ValueError):
    """The inspectors' file cannot be used; ``problems`` lists each, with its line and field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__("; ".join(problems[:5]) + more)


def _bad_text(value: str) -> bool:
    return any(ord(c) < 32 or c == "\x7f" for c in value)


def read_inspectors(
    path: Path, authority: str, allowlist: frozenset[str] = frozenset()
) -> tuple[list[Inspector], str]:
    """The inspectors of ``authority`` in the file (by id), and the SHA-256 of the file's bytes.

    Raises FileNotFoundError if there is no file, :class:`InspectorsError` for anything wrong in it."""
    name = str(path)
    with path.open("rb") as fh:
        raw = fh.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise InspectorsError([f"{name}: larger than {MAX_BYTES} bytes"])
    digest = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InspectorsError([f"{name}: not UTF-8 ({exc.reason} at byte {exc.start})"]) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise InspectorsError([f"{name}: the file is empty (expected columns {','.join(COLUMNS)})"]) from None
    except csv.Error as exc:
        raise InspectorsError([f"{name}:1: {exc}"]) from None
    problems: list[str] = []
    missing = [c for c in COLUMNS if c not in header]
    unknown = [h for h in header if h not in COLUMNS]
    if missing:
        problems.append(f"{name}:1: missing column(s) {', '.join(missing)} (expected {','.join(COLUMNS)})")
    if unknown:
        problems.append(
            f"{name}:1: unknown column(s) {', '.join(map(repr, unknown))} (expected {','.join(COLUMNS)})"
        )
    if len(set(header)) != len(header):
        problems.append(f"{name}:1: a column is named twice")
    if problems:
        raise InspectorsError(problems)
    pos = {h: i for i, h in enumerate(header)}
    seen: dict[str, int] = {}
    out: list[Inspector] = []
    try:
        for line, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                problems.append(f"{name}:{line}: {len(cells)} cells, the header has {len(header)}")
                continue
            v = {c: cells[pos[c]].strip() for c in COLUMNS}
            bad = False
            for field, limit in (("id", MAX_ID), ("name", MAX_NAME), ("authority", MAX_ID)):
                if not v[field]:
                    problems.append(f"{name}:{line}: {field}: required")
                    bad = True
                elif len(v[field]) > limit or _bad_text(v[field]):
                    problems.append(
                        f"{name}:{line}: {field}: {v[field][:40]!r}: at most {limit} characters, "
                        "no control characters"
                    )
                    bad = True
            conflicts: set[str] = set()
            for item in _SPLIT.split(v["conflicts"]):
                if not item:
                    continue
                try:
                    sid = parse(item, allowlist, "organisation")
                except IdentifierError as exc:
                    problems.append(f"{name}:{line}: conflicts: {exc}")
                    bad = True
                    continue
                if sid.kind != "organisation":
                    problems.append(f"{name}:{line}: conflicts: {item!r}: not a firm's USCC")
                    bad = True
                    continue
                conflicts.add(sid.canonical)
            if v["id"] and v["id"] in seen:
                problems.append(f"{name}:{line}: id: {v['id']!r} is also on line {seen[v['id']]}")
                continue
            seen[v["id"]] = line
            if not bad:
                out.append(Inspector(v["id"], v["name"], v["authority"], frozenset(conflicts)))
    except csv.Error as exc:
        problems.append(f"{name}: {exc}")
    if problems:
        raise InspectorsError(problems)
    mine = sorted((i for i in out if i.authority == authority), key=lambda i: i.id)
    if not mine:
        others = sorted({i.authority for i in out})
        raise InspectorsError(
            [f"{name}: authority: no inspector of {authority!r} (the file has {', '.join(others) or 'none'})"]
        )
    return mine, digest
