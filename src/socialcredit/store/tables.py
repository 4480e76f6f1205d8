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
from .tables_node_audit import node_audit, node_audit_heads
from .tables_process import objections, repair_requests
from .tables_registry import record_events, records, subjects
from .tables_reports import reports
from .tables_screening import screenings
from .tables_screening_watch import (
    screening_watch_keys,
    screening_watch_rows,
    screening_watch_runs,
    screening_watches,
)
from .tables_selfservice import evidence, portal_sessions
from .tables_supervision import supervision_plans

__all__ = [
    "api_keys",
    "audit_log",
    "console_sessions",
    "console_users",
    "deliveries",
    "evidence",
    "feed_cursors",
    "monitor_hits",
    "monitor_runs",
    "node_audit",
    "node_audit_heads",
    "objections",
    "outbox",
    "portal_sessions",
    "record_events",
    "records",
    "repair_requests",
    "reports",
    "screening_watch_keys",
    "screening_watch_rows",
    "screening_watch_runs",
    "screening_watches",
    "screenings",
    "subjects",
    "subscriptions",
    "supervision_plans",
    "watchlist_members",
    "watchlists",
]
