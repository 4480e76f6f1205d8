"""The feed: the outbox read after a cursor, webhooks (signed, retried, dead-lettered), NATS JetStream,
watchlists and monitors."""

from .dispatcher import Dispatcher, DispatchSettings, RoundResult
from .errors import FeedInvalid, Replayed, SignatureError
from .monitor import Hit, MonitorReport, run_monitor
from .reader import FeedEvent, FeedPage, head, parse_cursor, read_after
from .signing import HEADER, ReplayGuard, sign, verify_signature
from .subscriptions import (
    create_subscription,
    get_subscription,
    list_deliveries,
    list_subscriptions,
    redeliver,
    set_active,
)
from .watchlists import (
    WatchlistInvalid,
    create_watchlist,
    get_watchlist,
    members,
    members_among,
    parse_members,
    upload_members,
)

__all__ = [
    "HEADER",
    "DispatchSettings",
    "Dispatcher",
    "FeedEvent",
    "FeedInvalid",
    "FeedPage",
    "Hit",
    "MonitorReport",
    "ReplayGuard",
    "Replayed",
    "RoundResult",
    "SignatureError",
    "WatchlistInvalid",
    "create_subscription",
    "create_watchlist",
    "get_subscription",
    "get_watchlist",
    "head",
    "list_deliveries",
    "list_subscriptions",
    "members",
    "members_among",
    "parse_cursor",
    "parse_members",
    "read_after",
    "redeliver",
    "run_monitor",
    "set_active",
    "sign",
    "upload_members",
    "verify_signature",
]
