"""Feed tables: the transactional outbox every lifecycle event is written to with the change itself."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text

from .schema import UTCDateTime, metadata

__all__ = ["outbox"]

outbox = Table(
    "outbox",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("event_seq", BigInteger, nullable=False, unique=True),  # record_events.seq
    Column("record_id", BigInteger, nullable=False),
    Column("type", String(32), nullable=False),
    Column("subject_ids", Text, nullable=False),  # JSON list: the subject and any linked persons reached
    Column("payload", Text, nullable=False),  # JSON event body as delivered
    Column("created_at", UTCDateTime, nullable=False),
)
