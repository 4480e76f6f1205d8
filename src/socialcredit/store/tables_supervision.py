"""Supervision tables: the random-inspection plans drawn (双随机、一公开), each with its rows, as stored."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from .schema import UTCDateTime, metadata

__all__ = ["supervision_plans"]

supervision_plans = Table(
    "supervision_plans",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("authority", String(64), nullable=False),
    Column("region", String(6)),  # a division code prefix, or None: every region
    Column("year", Integer, nullable=False),
    Column("seed", String(64), nullable=False),
    Column("as_of", UTCDateTime, nullable=False),  # the instant the firms were graded
    Column("model", String(120), nullable=False),
    Column("catalogue_version", String(64), nullable=False),
    Column("inspectors_digest", String(64), nullable=False),  # sha256 hex of the uploaded inspectors' file
    Column("counts", Text, nullable=False),  # JSON [{class, rate, firms, drawn}, ...]
    Column("rows", Text, nullable=False),  # JSON [{firm, name, class, rate, inspectors: [{id, name}]}, ...]
    Column("drawn", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("actor", String(120), nullable=False),
    Index("ix_supervision_plans_authority", "authority"),
)
