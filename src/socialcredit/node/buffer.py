"""A node's bounded local buffer: chained entries the stream has not acknowledged, in a file that outlives the
process.

``<node>.buffer.jsonl`` holds one entry per line, appended and fsynced per batch (an entry in it is durable);
``<node>.buffer.pos`` holds the byte offset up to which the stream has acknowledged them. Draining publishes
from the offset on, in order, and moves it forward after each acknowledgement; once everything is drained both
are emptied. A crash between an acknowledgement and the offset's write republishes a few entries: the stream's
duplicate window (same ``Nats-Msg-Id``) or the sink's key ``(node, seq, at)`` drops them.
"""

from __future__ import annotations

import os
from pathlib import Path

from .chain import NodeEntry, parse_lines

__all__ = ["Buffer"]


class Buffer:
    def __init__(self, directory: Path, node: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{node}.buffer.jsonl"
        self._pos_path = directory / f"{node}.buffer.pos"
        self.pos = self._read_pos()
        self.count, self.last = self._scan()

    def _read_pos(self) -> int:
        try:
            text = self._pos_path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return 0
        if not text.isdigit():
            raise ValueError(f"{self._pos_path}: {text[:40]!r} is not a byte offset")
        return int(text)

    def _scan(self) -> tuple[int, NodeEntry | None]:
        """Entries after the offset, and the newest entry in the file (whether drained or not)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return 0, None
        if data and not data.endswith(b"\n"):
            # A line cut by a crash mid-write was never fsynced, so never acknowledged to a caller: drop it.
            data = data[: data.rfind(b"\n") + 1]
            with self.path.open("r+b") as f:
                f.truncate(len(data))
        if self.pos > len(data):
            raise ValueError(f"{self._pos_path}: offset {self.pos} is past the end of {self.path}")
        pending = parse_lines(data[self.pos :])
        if pending:
            return len(pending), pending[-1]
        tail = parse_lines(data[data.rfind(b"\n", 0, max(len(data) - 1, 0)) + 1 :]) if data else []
        return 0, tail[-1] if tail else None

    def append(self, entries: list[NodeEntry]) -> None:
        """Append and fsync: the entries are durable when this returns."""
        data = "".join(e.line() + "\n" for e in entries).encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        self.count += len(entries)
        self.last = entries[-1]

    def read(self, limit: int, max_bytes: int) -> tuple[list[NodeEntry], int]:
        """Up to ``limit`` entries (and about ``max_bytes``) from the offset, and the offset after them."""
        with self.path.open("rb") as f:
            f.seek(self.pos)
            chunk = f.read(max_bytes)
        end = chunk.rfind(b"\n") + 1
        if end == 0:  # one line longer than max_bytes: read it whole
            with self.path.open("rb") as f:
                f.seek(self.pos)
                line = f.readline()
            return parse_lines(line), self.pos + len(line)
        lines = chunk[:end].splitlines(keepends=True)[:limit]
        return parse_lines(b"".join(lines)), self.pos + sum(len(x) for x in lines)

    def consumed(self, n: int, pos: int) -> None:
        """``n`` entries up to byte ``pos`` are acknowledged by the stream."""
        self.count -= n
        self.pos = pos if self.count else 0
        tmp = self._pos_path.with_suffix(".pos.tmp")
        tmp.write_text(str(self.pos), encoding="ascii")
        os.replace(tmp, self._pos_path)
        if not self.count:  # all drained: start the file afresh (offset first: a crash between republishes)
            with self.path.open("r+b") as f:
                f.truncate(0)
