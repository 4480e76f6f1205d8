"""Screening jobs over HTTP (issue 17 point 2): one row per uploaded file, its progress and its outcome."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, Text

from .schema import UTCDateTime, metadata

__all__ = ["screenings"]

# A job is visible to the key that uploaded it and to no one else (the API answers 404 to any other key).
# The input file is deleted when the run ends; only its digest stays. The result is a file in screening_dir.
screenings = Table(
    "screenings",
    metadata,
    Column("id", String(32), primary_key=True),  # random: an id tells nothing of other jobs
    Column("key_id", String(32), nullable=False),  # the uploading key
    Column("role", String(16), nullable=False),  # its role when it uploaded: the view the result was cut to
    Column("format", String(8), nullable=False),  # csv | jsonl | parquet | xlsx, in and out
    Column("action", String(200)),
    Column("threshold", Float, nullable=False),
    Column("status", String(16), nullable=False),  # queued | running | done | failed
    Column("bytes", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("rows_total", BigInteger().with_variant(Integer, "sqlite")),  # known up front for screeners
    Column("rows_done", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("counts", Text, nullable=False, default="{}"),  # JSON: hit, possible_match, clear, invalid
    Column("error", String(500)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Index("ix_screenings_key_id", "key_id"),
)
