"""Check nodes' audit chains as the sink stores them (decision 1103): entries, and the heads the nodes signed.

``node_audit`` is partitioned by month of ``at`` on PostgreSQL (declarative ``RANGE`` partitioning; the sink
creates each month's partition ahead of its rows, :mod:`socialcredit.node.sink`) and a plain table on SQLite.
A partitioned table's unique keys must hold the partition column, so the key is ``(node_id, seq, at)``: a
redelivered entry (same node, seq and instant, the instant being hashed) is written once; a second entry claiming
a sequence number already stored is kept, and ``audit verify`` reports the fork.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, PrimaryKeyConstraint, String, Table, Text

from .schema import UTCDateTime, metadata

__all__ = ["node_audit", "node_audit_heads"]

node_audit = Table(
    "node_audit",
    metadata,
    Column("node_id", String(64), nullable=False),
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", Text, nullable=False),
    Column("purpose", String(200)),
    Column("outcome", String(200), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    PrimaryKeyConstraint("node_id", "seq", "at"),
    postgresql_partition_by="RANGE (at)",
)

# Each signed head a node published, as its JSON line (signature included: verify checks it with the node's
# public key, which the database does not hold). Deduplicated by signature.
node_audit_heads = Table(
    "node_audit_heads",
    metadata,
    Column("node_id", String(64), nullable=False),
    Column("sig", String(128), nullable=False),
    Column("line", Text, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("node_id", "sig"),
)
