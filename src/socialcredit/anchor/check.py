"""Checking an intact chain against signed heads: what was removed, rewritten or forged since they were signed.

Given a chain that holds (:func:`socialcredit.audit.verify`) of ``L`` entries and the heads that verify:

* ``L`` is at least every head's ``seen``: else entries were removed (the last, the last 100, or all);
* the entry at each head's ``seq`` has the head's ``hash``: else the chain was rewritten at or before it
  (an edit re-chained onward, a deletion renumbered and re-chained);
* every entry is in some head's ``covers``: an entry that a head saw and that no key holder vouched for within
  :data:`GRACE` seconds of heads was not written by one (a forged append). Newer uncovered entries are pending.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from ..store.tables import audit_log
from .heads import SignedHead, merge_ranges

__all__ = ["GRACE", "AnchorCheck", "check_heads"]

GRACE = 180.0  # seconds: longer than any honest commit waits for its head (a server publishes every <= 60 s)


@dataclass(frozen=True, slots=True)
class AnchorCheck:
    anchored: bool
    heads: int
    problems: list[str] = field(default_factory=list)
    first_bad_seq: int | None = None
    covered: int = 0
    pending: list[tuple[int, int]] = field(default_factory=list)
    latest: SignedHead | None = None

    @property
    def ok(self) -> bool:
        return self.anchored and not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "anchored": self.anchored,
            "heads": self.heads,
            "problems": self.problems,
            "first_bad_seq": self.first_bad_seq,
            "covered": self.covered,
            "pending": [list(r) for r in self.pending],
            "latest_head": self.latest.body() if self.latest else None,
        }


def _hashes(conn: Connection, seqs: list[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for i in range(0, len(seqs), 500):
        q = select(audit_log.c.seq, audit_log.c.hash).where(audit_log.c.seq.in_(seqs[i : i + 500]))
        out.update({int(r.seq): str(r.hash) for r in conn.execute(q)})
    return out


def _gaps(covered: list[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    out, nxt = [], 1
    for a, b in covered:
        if a > nxt:
            out.append((nxt, min(a - 1, length)))
        nxt = max(nxt, b + 1)
        if nxt > length:
            break
    if nxt <= length:
        out.append((nxt, length))
    return [(a, b) for a, b in out if a <= b]


def _span(a: int, b: int) -> str:
    return f"seq {a}" if a == b else f"seqs {a}-{b}"


def check_heads(
    conn: Connection,
    length: int,
    heads: list[SignedHead],
    refused: list[str],
    grace: float = GRACE,
    hashes: Callable[[list[int]], dict[int, str]] | None = None,
) -> AnchorCheck:
    """Check a chain of ``length`` entries (already verified to hold) against ``heads``; ``refused`` are the
    heads file's lines that did not verify, each a problem in itself (the file was altered). ``hashes`` looks
    up the stored hash of sequence numbers: the registry's audit log unless given (a node's chain gives its
    own, :mod:`socialcredit.node.verify`)."""
    problems = [f"signed head refused: {r}" for r in refused]
    if not heads:
        return AnchorCheck(False, 0, problems)
    bad: list[int] = []
    by_time = sorted(heads, key=lambda h: h.at)
    latest = max(heads, key=lambda h: (h.seen, h.at))
    if length < latest.seen:
        problems.append(
            f"the chain ends at seq {length} but the head signed at {latest.body()['at']} saw {latest.seen}"
            f" entries: {_span(length + 1, latest.seen)} removed"
        )
        bad.append(length + 1)
    stored = (hashes or (lambda seqs: _hashes(conn, seqs)))(
        sorted({h.seq for h in heads if 0 < h.seq <= length})
    )
    for seq in sorted({h.seq for h in heads if 0 < h.seq <= length}):
        signed = next(h for h in by_time if h.seq == seq)
        if stored.get(seq) != signed.hash:
            problems.append(
                f"entry {seq} is not the one signed at {signed.body()['at']}:"
                " the chain was rewritten at or before it"
            )
            bad.append(seq)
    covered = merge_ranges([r for h in heads for r in h.covers])
    # Entries seen by some head at or before (newest head - grace) had time to be covered by their writer.
    cutoff = by_time[-1].at.timestamp() - grace
    times = [h.at.timestamp() for h in by_time]
    seen_by_then = 0
    for h in by_time[: bisect.bisect_right(times, cutoff)]:
        seen_by_then = max(seen_by_then, h.seen)
    pending: list[tuple[int, int]] = []
    for a, b in _gaps(covered, length):
        if a <= seen_by_then:
            stop = min(b, seen_by_then)
            problems.append(
                f"{_span(a, stop)} vouched for by no signed head though heads were signed long after:"
                " not written by a holder of the key (forged), or by a process that stopped before publishing"
            )
            bad.append(a)
            a = stop + 1
        if a <= b:
            pending.append((a, b))
    n_covered = sum(min(b, length) - a + 1 for a, b in covered if a <= length)
    first = min(bad) if bad else None
    return AnchorCheck(True, len(heads), problems, first, n_covered, pending, by_time[-1])
