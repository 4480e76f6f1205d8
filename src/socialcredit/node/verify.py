"""Verifying the nodes' chains as the sink stored them: each link, each gap, and each node's signed heads.

Per node, ordered by sequence number: every entry's hash must be recomputed from its content and ``prev_hash``
(:func:`socialcredit.audit.entry_hash`), the first entry's ``prev_hash`` must be the node's genesis and each
later one's the hash of the entry before it. A missing range is reported as such and the walk goes on from the
entry after it (its own hash still checked), so one lost message does not hide a later edit. A sequence number
stored twice (a second entry claiming it) is a fork. Then the chain is checked against the node's signed heads
(:func:`socialcredit.anchor.check_heads`), verified with the node's public key, which the database does not
hold: what an editor of the database removed from the end, rewrote with fresh hashes, or forged onto it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, select, tuple_

from ..anchor import GRACE, AnchorCheck, check_heads
from ..anchor.heads import parse_heads
from ..audit import AuditEntry, entry_hash
from ..store.tables import node_audit, node_audit_heads
from .chain import node_genesis

if TYPE_CHECKING:
    from .stream_copy import StreamCopy

__all__ = ["NodeChainCheck", "verify_nodes"]

MAX_PROBLEMS = 20  # per node: the first ones name where to look; a rewritten table would print millions


@dataclass(slots=True)
class NodeChainCheck:
    node: str
    checked: int = 0
    last_seq: int = 0
    head_hash: str = ""
    problems: list[str] = field(default_factory=list)
    first_bad_seq: int | None = None
    missing: list[tuple[int, int]] = field(default_factory=list)
    anchor: AnchorCheck | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.anchor is not None and self.anchor.ok

    def bad(self, seq: int, problem: str) -> None:
        if self.first_bad_seq is None or seq < self.first_bad_seq:
            self.first_bad_seq = seq
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(f"node {self.node} seq {seq}: {problem}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "ok": self.ok,
            "checked": self.checked,
            "last_seq": self.last_seq,
            "head_hash": self.head_hash,
            "first_bad_seq": self.first_bad_seq,
            "problems": self.problems,
            "missing": [list(r) for r in self.missing],
            "anchor": self.anchor.to_dict() if self.anchor else None,
        }


def _rows(conn: Connection, batch: int) -> Iterator[Any]:
    key = tuple_(node_audit.c.node_id, node_audit.c.seq, node_audit.c.at)
    q = select(node_audit).order_by(node_audit.c.node_id, node_audit.c.seq, node_audit.c.at).limit(batch)
    rows = conn.execute(q).all()
    while rows:
        yield from rows
        last = rows[-1]
        rows = conn.execute(q.where(key > tuple_(last.node_id, last.seq, last.at))).all()


def _walk(conn: Connection, batch: int) -> list[NodeChainCheck]:
    out: list[NodeChainCheck] = []
    cur: NodeChainCheck | None = None
    prev, expected = "", 1
    for row in _rows(conn, batch):
        if cur is None or row.node_id != cur.node:
            cur = NodeChainCheck(row.node_id)
            out.append(cur)
            prev, expected = node_genesis(row.node_id), 1
        seq = int(row.seq)
        entry = AuditEntry(row.actor, row.role, row.action, row.target, row.outcome, row.purpose)
        if seq < expected:
            cur.bad(seq, "stored twice: a second entry claims this sequence number (a fork)")
            continue
        if seq > expected:
            cur.missing.append((expected, seq - 1))
            span = f"{expected}" if expected == seq - 1 else f"{expected}-{seq - 1}"
            cur.bad(expected, f"entries {span} are missing (next stored is {seq})")
        elif row.prev_hash != prev:
            cur.bad(seq, "prev_hash does not match the entry before it")
        if entry_hash(row.prev_hash, seq, row.at, entry) != row.hash:
            cur.bad(seq, "entry content does not match its hash")
        prev, expected = row.hash, seq + 1
        cur.checked += 1
        cur.last_seq, cur.head_hash = seq, row.hash
    return out


def stored_hashes(conn: Connection, node: str) -> Callable[[list[int]], dict[int, str]]:
    """A look-up of the hashes stored for ``node``'s sequence numbers."""

    def look(seqs: list[int]) -> dict[int, str]:
        got: dict[int, str] = {}
        for i in range(0, len(seqs), 500):
            q = select(node_audit.c.seq, node_audit.c.hash).where(
                node_audit.c.node_id == node, node_audit.c.seq.in_(seqs[i : i + 500])
            )
            got.update({int(r.seq): str(r.hash) for r in conn.execute(q)})
        return got

    return look


def verify_nodes(
    conn: Connection,
    public_key: Callable[[str], Ed25519PublicKey | None],
    *,
    grace: float = GRACE,
    batch: int = 5000,
    copy: StreamCopy | None = None,
) -> list[NodeChainCheck]:
    """Every node's chain in the sink's table, each checked against its heads; ``public_key(node)`` is the
    node's key, or None when none is known (the chain is then unanchored). ``copy``: the node audit stream's
    (:mod:`.stream_copy`, ``--from-nats``): its differences from the table are problems, its heads join the
    stored ones."""
    checks = _walk(conn, batch)
    heads_of: dict[str, list[str]] = {}
    for row in conn.execute(select(node_audit_heads.c.node_id, node_audit_heads.c.line)):
        heads_of.setdefault(row.node_id, []).append(row.line)
    also = copy.heads if copy else {}
    for node in sorted(
        (set(heads_of) | set(also) | set(copy.problems if copy else ())) - {c.node for c in checks}
    ):
        checks.append(NodeChainCheck(node))  # heads of a chain whose entries are all gone
    for c in checks:
        for seq, problem in copy.problems.get(c.node, []) if copy else []:
            c.bad(seq, problem)
        key = public_key(c.node)
        if key is None:
            c.anchor = AnchorCheck(False, 0, [f"node {c.node}: no public key to check its signed heads with"])
            continue
        heads, refused = parse_heads(heads_of.get(c.node, []), key, f"node_audit_heads:{c.node}")
        if copy is not None and c.node in also:
            more, bad = parse_heads(also[c.node], key, f"{copy.source}:{c.node}")
            known = {h.sig for h in heads}
            heads += [h for h in more if h.sig not in known]
            refused += bad
        found = check_heads(conn, c.last_seq, heads, refused, grace, hashes=stored_hashes(conn, c.node))
        c.anchor = found
        for p in found.problems:
            c.bad(found.first_bad_seq or c.last_seq + 1, p)
    return sorted(checks, key=lambda c: c.node)
