"""API keys on a check node: the whole key table read at start and again every
``node_key_refresh_seconds`` off the hot path; a check looks its token up in memory (decision 1102).

A refresh that fails (the store unreachable) keeps the last good table and says so in the log and in
``socialcredit_node_keys_age_seconds``: a node keeps answering the keys it knew. So a revocation or a new key
reaches a node within one refresh interval while the store answers, and not before the store answers again.
Expiry needs no refresh: it is checked against the clock on every use, as the API server does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time

from sqlalchemy import Engine, select

from ..keys import ApiKey, InvalidToken, hash_token, key_from_row
from ..store.tables import api_keys

__all__ = ["KeyTable"]

log = logging.getLogger("socialcredit.node")


class KeyTable:
    """token hash -> key, replaced whole by each refresh (a lookup sees the old table or the new)."""

    def __init__(self, engine: Engine, every: float) -> None:
        self.engine = engine
        self.every = every
        self._by_hash: dict[str, ApiKey] | None = None
        self.loaded_at: float | None = None  # monotonic time of the last good read

    @property
    def loaded(self) -> bool:
        return self._by_hash is not None

    def age(self) -> float:
        """Seconds since the table was last read (inf before the first read)."""
        return float("inf") if self.loaded_at is None else time.monotonic() - self.loaded_at

    def load(self) -> int:
        """Read every key that is not revoked; returns how many."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(api_keys).where(api_keys.c.revoked_at.is_(None))).all()
        table = {row.token_hash: key_from_row(row) for row in rows}
        self._by_hash, self.loaded_at = table, time.monotonic()
        return len(table)

    def get(self, token: str) -> ApiKey:
        """The key of ``token``, or :class:`InvalidToken` with the reason the API server gives."""
        table = self._by_hash
        if table is None:
            raise InvalidToken("this node has not read its keys yet (the registry's store is unreachable)")
        key = table.get(hash_token(token))
        if key is None:
            if not token.startswith("sc_"):
                raise InvalidToken("malformed token (expected sc_<key id>_<secret>)")
            raise InvalidToken("token not accepted")
        status = key.status(dt.datetime.now(dt.UTC))
        if status != "active":
            raise InvalidToken(f"key {key.id} is {status}")
        return key

    async def follow(self) -> None:
        """Refresh forever (until cancelled), each read on a worker thread."""
        while True:
            try:
                n = await asyncio.to_thread(self.load)
                log.debug("node keys: %d read", n)
            except Exception as exc:  # keep the last good table; the log and the metric say how old it is
                log.warning(
                    "node keys: refresh failed, keeping the table read %.0f s ago: %s", self.age(), exc
                )
            await asyncio.sleep(self.every)
