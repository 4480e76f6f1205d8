"""Typed settings read from ``SOCIALCREDIT_*`` environment variables (one place, one comment each)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOCIALCREDIT_", extra="ignore")

    # The system of record: SQLite (embedded default) or postgresql+psycopg://...
    database_url: str = "sqlite:///var/socialcredit.db"
    # NATS server with JetStream for the event feed; unset means no NATS publishing.
    nats_url: str | None = None
    # Directory of catalogue YAML; unset means the default national catalogue shipped in the package.
    catalogue_dir: str | None = None
    # Pilot-era USCC codes that fail their checksum yet are real, accepted only when listed (comma-separated).
    uscc_allowlist: str = ""
    # Time zone in which decision dates (YYYY-MM-DD) begin and end.
    timezone: str = "Asia/Shanghai"
    # Public search: requests per minute per client address.
    public_rate_limit: int = Field(default=60, ge=1)
    # Webhooks may target loopback, private and link-local addresses (tests' receivers; one private network).
    webhook_allow_private: bool = False

    def allowlisted_codes(self) -> frozenset[str]:
        return frozenset(c.strip().upper() for c in self.uscc_allowlist.split(",") if c.strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
