"""Typed settings read from ``SOCIALCREDIT_*`` environment variables (one place, one comment each)."""

from __future__ import annotations

from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOCIALCREDIT_", extra="ignore")

    # The system of record: SQLite (embedded default) or postgresql+psycopg://...
    database_url: str = "sqlite:///var/socialcredit.db"
    # PostgreSQL: seconds to wait for a new connection before the request is refused with 503 (decision 1104);
    # whole seconds, as libpq reads them (it waits at least 2).
    database_connect_timeout: int = Field(default=5, ge=2, le=600)
    # NATS server with JetStream for the event feed; unset means no NATS publishing.
    nats_url: str | None = None
    # The feed's JetStream stream and its subjects (<prefix>.<event type>): what `dispatch run` publishes to and
    # `node serve` follows (decision 1121). Registries sharing a NATS server each need their own of both:
    # JetStream refuses two streams whose subjects overlap.
    nats_stream: str = Field(default="SOCIALCREDIT", pattern=r"^[A-Za-z0-9_-]{1,255}$")
    nats_subject_prefix: str = Field(
        default="socialcredit.events", pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$", max_length=200
    )
    # Directory of catalogue YAML; unset means the default national catalogue shipped in the package.
    catalogue_dir: str | None = None
    # Pilot-era USCC codes that fail their checksum yet are real, accepted only when listed (comma-separated).
    uscc_allowlist: str = ""
    # Time zone in which decision dates (YYYY-MM-DD) begin and end.
    timezone: str = "Asia/Shanghai"
    # Public search: requests per minute per client address.
    public_rate_limit: int = Field(default=60, ge=1)
    # Public search as you type (requests marked X-Typeahead: 1, the portal's search box): a budget of its
    # own per client address, so keystrokes do not use up the searches a person submits (decision 0603).
    public_typeahead_limit: int = Field(default=300, ge=1)
    # Seconds a dispatcher's claim on deliveries holds unless renewed (decision 1100): after a dispatcher is killed,
    # its subscriptions wait this long for another dispatcher. Keep it well above the webhook timeout.
    dispatch_lease: float = Field(default=60.0, gt=0, le=3600)
    # Audit anchoring (decision 0313): the Ed25519 key signing the audit chain's heads, and the append-only file
    # of signed heads; unset: beside an SQLite file (X.audit-key, X.audit-heads.jsonl), else var/<db name>.*.
    # Keep both out of reach of whoever can write the database.
    audit_key_file: str | None = None
    audit_heads_file: str | None = None
    # Seconds between the server's signed heads while entries are appended (at most a minute).
    audit_head_every: float = Field(default=60.0, gt=0, le=60)
    # -- Check nodes' audit chains (decision 1103, docs/scale.md "Check audit at scale").
    # JetStream stream, and the subject prefix under it, that nodes publish their audit entries and heads to.
    node_audit_stream: str = "SOCIALCREDIT_NODE_AUDIT"
    node_audit_subject_prefix: str = "socialcredit.audit.nodes"
    # Entries a node holds in its local buffer while the stream is unreachable; beyond it, checks get 503.
    node_audit_buffer_limit: int = Field(default=100_000, ge=1)
    # A node's state, buffer, signing key and heads files (<node>.*); verify reads nodes' public keys here too.
    node_audit_dir: str = "var/node-audit"
    # Where audit verify finds each node's public key (<node>.audit-key.pub); unset: node_audit_dir.
    node_audit_keys_dir: str | None = None
    # Seconds between a node's signed heads.
    node_audit_head_every: float = Field(default=60.0, gt=0, le=60)
    # Credit reports (decision 0605): the Ed25519 key signing them (unset: beside an SQLite file, X.report-key,
    # else var/<db name>.report-key); a static TrueType CJK font to embed (unset: Noto Sans SC from the
    # justmytype-intl-cjk package, made static once into the user's cache); the public address printed in the
    # reports' QR codes (where /verify is reached).
    report_key_file: str | None = None
    report_font_file: str | None = None
    public_url: str = "http://127.0.0.1:8000"

    # -- The public surface and the server (decision 0308; docs/operators.md "Behind a reverse proxy").
    # Proxies (addresses or CIDRs, comma-separated) whose X-Forwarded-For / X-Real-IP are believed; none by default.
    trusted_proxies: str = ""
    # Exact lookups of a person's identifier (search or reconcile) per client per hour (each identifier costs 1).
    identifier_lookups_per_hour: int = Field(default=20, ge=1)
    # Identifier lookups that find no listed subject, across all clients, per day (bounds recovery by many IPs).
    identifier_misses_per_day: int = Field(default=50, ge=1)
    # File holding the per-install secret of the audit log's keyed hash of looked-up identifiers (made if absent).
    lookup_hash_key_file: str = "var/lookup-hash.key"
    # serve: seconds an idle keep-alive connection stays open.
    serve_keep_alive_timeout: int = Field(default=5, ge=1, le=600)
    # serve: seconds a client has to send a request's headers (uvicorn has no such limit of its own).
    serve_header_timeout: float = Field(default=10.0, gt=0, le=600)
    # serve: connections and requests in flight per worker before new ones get 503.
    serve_limit_concurrency: int = Field(default=1000, ge=1)
    # serve: largest request head (request line and headers) in bytes.
    serve_max_header_bytes: int = Field(default=16384, ge=1024, le=1_048_576)
    # -- Screening over HTTP (POST /v1/screenings, docs/screening.md).
    # Largest upload in bytes: refused by Content-Length before a byte is read, and while streaming.
    screening_max_upload_bytes: int = Field(default=200 * 1024 * 1024, ge=1024)
    # Directory of the jobs' uploads (deleted after the run) and results.
    screening_dir: str = "var/screenings"
    # Identifiers of persons a screener key may look up per hour (each distinct one in a file costs 1).
    screener_identifier_lookups_per_hour: int = Field(default=100_000, ge=1)
    # Webhooks may target loopback, private and link-local addresses (tests' receivers; one private network).
    webhook_allow_private: bool = False

    # -- The officer console (docs/console.md).
    # Serve the console's session cookie without ``Secure``: only for a console on http://127.0.0.1 in development.
    console_insecure_cookie: bool = False
    # Minutes a console session lasts from sign-in (it ends sooner on sign-out or when the user is disabled).
    console_session_minutes: int = Field(default=480, ge=1, le=10080)
    # Lockout: this many failed sign-ins within console_lockout_window_minutes lock the account ...
    console_lockout_failures: int = Field(default=5, ge=1, le=100)
    console_lockout_window_minutes: int = Field(default=15, ge=1, le=1440)
    # ... for this many minutes (a correct password is refused while locked).
    console_lockout_minutes: int = Field(default=15, ge=1, le=10080)

    # -- Subject self-service on the portal (docs/portal.md).
    # Minutes a subject's portal session lasts from sign-in (it ends sooner at sign-out or when the key is revoked).
    portal_session_minutes: int = Field(default=60, ge=1, le=1440)
    # Largest evidence file accepted with an objection or a repair request, in bytes (PDF, JPEG or PNG).
    evidence_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024)

    # -- Check nodes (``node serve``, decision 1102, docs/scale.md "Check nodes").
    # /readyz fails while a node has more than this many stream messages not yet applied ...
    node_max_lag_events: int = Field(default=1000, ge=0)
    # ... or last held everything the stream held more than this many seconds ago.
    node_max_lag_seconds: float = Field(default=5.0, gt=0, le=3600)
    # Seconds between a node's reads of the key table: the longest a revocation or a new key takes to reach it.
    node_key_refresh_seconds: float = Field(default=5.0, gt=0, le=3600)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip():
                ip_network(part.strip(), strict=False)  # ValueError names the entry
        return value

    def trusted_proxy_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return tuple(
            ip_network(p.strip(), strict=False) for p in self.trusted_proxies.split(",") if p.strip()
        )

    def allowlisted_codes(self) -> frozenset[str]:
        return frozenset(c.strip().upper() for c in self.uscc_allowlist.split(",") if c.strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
