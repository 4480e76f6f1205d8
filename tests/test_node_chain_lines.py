"""A node's audit lines survive characters that JSON leaves unescaped but str.splitlines() splits at."""

from __future__ import annotations

import datetime as dt

import pytest

from socialcredit.audit import AuditEntry
from socialcredit.node.chain import chain_entries, node_genesis, parse_lines


@pytest.mark.parametrize("odd", ["\u2028", "\u2029", "\u0085", "\x1c", "\x0b", "\x0c"])
def test_a_target_with_a_line_separator_is_one_entry(odd: str) -> None:
    at = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
    entries = [
        AuditEntry("key:1", "checkpoint", "check", f"subject{odd}quoted", "allowed", "boarding"),
        AuditEntry("key:1", "checkpoint", "check", "next", "allowed", "boarding"),
    ]
    chained = chain_entries("node-1", 0, node_genesis("node-1"), at, entries)
    data = "".join(e.line() + "\n" for e in chained).encode()
    back = parse_lines(data)
    assert [(e.seq, e.entry.target, e.hash) for e in back] == [
        (e.seq, e.entry.target, e.hash) for e in chained
    ]
