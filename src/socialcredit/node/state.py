"""What a running check node holds: the attributes the API's check and health routers read (``checker``,
``catalogue``, ``settings``, ``audit``, ``metrics``, ``start()``, ``key_for_async``), so the node serves those
routers as they are, plus the follower's position, its lag and readiness (decision 1102).

Nothing here reads the database on a check: keys come from :class:`~.keys.KeyTable` (refreshed off the hot path),
the index from :class:`~.live.LiveIndex` (a snapshot, then the feed), the audit goes to an :class:`Auditor`.
"""

from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import Counter, Gauge

from ..api.metrics import Metrics
from ..audit import AuditEntry
from ..catalogue import Catalogue
from ..engine import Checker
from ..keys import ApiKey
from ..settings import Settings
from ..store import Database
from .keys import KeyTable
from .live import LiveIndex

__all__ = ["Auditor", "NodeMetrics", "NodeState"]

log = logging.getLogger("socialcredit.node")


class Auditor(Protocol):
    """Where a node's check audit entries go (issue 20 point 3: node/audit.py). ``record`` returns the
    entry's sequence number once it is kept, and raises when it cannot be (its buffer full): the check is
    then refused with a 503, never answered unaudited."""

    def start(self) -> None: ...

    def close(self) -> None: ...

    async def record(self, entry: AuditEntry) -> int: ...


class NodeMetrics(Metrics):
    """The API's request and check metrics, and the follower's."""

    def __init__(self) -> None:
        super().__init__()
        r = self.registry
        self.lag_events = Gauge(
            "socialcredit_node_lag_events", "Messages in the stream this node has not applied yet", registry=r
        )
        self.lag_seconds = Gauge(
            "socialcredit_node_lag_seconds",
            "Seconds since this node last held everything the stream held",
            registry=r,
        )
        self.applied_seq = Gauge(
            "socialcredit_node_applied_seq", "The newest record event the index reflects", registry=r
        )
        self.ready = Gauge("socialcredit_node_ready", "1 when /readyz answers 200", registry=r)
        self.keys_age = Gauge(
            "socialcredit_node_keys_age_seconds", "Seconds since the key table was last read", registry=r
        )
        self.events = Counter(
            "socialcredit_node_messages_total",
            "Messages read from the stream, by what was done with them",
            ["outcome"],  # applied | duplicate | not_a_record_event | unreadable
            registry=r,
        )
        self.resyncs = Counter(
            "socialcredit_node_resyncs_total",
            "Re-syncs, by where the index came from",
            ["source"],
            registry=r,
        )
        self.positions = Counter(
            "socialcredit_node_consumer_positions_total",
            "Times the node positioned itself on the stream, by what was done with its durable consumer",
            ["how"],  # resumed (a restart at the seq it had reached) | created (re-positioned)
            registry=r,
        )


@dataclass
class NodeState:
    db: Database
    catalogue: Catalogue
    settings: Settings
    live: LiveIndex
    audit: Auditor
    keys: KeyTable
    name: str
    metrics: NodeMetrics = field(default_factory=NodeMetrics)
    # Why the node is out of sync (a gap, a re-sync under way, not yet positioned on the stream); None: in sync.
    unsynced: str | None = "not yet following the stream"
    lag_events: int = 0
    caught_up_at: float | None = None  # monotonic: when the node last held everything the stream held
    history: collections.deque[tuple[float, bool, str]] = field(
        default_factory=lambda: collections.deque(maxlen=100)
    )  # readiness changes (wall time, ready, reason): what /readyz answered, for the logs and tests

    def __post_init__(self) -> None:
        m = self.metrics
        m.lag_events.set_function(lambda: self.lag_events)
        m.lag_seconds.set_function(self.lag_seconds)
        m.applied_seq.set_function(lambda: self.live.last_seq)
        m.ready.set_function(lambda: 1.0 if self.readiness() is None else 0.0)
        m.keys_age.set_function(self.keys.age)
        self._last_said: str | None = ""

    # -- what the API's routers use ----------------------------------------------------------------------------

    @property
    def checker(self) -> Checker:
        return self.live.checker

    def start(self) -> None:
        self.audit.start()

    async def key_for_async(self, token: str) -> ApiKey:
        return self.keys.get(token)

    # -- the follower's reports --------------------------------------------------------------------------------

    def lag_seconds(self) -> float:
        if self.caught_up_at is None:
            return float("inf")
        if self.lag_events == 0 and self.unsynced is None:
            return max(0.0, time.monotonic() - self.caught_up_at - FETCH_WAIT)
        return time.monotonic() - self.caught_up_at

    def set_unsynced(self, reason: str | None) -> None:
        self.unsynced = reason
        self.readiness()

    def readiness(self) -> str | None:
        """None when ready; else why not (what /readyz says)."""
        reason: str | None
        if self.unsynced is not None:
            reason = self.unsynced
        elif not self.keys.loaded:
            reason = "the key table has not been read yet"
        elif self.lag_events > self.settings.node_max_lag_events:
            reason = f"{self.lag_events} events behind (at most {self.settings.node_max_lag_events})"
        elif (lag := self.lag_seconds()) > self.settings.node_max_lag_seconds:
            reason = f"{lag:.1f} s behind (at most {self.settings.node_max_lag_seconds} s)"
        else:
            reason = None
        said = _kind(reason)
        if said != self._last_said:  # a change of readiness or of its kind of reason (not each lag figure)
            self._last_said = said
            self.history.append((time.time(), reason is None, reason or "ready"))
            level = logging.INFO if reason is None else logging.WARNING
            log.log(level, "node %s: %s", self.name, reason or "ready")
        return reason

    def close(self) -> None:
        self.audit.close()


def _kind(reason: str | None) -> str | None:
    """A reason without its figures, so that a lag growing second by second is logged once."""
    if reason is None:
        return None
    return "lag" if " behind (at most " in reason else reason


# The follower waits this long for new messages when caught up; a quiet stream is not lag.
FETCH_WAIT = 1.0
