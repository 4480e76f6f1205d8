"""Issued credit reports: what was signed, so a report can be checked against the registry later."""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table, Text

from .schema import UTCDateTime, metadata

__all__ = ["reports"]

# Append-only: one row per issued report. ``content`` is the signed canonical JSON itself, so ``GET /verify?no=``
# can say what changed since without the PDF; ``digest`` (sha256 hex of it) is what the QR code carries a prefix of.
reports = Table(
    "reports",
    metadata,
    Column("report_no", String(40), primary_key=True),
    Column("subject_id", String(64), nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("issued_by", String(64), nullable=False),  # key id or cli:<user>
    Column("key_id", String(16), nullable=False),  # the report signing key's id
    Column("digest", String(64), nullable=False),
    Column("content", Text, nullable=False),
    Column("pages_digest", String(64), nullable=False),  # reports.pdf.pages_fingerprint of the issued PDF
    Index("ix_reports_subject_id", "subject_id"),
)
