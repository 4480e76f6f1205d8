"""Officer console tables: user accounts (argon2 hashes only) and their sessions (only a hash of each id)."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table

from .schema import UTCDateTime, metadata

__all__ = ["console_sessions", "console_users"]

console_users = Table(
    "console_users",
    metadata,
    Column("name", String(48), primary_key=True),  # the audit actor is user:<name>
    Column("role", String(16), nullable=False),  # registrar | auditor | admin
    Column("authority", String(64)),  # registrar: the authority it files for
    Column("password_hash", String(200), nullable=False),  # argon2id, with its parameters and salt
    Column("created_at", UTCDateTime, nullable=False),
    Column("disabled_at", UTCDateTime),
    # Lockout: failures counted since window_start; a full window locks the account until locked_until.
    Column("failures", Integer, nullable=False, default=0),
    Column("window_start", UTCDateTime),
    Column("locked_until", UTCDateTime),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # sha256 hex of the cookie's 256-bit random id
    Column("user_name", String(48), ForeignKey("console_users.name"), nullable=False),
    Column("csrf", String(64), nullable=False),  # the token every POST of this session must carry
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),  # signed out (or the user disabled): the cookie no longer opens it
    Index("ix_console_sessions_user_name", "user_name"),
)
