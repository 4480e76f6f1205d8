"""Imports every area's tables so they register on the shared MetaData."""

from .tables_access import api_keys, audit_log
from .tables_feed import outbox
from .tables_registry import record_events, records, subjects

__all__ = ["api_keys", "audit_log", "outbox", "record_events", "records", "subjects"]
