"""What a running app holds: the database, the catalogue, one Checker, the audit writer, key and rate caches.

Threading: checks run on the event loop and read the Checker's index; nothing on the loop waits for the
database. One database thread (``AuditWriter``) group-commits the audit entries of checks and, between
commits, refreshes the index every ``REFRESH_EVERY`` seconds (how other processes' writes arrive) and on
request after an in-process write (awaited, so a writer reads its own write). Doing both on one thread means
they never contend for SQLite's write lock, whose busy-wait backs off in sleeps of up to 100 ms. The Checker
replaces each subject's entries with one atomic store, so checks on the loop may read while it refreshes. A
database held by a long import delays freshness, never answers. Key lookups on a cache miss run on the same
thread, for the same reason.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from sqlalchemy import Engine

from ..audit import AuditEntry, append
from ..catalogue import Catalogue
from ..engine import Checker
from ..keys import ApiKey, InvalidToken, authenticate, hash_token
from ..settings import Settings
from ..store import Database
from .budget import IdentifierBudget, LookupHasher, Network, RateLimiter
from .metrics import Metrics
from .public_names import PublicNames

__all__ = ["KEY_CACHE_SECONDS", "REFRESH_EVERY", "AppState", "AuditWriter", "RateLimiter"]

log = logging.getLogger("socialcredit.api")
REFRESH_EVERY = 0.2  # seconds: how stale the Checker may be relative to other processes' writes
KEY_CACHE_SECONDS = 1.0  # how long another process's revocation may take to reach this one


T = TypeVar("T")
_NOTHING = object()  # a wake-up with nothing queued: time to tick
_Item = tuple[AuditEntry | Callable[[], Any], concurrent.futures.Future[Any]]


def _settle(fut: concurrent.futures.Future[Any], seq: Any = 0, exc: Exception | None = None) -> None:
    # A request that went away (client disconnect) has cancelled its future; the writer must not die of it.
    with contextlib.suppress(concurrent.futures.InvalidStateError):
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(seq)


class AuditWriter:
    """The database thread: group commit for the audit entries of checks, and the index's refreshes.

    A check is answered only after its entry is committed (an unaudited read never leaves the server), but
    entries that arrive while a commit is in flight share the next one: one transaction per batch. ``tick``
    runs between batches at least every ``tick_every`` seconds; ``run(job)`` runs a job in turn with the
    commits.
    """

    def __init__(
        self,
        engine: Engine,
        max_batch: int = 2000,
        tick: Callable[[], object] | None = None,
        tick_every: float = REFRESH_EVERY,
    ) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.tick = tick
        self.tick_every = tick_every
        self._q: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                    self._thread.start()

    def submit(self, entry: AuditEntry) -> concurrent.futures.Future[int]:
        fut: concurrent.futures.Future[int] = concurrent.futures.Future()
        self.start()
        self._q.put((entry, fut))
        return fut

    def run(self, job: Callable[[], T]) -> concurrent.futures.Future[T]:
        """Run ``job`` on this thread, in turn with the commits (so the two never contend for a lock)."""
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        self.start()
        self._q.put((job, fut))
        return fut

    async def record(self, entry: AuditEntry) -> int:
        """Append ``entry`` and wait until it is committed; its sequence number."""
        return await asyncio.wrap_future(self.submit(entry))

    def _commit(self, batch: list[tuple[AuditEntry, concurrent.futures.Future[int]]]) -> None:
        try:
            with self.engine.begin() as conn:
                seqs = append(conn, [e for e, _ in batch], dt.datetime.now(dt.UTC))
        except Exception as exc:  # every waiting request learns it: none is answered unaudited
            for _, fut in batch:
                _settle(fut, exc=exc)
            return
        for (_, fut), seq in zip(batch, seqs, strict=True):
            _settle(fut, seq)

    def _job(self, job: Callable[[], Any], fut: concurrent.futures.Future[Any]) -> None:
        try:
            result = job()
        except Exception as exc:
            _settle(fut, exc=exc)
            return
        _settle(fut, result)

    def _tick(self, failing: int) -> int:
        """Run ``tick``; how many ticks in a row have failed. The next tick retries and checks go on from the
        index as it is; a database that is down is logged when it goes and when it comes back, not five times a
        second (decision 1104)."""
        assert self.tick is not None
        try:
            self.tick()
        except Exception:
            if not failing:
                log.exception("audit writer tick failed (retried every %s s)", self.tick_every)
            return failing + 1
        if failing:
            log.warning("audit writer tick succeeds again after %d failed ticks", failing)
        return 0

    def _run(self) -> None:
        next_tick = time.monotonic() + self.tick_every
        failing = 0
        while True:
            item: object
            try:
                item = self._q.get(timeout=max(0.0, next_tick - time.monotonic()))
            except queue.Empty:
                item = _NOTHING
            if item is None:
                return
            entries: list[tuple[AuditEntry, concurrent.futures.Future[int]]] = []
            jobs: list[tuple[Callable[[], Any], concurrent.futures.Future[Any]]] = []
            stop = False
            while item is not _NOTHING:
                if item is None:
                    stop = True
                    break
                what, fut = cast(_Item, item)
                if isinstance(what, AuditEntry):
                    entries.append((what, fut))
                else:
                    jobs.append((what, fut))
                if len(entries) >= self.max_batch:
                    break
                try:
                    item = self._q.get_nowait()
                except queue.Empty:
                    break
            if entries:
                self._commit(entries)
            for job, fut in jobs:
                self._job(job, fut)
            if stop:
                return
            if self.tick is not None and time.monotonic() >= next_tick:
                failing = self._tick(failing)
                next_tick = time.monotonic() + self.tick_every

    def close(self) -> None:
        if self._thread is not None:
            self._q.put(None)
            self._thread.join(timeout=10)
            self._thread = None


@dataclass
class AppState:
    db: Database
    catalogue: Catalogue
    settings: Settings
    checker: Checker
    audit: AuditWriter
    metrics: Metrics
    limiter: RateLimiter
    budget: IdentifierBudget
    proxies: tuple[Network, ...]
    lookups: LookupHasher
    typeahead: RateLimiter = field(default_factory=lambda: RateLimiter(300))
    names: PublicNames = field(default_factory=PublicNames)  # reconciliation's name index
    # Screener keys' identifier lookups (POST /v1/screenings), per key; no shared bucket of misses (0911).
    screener_budget: IdentifierBudget = field(default_factory=lambda: IdentifierBudget(1, 1, per="key"))
    screenings: Any = None  # screening.jobs.Jobs, made on the first upload (api/routers/screenings.py)
    _keys: dict[str, tuple[ApiKey, float]] = field(default_factory=dict)

    @classmethod
    def build(cls, db: Database, catalogue: Catalogue, settings: Settings) -> AppState:
        checker = Checker(db.engine, catalogue)
        return cls(
            db,
            catalogue,
            settings,
            checker,
            AuditWriter(db.engine, tick=checker.refresh),
            Metrics(),
            RateLimiter(settings.public_rate_limit),
            IdentifierBudget(settings.identifier_lookups_per_hour, settings.identifier_misses_per_day),
            settings.trusted_proxy_networks(),
            LookupHasher(settings.lookup_hash_key_file),
            RateLimiter(settings.public_typeahead_limit),
            screener_budget=IdentifierBudget(settings.screener_identifier_lookups_per_hour, 2**62, per="key"),
        )

    async def refresh_now(self) -> None:
        """Apply every record event committed so far (after an in-process write), on the database thread."""
        await asyncio.wrap_future(self.audit.run(self.checker.refresh))

    def start(self) -> None:
        """Start the database thread, and with it the index's periodic refresh (the app's lifespan does; a
        first check or write does too)."""
        self.audit.start()

    async def stop(self) -> None:
        self.close()

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

    async def key_for_async(self, token: str) -> ApiKey:
        """As :meth:`key_for`; a cache miss reads the database on the database thread, not on the loop (and
        not beside the audit commits, which it would hold up on SQLite's write lock)."""
        hit = self._keys.get(hash_token(token))
        if hit is not None and time.monotonic() - hit[1] < KEY_CACHE_SECONDS:
            return self.key_for(token)
        return await asyncio.wrap_future(self.audit.run(lambda: self.key_for(token)))

    def forget_keys(self) -> None:
        self._keys.clear()

    def close(self) -> None:
        if self.screenings is not None:
            self.screenings.close()
        self.audit.close()
