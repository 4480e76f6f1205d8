"""Imports every area's tables so they register on the shared MetaData."""

from .tables_access import api_keys, audit_log
from .tables_console import console_sessions, console_users
from .tables_feed import (
    deliveries,
    feed_cursors,
    monitor_hits,
    monitor_runs,
    outbox,
    subscriptions,
    watchlist_members,
    watchlists,
)
from .tables_process import objections, repair_requests
from .tables_registry import record_events, records, subjects
from .tables_reports import reports
from .tables_supervision import supervision_plans

__all__ = [
    "api_keys",
    "audit_log",
    "console_sessions",
    "console_users",
    "deliveries",
    "feed_cursors",
    "monitor_hits",
    "monitor_runs",
    "objections",
    "outbox",
    "record_events",
    "records",
    "repair_requests",
    "reports",
    "subjects",
    "subscriptions",
    "supervision_plans",
    "watchlist_members",
    "watchlists",
]
