"""Access tables: API keys (only a hash of each token is kept) and the hash-chained audit log."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from .schema import UTCDateTime, metadata

__all__ = ["api_keys", "audit_log"]

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),  # the public key id, part of the token
    Column(
        "role", String(16), nullable=False
    ),  # registrar | checkpoint | subject | screener | auditor | admin
    Column("authority", String(64)),  # registrar: the authority it files for
    Column("actions", Text, nullable=False, default="[]"),  # checkpoint: JSON list of action patterns
    Column("subject", String(64)),  # subject: the canonical identifier of its own file
    Column("label", String(200), nullable=False, default=""),
    Column(
        "token_hash", String(64), nullable=False
    ),  # sha256 hex of the whole token; the token is never kept
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
)

# Append-only, hash-chained: hash = sha256(prev_hash + canonical JSON of the entry), see socialcredit.audit.
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(64), nullable=False),  # key id, "public" or "cli"
    Column("role", String(16), nullable=False),
    Column("action", String(64), nullable=False),  # e.g. records.file, checks.single, subjects.view
    Column("target", Text, nullable=False),  # record id, subject id(s), query
    Column("purpose", String(200)),
    Column("outcome", String(200), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_log_actor", "actor"),
)
