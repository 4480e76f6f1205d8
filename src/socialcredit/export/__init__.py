"""Exports of the public lists for other tools: FollowTheMoney entities, and CSV or Parquet extracts with a
data dictionary (docs/exports.md). Only what public search shows is exported (decisions 0302, 0904)."""

from __future__ import annotations

from .dictionary import COLUMNS, Column
from .source import Listing, public_listings

__all__ = ["COLUMNS", "FORMATS", "Column", "Listing", "public_listings"]

FORMATS = ("ftm", "csv", "parquet")
