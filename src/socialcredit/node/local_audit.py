"""A node's check audit as a hash-chained JSON Lines file, until issue 20 point 3's auditor (node/audit.py:
a chain published to JetStream and sunk into PostgreSQL) replaces it. Kept to the protocol the node app takes
(:class:`socialcredit.node.state.Auditor`), so the swap is one line.

Each line: ``{"seq", "at", "node", actor, role, action, target, outcome, purpose, "prev", "hash"}`` with
``hash = sha256(prev + canonical JSON of the line without "hash")``; a restart continues the chain from the
file's last line. A write that fails raises, and the check is then refused (503), never answered unaudited.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import IO

from ..audit import AuditEntry

__all__ = ["GENESIS", "FileChainAuditor", "verify_file"]

GENESIS = "0" * 64


def _hash(prev: str, body: dict[str, object]) -> str:
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((prev + text).encode()).hexdigest()


class FileChainAuditor:
    def __init__(self, path: Path | str, node: str) -> None:
        self.path, self.node = Path(path), node
        self._fh: IO[str] | None = None
        self._seq, self._prev = 0, GENESIS

    def start(self) -> None:
        if self._fh is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            with self.path.open("rb") as fh:
                last = b""
                for last in fh:  # noqa: B007 - the last line is what a restart continues from
                    pass
            if last.strip():
                line = json.loads(last)
                self._seq, self._prev = int(line["seq"]), str(line["hash"])
        self._fh = self.path.open("a", encoding="utf-8")

    async def record(self, entry: AuditEntry) -> int:
        self.start()
        assert self._fh is not None
        body: dict[str, object] = {
            "seq": self._seq + 1,
            "at": dt.datetime.now(dt.UTC).isoformat(),
            "node": self.node,
            **dataclasses.asdict(entry),
            "prev": self._prev,
        }
        digest = _hash(self._prev, body)
        self._fh.write(json.dumps({**body, "hash": digest}, ensure_ascii=False, sort_keys=True) + "\n")
        self._fh.flush()
        self._seq, self._prev = self._seq + 1, digest
        return self._seq

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def verify_file(path: Path | str) -> tuple[bool, int]:
    """(whether every line chains to the one before it, how many lines were checked)."""
    prev, n = GENESIS, 0
    with Path(path).open(encoding="utf-8") as fh:
        for n, raw in enumerate(fh, start=1):
            line = json.loads(raw)
            digest = line.pop("hash")
            if line.get("prev") != prev or _hash(prev, line) != digest:
                return False, n
            prev = digest
    return True, n
