"""The dispatcher: turns outbox rows into webhook deliveries and delivers them, at least once.

Each round: (1) *enqueue*: for every active subscription, outbox rows after its cursor that pass its filters
(event types, watchlist membership of ``subject_ids``) become ``pending`` deliveries, and the cursor moves, in
one transaction; (2) *deliver*: due deliveries are POSTed, signed (:mod:`.signing`), oldest first; a 2xx marks
one ``delivered``; anything else counts an attempt and schedules the next after an exponential backoff with
jitter; after ``max_attempts`` it is ``dead`` (dead-lettered, visible, redeliverable). A failing endpoint is
probed by one delivery a round: its other due deliveries wait for the probe's next attempt, so an endpoint
that is down costs one request a backoff step, not one per event.

Crash safety: the status is written only after the endpoint answered, so a dispatcher killed between the two
sends that event again on restart: a duplicate with the same ``event_id`` (at-least-once), never a loss.

Several dispatchers may run on one database (decision 1100): enqueue locks each subscription row, and delivery
works on *claims* (:mod:`.claims`): a subscription's oldest pending delivery and the run after it, held under a
lease (``lease`` seconds, renewed while the run lasts), so a subscription is delivered by one dispatcher at a
time and in order, and a dispatcher killed with claims held loses them after one lease.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from sqlalchemy import Connection, Engine, insert, select, update

from ..catalogue import load_catalogue
from ..engine.rules import Rules, compile_rules
from ..store.tables import deliveries, outbox, record_events, subscriptions
from .claims import claim_runs, dispatcher_name, release, renew
from .grades import GRADE_CHANGED, Grader, RegistrarView
from .reader import EVENT_COLUMNS, payload_of, state_about
from .scope import Scope, owner_scope
from .signing import HEADER, sign
from .targets import TargetRefused, resolve_target
from .watchlists import members_among

__all__ = ["DispatchSettings", "Dispatcher", "RoundResult"]

log = logging.getLogger("socialcredit.feed")


@dataclass(frozen=True)
class DispatchSettings:
    max_attempts: int = 20  # then dead-lettered (about 1.5-2 hours at the default backoff)
    backoff_base: float = 1.0  # seconds before the 2nd attempt; doubles each time
    backoff_max: float = 600.0
    timeout: float = 5.0  # per request
    batch: int = 500  # outbox rows enqueued, deliveries attempted, per round
    poll_interval: float = 0.02  # idle wait between rounds
    expire_interval: float = 10.0  # how often the loop sweeps records past their date (<= 60 s)
    lease: float = (
        60.0  # seconds a claim on deliveries holds without renewal (a killed dispatcher's: then free)
    )
    run: int = 100  # deliveries of one subscription claimed together, oldest first


@dataclass
class RoundResult:
    enqueued: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    published: int = 0
    expired: int = 0
    graded: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def busy(self) -> bool:
        return bool(
            self.enqueued or self.delivered or self.failed or self.published or self.expired or self.graded
        )


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        settings: DispatchSettings | None = None,
        *,
        client: httpx.Client | None = None,
        clock: Callable[[], dt.datetime] = _utcnow,
        publisher: Any = None,
        rules: Rules | None = None,
        grader: Grader | None = None,
    ) -> None:
        self.engine = engine
        self.grader = grader  # appends grade.changed rows after their causes, before they are enqueued
        # A checkpoint's subscription gets what its feed read gets (feed/scope.py, decision 0310).
        self._rules = rules
        self._scopes: dict[str, Scope | RegistrarView | None] = {}
        self.settings = settings or DispatchSettings()
        self.client = client or httpx.Client(timeout=self.settings.timeout)
        self.clock = clock
        self.publisher = publisher  # e.g. a NatsPublisher; anything with publish_pending(engine) -> int
        self.name = dispatcher_name()  # who holds this dispatcher's claims
        self._last_expire = 0.0

    def _scope(self, conn: Connection, owner: str) -> Scope | RegistrarView | None:
        if owner not in self._scopes:  # a key's scope never changes
            if self._rules is None:
                self._rules = compile_rules(load_catalogue())
            self._scopes[owner] = owner_scope(conn, owner, self._rules)
        return self._scopes[owner]

    def close(self) -> None:
        self.client.close()
        if self.publisher is not None:
            self.publisher.close()

    # -- enqueue ---------------------------------------------------------------------------------------------

    def enqueue(self) -> int:
        total = 0
        with self.engine.connect() as conn:
            subs = list(
                conn.execute(select(subscriptions.c.id).where(subscriptions.c.active.is_(True))).scalars()
            )
        for sid in subs:
            total += self._enqueue_one(sid)
        return total

    def _enqueue_one(self, sid: str) -> int:
        now = self.clock()
        with self.engine.begin() as conn:
            sub = conn.execute(
                select(subscriptions).where(subscriptions.c.id == sid).with_for_update()
            ).first()
            if sub is None or not sub.active:
                return 0
            rows = conn.execute(
                select(outbox.c.seq, outbox.c.event_seq, outbox.c.type, outbox.c.subject_ids)
                .where(outbox.c.seq > sub.cursor)
                .order_by(outbox.c.seq)
                .limit(self.settings.batch)
            ).all()
            if not rows:
                return 0
            types = set(json.loads(sub.types))
            kept = [r for r in rows if not types or r.type in types]
            scope = self._scope(conn, sub.owner)
            if isinstance(scope, RegistrarView):  # grade changes only, about the watchlist's members
                kept = [r for r in kept if scope.keeps(r.type)]
                if sub.watchlist_id is not None and kept:
                    ids = {r.seq: json.loads(r.subject_ids) for r in kept}
                    hit = members_among(conn, sub.watchlist_id, (s for v in ids.values() for s in v))
                    kept = [r for r in kept if any(s in hit for s in ids[r.seq])]
            elif scope is not None and kept:
                kept = [r for r in kept if r.type != GRADE_CHANGED]  # never a checkpoint's (decision 1011)
                facts = dict(
                    conn.execute(
                        select(outbox.c.seq, record_events.c.state)
                        .join(record_events, record_events.c.seq == outbox.c.event_seq)
                        .where(outbox.c.seq.in_([r.seq for r in kept]))
                    ).all()
                )
                about = {seq: state_about(st) for seq, st in facts.items()}
                kept = [r for r in kept if (about[r.seq][0], "subject") in scope.reach]
                if sub.watchlist_id is not None and kept:  # the record's subject only, as in a feed read
                    hit = members_among(conn, sub.watchlist_id, {about[r.seq][1] for r in kept})
                    kept = [r for r in kept if about[r.seq][1] in hit]
            elif sub.watchlist_id is not None and kept:
                ids = {r.seq: json.loads(r.subject_ids) for r in kept}
                hit = members_among(conn, sub.watchlist_id, (s for v in ids.values() for s in v))
                kept = [r for r in kept if any(s in hit for s in ids[r.seq])]
            if kept:
                conn.execute(
                    insert(deliveries),
                    [
                        {
                            "subscription_id": sid,
                            "outbox_seq": r.seq,
                            "event_id": r.event_seq,
                            "status": "pending",
                            "attempts": 0,
                            "next_attempt_at": now,
                            "created_at": now,
                        }
                        for r in kept
                    ],
                )
            conn.execute(update(subscriptions).where(subscriptions.c.id == sid).values(cursor=rows[-1].seq))
            return len(kept)

    # -- deliver ---------------------------------------------------------------------------------------------

    def _backoff(self, attempts: int) -> float:
        s = self.settings
        delay = min(s.backoff_max, s.backoff_base * 2 ** max(0, attempts - 1))
        return float(
            delay * random.uniform(0.5, 1.0)
        )  # jitter: endpoints coming back are not hit in lockstep

    def deliver_due(self, result: RoundResult | None = None) -> RoundResult:
        """Claim a subscription's head with its run and deliver the run in order, stopping at its first failure
        (the rest waits for that one's next attempt); again, until ``batch`` attempts or nothing is due."""
        result = result or RoundResult()
        s = self.settings
        attempted = 0
        while attempted < s.batch:  # one run claimed at a time: what this one is not sending, another may
            with self.engine.begin() as conn:
                runs = claim_runs(conn, self.name, self.clock(), s.lease, heads=1, run=s.run)
            if not runs:
                break
            before = result.delivered + result.failed
            self._deliver_run(runs[0], result)
            attempted += max(1, result.delivered + result.failed - before)
        return result

    def _deliver_run(self, ids: list[int], result: RoundResult) -> None:
        s = self.settings
        until = self.clock() + dt.timedelta(seconds=s.lease)
        loaded = self._load(ids)
        if len(loaded) < len(ids):  # not ours to send after all: free at once, not after the lease
            with self.engine.begin() as conn:
                release(conn, self.name, [i for i in ids if i not in loaded])
        for n, delivery_id in enumerate(ids):
            now = self.clock()
            if (until - now).total_seconds() < s.timeout + 1.0:  # the next request could outlast the lease
                with self.engine.begin() as conn:
                    if not renew(conn, self.name, ids[n:], now, s.lease):
                        log.warning("claim on deliveries %s..%s lost (lease %ss)", ids[n], ids[-1], s.lease)
                        return
                until = now + dt.timedelta(seconds=s.lease)
            d = loaded.get(delivery_id)
            if d is None:  # no longer pending, or its subscription paused
                continue
            ok, status, error = self._post(d)
            if ok:
                self._mark_delivered(d.id, status)
                result.delivered += 1
                continue
            dead = self._mark_failed(d, status, error)
            result.failed += 1
            result.dead += int(dead)
            with self.engine.begin() as conn:
                release(conn, self.name, ids[n + 1 :])
            return

    def _load(self, ids: list[int]) -> dict[int, Any]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    deliveries.c.id,
                    deliveries.c.subscription_id,
                    deliveries.c.event_id,
                    deliveries.c.attempts,
                    outbox.c.event_seq,
                    outbox.c.type,
                    *EVENT_COLUMNS,
                    subscriptions.c.url,
                    subscriptions.c.secret,
                    subscriptions.c.owner,
                )
                .join(outbox, outbox.c.seq == deliveries.c.outbox_seq)
                .join(record_events, record_events.c.seq == outbox.c.event_seq)
                .join(subscriptions, subscriptions.c.id == deliveries.c.subscription_id)
                .where(
                    deliveries.c.id.in_(ids),
                    deliveries.c.status == "pending",
                    subscriptions.c.active.is_(True),
                )
            ).all()
        return {int(r.id): r for r in rows}

    def _post(self, d: Any) -> tuple[bool, int | None, str | None]:
        if d.owner in self._scopes:
            scope = self._scopes[d.owner]
        else:
            with self.engine.connect() as conn:
                scope = self._scope(conn, d.owner)
        if scope is None:
            body = payload_of(d).encode()
        elif isinstance(scope, RegistrarView):
            body = scope.body(payload_of(d))
        else:
            category, subject = state_about(d.state)
            at = d.recorded_at if d.recorded_at.tzinfo else d.recorded_at.replace(tzinfo=dt.UTC)
            body = orjson.dumps(scope.body(d.event_seq, d.event_id, at.astimezone(dt.UTC), category, subject))
        headers = {
            "Content-Type": "application/json",
            HEADER: sign(d.secret, body, int(time.time())),
            "X-Socialcredit-Event-Id": d.event_key if d.event_key is not None else str(d.event_id),
            # Not for a checkpoint: the type (objected, repaired...) is more than its form of the event carries.
            **({"X-Socialcredit-Event-Type": d.type} if not isinstance(scope, Scope) else {}),
            "X-Socialcredit-Delivery": str(d.id),
        }
        try:
            # Resolved and checked here, then sent to the address checked (feed.targets): no request at all to a
            # refused one, and a name that resolves elsewhere a second time is not followed.
            url, host = resolve_target(d.url)
        except TargetRefused as exc:
            return False, None, f"refused: {exc}"[:500]
        extensions: dict[str, Any] = {}
        if host is not None:
            port = httpx.URL(d.url).port
            headers["Host"] = f"{host}:{port}" if port else host
            extensions["sni_hostname"] = host  # TLS: the certificate is checked against the name
        try:
            resp = self.client.post(url, content=body, headers=headers, extensions=extensions)
        except httpx.HTTPError as exc:
            return False, None, f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= resp.status_code < 300:
            return True, resp.status_code, None
        return False, resp.status_code, f"HTTP {resp.status_code}: {resp.text[:200]}"

    def _mark_delivered(self, delivery_id: int, status: int | None) -> None:
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(
                    status="delivered",
                    attempts=deliveries.c.attempts + 1,
                    delivered_at=now,
                    claimed_by=None,
                    claimed_until=None,
                    last_error=None,
                    last_status=status,  # the 2xx that came back (issue 16 §2.17: it was left null)
                )
            )

    def _mark_failed(self, d: Any, status: int | None, error: str | None) -> bool:
        now = self.clock()
        attempts = int(d.attempts) + 1
        dead = attempts >= self.settings.max_attempts
        nxt = now + dt.timedelta(seconds=self._backoff(attempts))
        with self.engine.begin() as conn:
            values: dict[str, Any] = {
                "attempts": attempts,
                "last_error": error,
                "last_status": status,
                "next_attempt_at": nxt,
                "claimed_by": None,
                "claimed_until": None,
            }
            if dead:
                values.update(status="dead", dead_at=now)
            conn.execute(update(deliveries).where(deliveries.c.id == d.id).values(**values))
            # The endpoint is failing: its other due deliveries wait for this probe's next attempt.
            conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.subscription_id == d.subscription_id,
                    deliveries.c.status == "pending",
                    deliveries.c.next_attempt_at < nxt,
                )
                .values(next_attempt_at=nxt)
            )
        log.info("delivery %s to %s failed (attempt %s): %s", d.id, d.subscription_id, attempts, error)
        return dead

    # -- the loop --------------------------------------------------------------------------------------------

    def run_once(self) -> RoundResult:
        result = RoundResult()
        try:
            if self.grader is not None:
                result.graded = self.grader.step(self.engine)
            result.enqueued = self.enqueue()
            self.deliver_due(result)
            if self.publisher is not None:
                result.published = int(self.publisher.publish_pending(self.engine))
        except Exception as exc:  # one bad round (database restart, NATS down) must not end the loop
            log.exception("dispatch round failed")
            result.errors.append(f"{type(exc).__name__}: {exc}")
        return result

    def sweep_expired(self) -> int:
        from ..process.expiry import expire_due

        self._last_expire = time.monotonic()
        return len(expire_due(self.engine, self.clock()))

    def run(self, stop: threading.Event, *, expire: bool = True) -> None:
        """Rounds until ``stop`` is set; idle rounds wait ``poll_interval``; expiry swept every
        ``expire_interval``."""
        while not stop.is_set():
            result = self.run_once()
            if expire and time.monotonic() - self._last_expire >= self.settings.expire_interval:
                try:
                    result.expired = self.sweep_expired()
                except Exception:
                    log.exception("expiry sweep failed")
            if not result.busy or result.errors:
                stop.wait(self.settings.poll_interval if not result.errors else 1.0)
