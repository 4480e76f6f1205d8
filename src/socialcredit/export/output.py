"""Where an extract goes: standard output, or files that appear whole or not at all.

A file is written under a temporary name beside its target and moved into place only when the export has
finished, so an interrupted export leaves no half-written extract that looks complete. Existing files are
refused unless the caller forces their replacement.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

__all__ = [
    "BytesOut",
    "DigestWriter",
    "Refused",
    "TextOut",
    "check_targets",
    "companions",
    "sha256_file",
    "staged",
]


class Refused(ValueError):
    """The export cannot write where it was asked to; the message is the one-line reason."""


class TextOut(Protocol):
    def write(self, s: str, /) -> object: ...


class BytesOut(Protocol):
    def write(self, b: bytes, /) -> object: ...


class DigestWriter:
    """Writes text to ``out`` as UTF-8 (whatever the terminal's locale: the extract is UTF-8) and keeps the SHA-256
    of the bytes (the digest the audit entry names)."""

    def __init__(self, out: BytesOut) -> None:
        self.out = out
        self._hash = hashlib.sha256()

    def write(self, s: str, /) -> int:
        data = s.encode("utf-8")
        self._hash.update(data)
        self.out.write(data)
        return len(s)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def companions(path: Path) -> tuple[Path, Path]:
    """The data dictionary and the measures table written beside a table extract: OUT.dictionary.csv and
    OUT.measures.csv, OUT being the extract's name without its extension."""
    stem = path.name.rsplit(".", 1)[0] if "." in path.name[1:] else path.name
    return path.with_name(f"{stem}.dictionary.csv"), path.with_name(f"{stem}.measures.csv")


def check_targets(paths: list[Path], force: bool) -> None:
    """Refuse a target that is a directory, exists (unless ``force``), or whose directory is missing or read-only."""
    if len(set(paths)) != len(paths):
        raise Refused(f"{paths[0]}: the extract and its data dictionary would be the same file")
    for p in paths:
        if p.is_dir():
            raise Refused(f"{p}: is a directory")
        if p.exists() and not force:
            raise Refused(f"{p}: already exists (use --force to replace it)")
        parent = p.parent
        if not parent.is_dir():
            raise Refused(f"{parent}: no such directory")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise Refused(f"{parent}: not writable")


@contextmanager
def staged(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``, moved onto it when the block ends without an error, else removed."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
