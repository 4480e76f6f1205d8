"""What a running app holds: the database, the catalogue, one Checker, the audit writer, key and rate caches.

Threading: the Checker is only touched on the event loop thread (checks run there, and it is refreshed there
after every in-process write and, lazily, before any check once ``REFRESH_EVERY`` has passed, which is how
other processes' writes arrive). Database work runs in the thread pool or, for check audit entries, in the
audit writer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import queue
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine

from ..audit import AuditEntry, append
from ..catalogue import Catalogue
from ..engine import Checker
from ..keys import ApiKey, InvalidToken, authenticate, hash_token
from ..settings import Settings
from ..store import Database
from .metrics import Metrics

__all__ = ["KEY_CACHE_SECONDS", "REFRESH_EVERY", "AppState", "AuditWriter", "RateLimiter"]

REFRESH_EVERY = 0.2  # seconds: how stale the Checker may be relative to other processes' writes
KEY_CACHE_SECONDS = 1.0  # how long another process's revocation may take to reach this one


class AuditWriter:
    """Group commit for the audit entries of checks.

    A check is answered only after its entry is committed (an unaudited read never leaves the server), but
    entries that arrive while a commit is in flight share the next one: one transaction per batch.
    """

    def __init__(self, engine: Engine, max_batch: int = 2000) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._q: queue.SimpleQueue[tuple[AuditEntry, concurrent.futures.Future[int]] | None] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, entry: AuditEntry) -> concurrent.futures.Future[int]:
        fut: concurrent.futures.Future[int] = concurrent.futures.Future()
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                    self._thread.start()
        self._q.put((entry, fut))
        return fut

    async def record(self, entry: AuditEntry) -> int:
        """Append ``entry`` and wait until it is committed; its sequence number."""
        return await asyncio.wrap_future(self.submit(entry))

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < self.max_batch:
                try:
                    more = self._q.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._q.put(None)
                    break
                batch.append(more)
            try:
                with self.engine.begin() as conn:
                    seqs = append(conn, [e for e, _ in batch], dt.datetime.now(dt.UTC))
            except Exception as exc:  # every waiting request learns it: none is answered unaudited
                for _, fut in batch:
                    fut.set_exception(exc)
                continue
            for (_, fut), seq in zip(batch, seqs, strict=True):
                fut.set_result(seq)

    def close(self) -> None:
        if self._thread is not None:
            self._q.put(None)
            self._thread.join(timeout=10)
            self._thread = None


class RateLimiter:
    """A fixed one-minute window per client address, in memory (per process)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._windows: dict[str, tuple[int, int]] = {}

    def hit(self, client: str) -> int | None:
        """None if allowed, else the seconds to wait."""
        now = time.time()
        window = int(now // 60)
        start, count = self._windows.get(client, (window, 0))
        if start != window:
            start, count = window, 0
        if count >= self.per_minute:
            return max(1, int(60 - now % 60))
        if len(self._windows) > 100_000:  # bounded memory: old windows are worthless anyway
            self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
        self._windows[client] = (start, count + 1)
        return None


@dataclass
class AppState:
    db: Database
    catalogue: Catalogue
    settings: Settings
    checker: Checker
    audit: AuditWriter
    metrics: Metrics
    limiter: RateLimiter
    last_refresh: float = 0.0
    _keys: dict[str, tuple[ApiKey, float]] = field(default_factory=dict)

    @classmethod
    def build(cls, db: Database, catalogue: Catalogue, settings: Settings) -> AppState:
        checker = Checker(db.engine, catalogue)
        return cls(
            db,
            catalogue,
            settings,
            checker,
            AuditWriter(db.engine),
            Metrics(),
            RateLimiter(settings.public_rate_limit),
            time.monotonic(),
        )

    def refresh(self, force: bool = False) -> None:
        """Apply record events committed since the last refresh (by this or any other process)."""
        now = time.monotonic()
        if force or now - self.last_refresh >= REFRESH_EVERY:
            self.checker.refresh()
            self.last_refresh = now

    def key_for(self, token: str) -> ApiKey:
        """Authenticate a token, caching good keys briefly; expiry is re-checked on every use."""
        digest = hash_token(token)
        now = dt.datetime.now(dt.UTC)
        hit = self._keys.get(digest)
        if hit is not None and time.monotonic() - hit[1] < KEY_CACHE_SECONDS:
            key = hit[0]
            if key.status(now) != "active":
                raise InvalidToken(f"key {key.id} is {key.status(now)}")
            return key
        with self.db.engine.connect() as conn:
            key = authenticate(conn, token, now)
        if len(self._keys) > 10_000:
            self._keys.clear()
        self._keys[digest] = (key, time.monotonic())
        return key

    def forget_keys(self) -> None:
        self._keys.clear()

    def close(self) -> None:
        self.audit.close()
