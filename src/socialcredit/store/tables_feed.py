"""Feed tables: the transactional outbox every lifecycle event is written to with the change itself (the payload
is derived from the event when read: ``registry.writer.feed_payload``), and
what delivers it onward: webhook subscriptions and their deliveries, publisher cursors, watchlists and
monitor runs.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from .schema import UTCDateTime, metadata

__all__ = [
    "deliveries",
    "feed_cursors",
    "monitor_hits",
    "monitor_runs",
    "outbox",
    "subscriptions",
    "watchlist_members",
    "watchlists",
]

outbox = Table(
    "outbox",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    # record_events.seq: the event itself, or for a derived event (grade.changed) the record event causing it
    Column("event_seq", BigInteger, nullable=False),
    Column("record_id", BigInteger, nullable=False),
    Column("type", String(32), nullable=False),
    Column("subject_ids", Text, nullable=False),  # JSON list: the subject and any linked persons reached
    Column("created_at", UTCDateTime, nullable=False),
    # A derived event's own id ("grade:<event_seq>:<model>") and body, stored once so every delivery sends the
    # same bytes even after the catalogue changes (decision 1011); both null for a record event.
    Column("event_key", String(120)),
    Column("body", Text),
    Index("ix_outbox_event_seq", "event_seq"),
    # Partial: the import's rows (event_key null) add no entry to it, so a filing costs what it did.
    Index(
        "ix_outbox_event_key",
        "event_key",
        unique=True,
        postgresql_where=text("event_key IS NOT NULL"),
        sqlite_where=text("event_key IS NOT NULL"),
    ),
)

# A webhook endpoint; ``cursor`` is the last outbox seq already turned into deliveries for it.
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner", String(64), nullable=False),  # the API key id (or "cli") that created it
    Column("url", Text, nullable=False),
    Column("secret", String(128), nullable=False),  # HMAC key; shown once at creation
    Column("watchlist_id", String(32)),  # only events about the watchlist's members; None: every event
    Column("types", Text, nullable=False, default="[]"),  # JSON list of event types; empty: all
    Column("active", Boolean, nullable=False, default=True),
    Column("cursor", BigInteger, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
)

# One event to one subscription: pending -> delivered, or dead after the attempt bound.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("subscription_id", String(32), nullable=False),
    Column("outbox_seq", BigInteger, nullable=False),
    Column("event_id", BigInteger, nullable=False),  # record_events.seq, the id receivers deduplicate on
    Column("status", String(16), nullable=False),  # pending | delivered | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", Text),
    Column("last_status", Integer),  # HTTP status of the last attempt, if one came back
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime),
    Column("dead_at", UTCDateTime),
    # The dispatcher working on it and until when (decision 1100): a claim past ``claimed_until`` is anyone's.
    Column("claimed_by", String(64)),
    Column("claimed_until", UTCDateTime),
    UniqueConstraint("subscription_id", "outbox_seq"),
    Index("ix_deliveries_due", "status", "next_attempt_at"),
    Index("ix_deliveries_subscription_head", "subscription_id", "status", "id"),
)

# Where a publisher (e.g. NATS) has got to in the outbox, and which dispatcher publishes until when (one at a
# time, so the stream keeps the outbox's order; decision 1100).
feed_cursors = Table(
    "feed_cursors",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("held_by", String(64)),
    Column("held_until", UTCDateTime),
)

watchlists = Table(
    "watchlists",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner", String(64), nullable=False),  # the API key id (or "cli") that owns it
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

watchlist_members = Table(
    "watchlist_members",
    metadata,
    Column("watchlist_id", String(32), primary_key=True),
    Column("subject_id", String(64), primary_key=True),  # canonical identifier
    Index("ix_watchlist_members_subject_id", "subject_id"),
)

monitor_runs = Table(
    "monitor_runs",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("watchlist_id", String(32), nullable=False),
    Column("ran_at", UTCDateTime, nullable=False),
    Column("hits", Integer, nullable=False),
    Column("new_hits", Integer, nullable=False),
    Column("lifted_hits", Integer, nullable=False),
    Index("ix_monitor_runs_watchlist_id", "watchlist_id", "id"),
)

# The hits of a run: a member with a record applying to them at the run's instant.
monitor_hits = Table(
    "monitor_hits",
    metadata,
    Column("run_id", BigInteger, primary_key=True),
    Column("subject_id", String(64), primary_key=True),
    Column("record_id", BigInteger, primary_key=True),
)
