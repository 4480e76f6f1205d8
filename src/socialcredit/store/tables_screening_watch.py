"""Saved screenings (issue 17 point 6): a screened file kept as a watchlist of identifiers and name keys.

``screening_watches`` holds one saved screening (its owner, action, threshold, and the feed cursor and instant
of its last run); ``screening_watch_rows`` each row's key columns and last result; ``screening_watch_keys`` the
reverse index (key -> rows) a run looks changed subjects up in; ``screening_watch_runs`` each run and its report.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, Text, UniqueConstraint

from .schema import UTCDateTime, metadata

__all__ = ["screening_watch_keys", "screening_watch_rows", "screening_watch_runs", "screening_watches"]

screening_watches = Table(
    "screening_watches",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner", String(64), nullable=False),  # the API key id (or cli) that saved it
    Column("name", String(100), nullable=False),
    Column("view", String(16), nullable=False),  # full | public: what the rows were screened against
    Column("action", String(200)),
    Column("threshold", Float, nullable=False),
    Column("source", String(300), nullable=False),  # the screened file's name and sha256
    Column("rows", Integer, nullable=False),
    Column("cursor", BigInteger, nullable=False),  # the outbox seq the last run read up to
    Column("last_at", UTCDateTime, nullable=False),  # the instant the last run screened at
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("owner", "name", name="uq_screening_watches_owner_name"),
)

screening_watch_rows = Table(
    "screening_watch_rows",
    metadata,
    Column("watch_id", String(32), primary_key=True),
    Column("row", Integer, primary_key=True),  # 1-based position in the file
    Column("subject_id", String(200)),
    Column("name", Text),
    Column("kind", String(40)),
    Column("birth_date", String(40)),
    Column("region", String(40)),
    Column("status", String(16), nullable=False),
    Column("score", Float),
    Column("outcome", Text, nullable=False),  # matched subjects and their decisions, compared between runs
)

screening_watch_keys = Table(
    "screening_watch_keys",
    metadata,
    Column("watch_id", String(32), primary_key=True),
    Column("key", String(200), primary_key=True),  # #<canonical id>, or a name key of the matcher
    Column("row", Integer, primary_key=True),
)

screening_watch_runs = Table(
    "screening_watch_runs",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("watch_id", String(32), nullable=False),
    Column("ran_at", UTCDateTime, nullable=False),
    Column("cursor_from", BigInteger, nullable=False),
    Column("cursor_to", BigInteger, nullable=False),
    Column("rescored", Integer, nullable=False),
    Column("changed", Integer, nullable=False),
    Column("report", Text, nullable=False),  # JSON: the summary and the changed rows
    Index("ix_screening_watch_runs_watch_id", "watch_id"),
)
