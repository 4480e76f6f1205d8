"""Subject self-service tables: portal sessions opened with a subject key, and evidence uploaded with an
objection or a repair request (decision 0615)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, String, Table

from .schema import UTCDateTime, metadata

__all__ = ["evidence", "portal_sessions"]

# A subject's portal session: the cookie holds a random 256-bit id, the table only its SHA-256 (a copy of the
# database opens no session). The key is looked up again on every request: a revoked key ends its sessions.
portal_sessions = Table(
    "portal_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # sha256 hex of the cookie's random id
    Column("key_id", String(16), nullable=False),  # the subject key signed in with (never the token)
    Column("csrf", String(64), nullable=False),  # the token every POST of this session must carry
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),  # signed out: the cookie, even copied, opens nothing afterwards
    Index("ix_portal_sessions_key_id", "key_id"),
)

# A file of evidence, attached to exactly one objection or one repair request, written in the same
# transaction. The bytes live in the database, so the evidence and its digest commit or roll back with the
# step they belong to; ``sha256`` is of exactly the stored bytes.
evidence = Table(
    "evidence",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("record_id", BigInteger, nullable=False),
    Column("objection_id", BigInteger),  # one of objection_id and repair_id is set
    Column("repair_id", BigInteger),
    Column("filename", String(200), nullable=False),  # as uploaded, cleaned; shown, never used as a path
    Column("media_type", String(32), nullable=False),  # from the magic bytes: application/pdf | image/...
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("uploaded_by", String(64), nullable=False),  # the audit actor (api:<key id>)
    Column("uploaded_at", UTCDateTime, nullable=False),
    Index("ix_evidence_objection_id", "objection_id"),
    Index("ix_evidence_repair_id", "repair_id"),
)
