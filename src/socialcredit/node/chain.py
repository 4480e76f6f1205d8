"""A check node's audit chain: its entries as they travel (one JSON line each) and how they are chained.

An entry is the registry's :class:`~socialcredit.audit.AuditEntry` with the node's id, its sequence number in the
node's chain, the instant, ``prev_hash`` and ``hash``, hashed by :func:`socialcredit.audit.entry_hash` exactly as
the registry's are. Each node's chain starts from its own genesis, a digest of the node id, instead of the
registry's 64 zeros: an entry (or a whole chain) moved under another node's name breaks at its first entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from ..audit import AuditEntry, entry_fields, entry_hash

__all__ = [
    "NODE_ID",
    "NodeEntry",
    "chain_entries",
    "check_node_id",
    "node_genesis",
    "parse_lines",
]

# A NATS subject token (no dots, spaces or wildcards), short enough for the sink's column.
NODE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def check_node_id(node_id: str) -> str:
    if not NODE_ID.fullmatch(node_id):
        raise ValueError(
            f"node_id {node_id!r}: 1 to 64 letters, digits, '-' or '_' (it is a NATS subject token)"
        )
    return node_id


def node_genesis(node_id: str) -> str:
    """The ``prev_hash`` of a node's first entry."""
    return hashlib.sha256(b"socialcredit node audit chain\x00" + node_id.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class NodeEntry:
    node: str
    seq: int
    at: dt.datetime
    entry: AuditEntry
    prev_hash: str
    hash: str

    def line(self) -> str:
        """The entry as it travels: its row, ``node`` for ``node_id`` and ``at`` in ISO 8601 (keys in the row's
        order, ``node`` first)."""
        fields: dict[str, Any] = {"node": self.node, **self.row()}
        del fields["node_id"]
        fields["at"] = self.at.astimezone(dt.UTC).isoformat(timespec="microseconds")  # keeps its place
        return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))

    def row(self) -> dict[str, Any]:
        """The sink's ``node_audit`` row."""
        return {
            "node_id": self.node,
            "seq": self.seq,
            "at": self.at,
            **entry_fields(self.entry),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def _text(raw: dict[str, Any], name: str, optional: bool = False) -> Any:
    v = raw.get(name)
    if v is None and optional:
        return None
    if not isinstance(v, str):
        raise ValueError(f"{name}: not a string")
    return v


def _parse(line: str) -> NodeEntry:
    try:
        raw = json.loads(line)
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    seq = raw.get("seq")
    if type(seq) is not int or seq < 1:
        raise ValueError(f"seq: {seq!r} is not a positive integer")
    try:
        at = dt.datetime.fromisoformat(_text(raw, "at"))
    except ValueError:
        raise ValueError(f"at: {raw.get('at')!r} is not an ISO 8601 instant") from None
    if at.tzinfo is None:
        raise ValueError(f"at: {raw['at']!r} has no time zone")
    entry = AuditEntry(
        _text(raw, "actor"),
        _text(raw, "role"),
        _text(raw, "action"),
        _text(raw, "target"),
        _text(raw, "outcome"),
        _text(raw, "purpose", optional=True),
    )
    node = check_node_id(_text(raw, "node"))
    return NodeEntry(node, seq, at, entry, _text(raw, "prev_hash"), _text(raw, "hash"))


def parse_lines(data: bytes) -> list[NodeEntry]:
    """The entries of one message (or buffer chunk), one JSON line each; ``ValueError`` naming the line."""
    out: list[NodeEntry] = []
    # On "\n" only: str.splitlines() also splits at U+2028, U+0085 and others, which JSON leaves unescaped.
    for n, line in enumerate(data.decode("utf-8", "replace").split("\n"), 1):
        if line.strip():
            try:
                out.append(_parse(line))
            except ValueError as exc:
                raise ValueError(f"line {n}: {exc}") from None
    return out


def chain_entries(
    node: str, seq: int, prev: str, at: dt.datetime, entries: list[AuditEntry]
) -> list[NodeEntry]:
    """Chain ``entries`` (already in their stored form) after entry ``seq`` whose hash is ``prev``."""
    out: list[NodeEntry] = []
    for e in entries:
        seq += 1
        digest = entry_hash(prev, seq, at, e)
        out.append(NodeEntry(node, seq, at, e, prev, digest))
        prev = digest
    return out
