"""Imports every area's tables so they register on the shared MetaData."""

from .tables_feed import outbox
from .tables_registry import record_events, records, subjects

__all__ = ["outbox", "record_events", "records", "subjects"]
