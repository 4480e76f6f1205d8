"""The real NATS server the feed and audit-anchor tests publish to: required in CI, skipped elsewhere if absent."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

NATS_URL = os.environ.get("SOCIALCREDIT_NATS_URL") or "nats://127.0.0.1:4222"


def require_nats() -> None:
    """Fail in CI, skip elsewhere, when nothing answers at ``NATS_URL``."""
    parts = urlsplit(NATS_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 4222), timeout=1):
            return
    except OSError:
        pass
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"NATS is not reachable at {NATS_URL} (required in CI)")
    pytest.skip(f"NATS is not reachable at {NATS_URL}")
