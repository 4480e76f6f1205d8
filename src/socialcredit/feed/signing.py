"""Webhook signatures: HMAC-SHA256 over a timestamp and the body, and a verifier that refuses replays.

The header: ``X-Socialcredit-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``.
A receiver calls :func:`verify_signature`; it refuses a malformed or wrong signature, a timestamp more than
``tolerance`` seconds from its clock (an old capture replayed), and, given a :class:`ReplayGuard`, an event id
it has already accepted (raises :class:`Replayed`: delivery is at-least-once, so a receiver answers 2xx to a
duplicate and ignores it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import OrderedDict

from .errors import Replayed, SignatureError

__all__ = ["HEADER", "ReplayGuard", "sign", "verify_signature"]

HEADER = "X-Socialcredit-Signature"


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


class ReplayGuard:
    """Event ids a receiver accepted (the newest ``capacity``; older ones fall to the timestamp rule)."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def add(self, event_id: str) -> bool:
        """Record ``event_id``; False if it was already there."""
        with self._lock:
            if event_id in self._seen:
                return False
            self._seen[event_id] = None
            if len(self._seen) > self._capacity:
                self._seen.popitem(last=False)
            return True


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes,
    now: float,
    tolerance: int = 300,
    guard: ReplayGuard | None = None,
) -> int:
    """Check a delivery; returns its timestamp. Raises SignatureError (or Replayed for a duplicate event)."""
    if not header:
        raise SignatureError(f"{HEADER}: missing")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        k, sep, v = item.strip().partition("=")
        if not sep:
            raise SignatureError(f"{HEADER}: {item!r} is not key=value")
        parts.setdefault(k, []).append(v)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        raise SignatureError(f"{HEADER}: no whole-number t=") from None
    expected = _mac(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, v) for v in parts.get("v1", [])):
        raise SignatureError(f"{HEADER}: no v1 signature matches the body")
    if abs(now - timestamp) > tolerance:
        raise SignatureError(f"{HEADER}: timestamp {timestamp} is more than {tolerance} s from now")
    if guard is not None:
        try:
            event_id = str(json.loads(body)["event_id"])
        except (ValueError, KeyError, TypeError):
            raise SignatureError("body: no event_id") from None
        if not guard.add(event_id):
            raise Replayed(f"event {event_id} was already accepted")
    return timestamp
