"""What the public surface lets one client (and everyone together) ask: the client's address, the request
rate, the budget of exact-identifier lookups, and the keyed hash under which lookups are audited.

* **Client address.** The socket peer, unless the peer is a proxy named in ``trusted_proxies``: then the
  right-most address of ``X-Forwarded-For`` (or ``X-Real-IP``) that is not itself a trusted proxy. A client
  cannot be anyone by sending a header. IPv6 clients are counted per /64 (one subscriber's allocation).
* **Request rate** (:class:`RateLimiter`): every public request, a fixed one-minute window per client.
* **Identifier budget** (:class:`IdentifierBudget`): each exact lookup of an identifier the public is shown
  masked costs 1 from the client's bucket (``identifier_lookups_per_hour``) and reserves 1 from the bucket of
  misses shared by all clients (``identifier_misses_per_day``); a lookup that finds a listed subject gives its
  reservation back. A request is refused whole, before any lookup, if either bucket cannot pay for all of its
  identifiers: there is no partial answer to learn from. See decision 0308 for the arithmetic.

Buckets live in memory, per process (decision 0308 says what that means with several workers).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import os
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request

from ..identifiers import IdentifierError, mask, parse

__all__ = [
    "Bucket",
    "IdentifierBudget",
    "LookupHasher",
    "Network",
    "RateLimiter",
    "Refusal",
    "budget_key",
    "client_address",
    "masked_identifier",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_HOUR, _DAY = 3600.0, 86400.0


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(text: str, proxies: Sequence[Network]) -> bool:
    ip = _ip(text)
    return ip is not None and any(ip in net for net in proxies)


def client_address(request: Request, proxies: Sequence[Network]) -> str:
    """The client's address: the socket peer, or behind trusted proxies the address they forwarded."""
    peer = request.client.host if request.client else "unknown"
    if not proxies or not _trusted(peer, proxies):
        return peer  # headers from anyone else are the client's own words
    hops = [h.strip() for v in request.headers.getlist("x-forwarded-for") for h in v.split(",") if h.strip()]
    if not hops:
        real = request.headers.get("x-real-ip", "")
        return str(_ip(real)) if _ip(real) is not None else peer
    seen = peer
    for hop in reversed(hops):  # each trusted proxy appended the address it saw: read from the right
        ip = _ip(hop)
        if ip is None:
            return seen  # garbage a trusted proxy passed on: the last address we can vouch for
        if not any(ip in net for net in proxies):
            return str(ip)
        seen = str(ip)
    return seen


def budget_key(address: str) -> str:
    """The key a client is counted under: its IPv4 address, or its IPv6 /64 (one subscriber holds a /64)."""
    ip = _ip(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return address


class RateLimiter:
    """A fixed one-minute window per client key, in memory (per process)."""

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


class Bucket:
    """Token buckets by key: ``capacity`` tokens, refilled evenly over ``period`` seconds. Unlike fixed
    windows, no boundary lets a client spend twice the budget in a moment."""

    def __init__(self, capacity: int, period: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity, self.period, self.clock = capacity, period, clock
        self._state: dict[str, tuple[float, float]] = {}

    def level(self, key: str) -> float:
        now = self.clock()
        tokens, stamp = self._state.get(key, (float(self.capacity), now))
        return min(float(self.capacity), tokens + (now - stamp) * self.capacity / self.period)

    def wait(self, key: str, n: int) -> float:
        """Seconds until ``n`` tokens are there (0: now)."""
        short = n - self.level(key)
        return 0.0 if short <= 1e-9 else short * self.period / self.capacity

    def take(self, key: str, n: int) -> None:
        now = self.clock()
        if len(self._state) > 100_000:  # bounded memory: a full bucket is the same as no entry
            self._state = {k: v for k, v in self._state.items() if self.level(k) < self.capacity}
        self._state[key] = (self.level(key) - n, now)

    def give(self, key: str, n: int) -> None:
        self._state[key] = (min(float(self.capacity), self.level(key) + n), self.clock())


@dataclass(frozen=True)
class Refusal:
    """Why a request's lookups are refused, and when to retry."""

    detail: str
    retry_after: int


class IdentifierBudget:
    """Exact-identifier lookups: per client an hourly bucket, for everyone a daily bucket of misses."""

    def __init__(
        self,
        per_client_hour: int,
        misses_per_day: int,
        clock: Callable[[], float] = time.monotonic,
        per: str = "client",
    ) -> None:
        self.per = per  # what a bucket belongs to, as the refusal names it ("client" or "key")
        self.clients = Bucket(per_client_hour, _HOUR, clock)
        self.misses = Bucket(misses_per_day, _DAY, clock)
        self._lock = threading.Lock()

    def charge(self, client: str, n: int) -> Refusal | None:
        """Take ``n`` lookups from ``client`` and reserve ``n`` misses, or take nothing and say why not."""
        if n <= 0:
            return None
        with self._lock:
            own = self.clients.wait(client, n)
            shared = self.misses.wait("*", n)
            if own == 0.0 and shared == 0.0:
                self.clients.take(client, n)
                self.misses.take("*", n)
                return None
        if own > 0.0:
            return Refusal(
                f"at most {self.clients.capacity} identifier lookups an hour per {self.per}; this request has {n}",
                math.ceil(own) if math.isfinite(own) else int(_HOUR),
            )
        return Refusal(
            f"identifier lookups are suspended: the day's {self.misses.capacity} misses for all clients "
            "are spent (name search still answers)",
            math.ceil(shared),
        )

    def settle(self, hits: int) -> None:
        """Give back the reservations of lookups that found a listed subject (only misses are counted)."""
        if hits > 0:
            with self._lock:
                self.misses.give("*", hits)


def masked_identifier(text: str, allowlist: frozenset[str]) -> str | None:
    """The canonical identifier ``text`` names if the public is shown it masked (a person's), else None.
    Organisations' codes are published whole, so looking one up reveals nothing and costs nothing."""
    try:
        canonical = parse(text, allowlist).canonical
    except IdentifierError:
        return None
    return canonical if mask(canonical) != canonical else None


class LookupHasher:
    """HMAC-SHA256 of looked-up identifiers under a per-install secret, so the audit log can show which
    identifier was asked for without holding thousands of guessed (mostly real) numbers in clear. The
    secret is a file (created 0600 with 32 random bytes on first use); an auditor who knows an identifier
    finds its lookups by asking the audit log for it (the audit query hashes it too)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._key: bytes | None = None

    def _load(self) -> bytes:
        if self._key is None:
            if not self.path.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_hex(32) + "\n")
                try:  # atomic: of two processes creating it at once, one file wins and both read it
                    os.link(tmp, self.path)
                except FileExistsError:
                    pass
                finally:
                    tmp.unlink()
            key = self.path.read_text(encoding="utf-8").strip()
            if len(key) < 32:
                raise ValueError(f"{self.path}: the lookup-hash secret must be at least 32 characters")
            self._key = key.encode("utf-8")
        return self._key

    def tag(self, canonical: str) -> str:
        """``idh:`` and the first 32 hex digits (128 bits) of the identifier's HMAC."""
        digest = hmac.new(self._load(), canonical.encode("utf-8"), hashlib.sha256).hexdigest()
        return "idh:" + digest[:32]

    def keyed(self, domain: bytes, text: str) -> str:
        """32 hex digits of the HMAC of ``text`` under the same secret in another ``domain`` (the portal's subject
        references: never equal to an audit tag, and underivable from an identifier without the secret)."""
        return hmac.new(self._load(), domain + text.encode("utf-8"), hashlib.sha256).hexdigest()[:32]
