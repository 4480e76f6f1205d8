"""Registry tables: subjects, the append-only record events (the source of truth) and the records projection."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from .schema import UTCDateTime, metadata

__all__ = ["record_events", "records", "subjects"]

subjects = Table(
    "subjects",
    metadata,
    Column("id", String(64), primary_key=True),  # canonical identifier
    Column("kind", String(16), nullable=False),  # person | organisation
    Column("name", String(300), nullable=False),
    Column("region_code", String(6)),
    Column("region", String(100)),
    Column("allowlisted", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Append-only: one row per lifecycle event; ``state`` is the record's full state after the event (JSON), so the
# state "as known at" any instant is the last event recorded at or before it.
record_events = Table(
    "record_events",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("record_id", BigInteger, nullable=False),
    Column("type", String(32), nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("actor", String(120), nullable=False),
    Column("reason", Text),
    Column("state", Text, nullable=False),
    Index("ix_record_events_record_id_seq", "record_id", "seq"),
)

# The projection of current state, rebuilt from record_events on demand (``registry.projection.rebuild``).
records = Table(
    "records",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("authority", String(64), nullable=False),
    Column("external_id", String(200), nullable=False),
    Column("category", String(120), nullable=False),
    Column("subject_id", String(64), nullable=False),
    Column("subject_name", String(300), nullable=False),
    Column("decision_no", String(200), nullable=False),
    Column("decided_on", Date, nullable=False),
    Column("effective_from", UTCDateTime, nullable=False),
    Column("effective_until", UTCDateTime),  # None only for categories that end by fulfilment
    Column("legal_basis", Text, nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("legal_representative_id", String(64)),
    Column("legal_representative_name", String(300)),
    Column("actual_controller_id", String(64)),
    Column("actual_controller_name", String(300)),
    Column("status", String(32), nullable=False),
    Column("applies_from", UTCDateTime, nullable=False),  # after notice, unless the category acts at once
    Column("ended_at", UTCDateTime),  # lifted early: revoked, repaired, fulfilled
    Column("suspensions", Text, nullable=False, default="[]"),  # JSON [[from, to|null], ...]
    Column("version", BigInteger, nullable=False),  # seq of the last event
    Column("content_hash", String(64), nullable=False),
    Column("filed_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("authority", "external_id"),
    Index("ix_records_subject_id", "subject_id"),
    Index("ix_records_legal_representative_id", "legal_representative_id"),
    Index("ix_records_actual_controller_id", "actual_controller_id"),
)
