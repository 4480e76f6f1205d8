"""The Ed25519 key that signs credit reports, and the canonical bytes it signs.

The key is not the audit anchor's (one compromised key should not forge both) but is kept the same way, in a
file the database does not hold, created 0600 on first use with ``<file>.pub`` beside it (anchor/keys.py).
Canonical JSON: keys sorted, no spaces, UTF-8 (``ensure_ascii=False``), no floats in a report, so one object has
one byte string and a verifier can rebuild it from the parsed JSON.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.engine import make_url

from ..anchor.keys import AnchorKeyError, key_id, load_or_create_key, load_public_key
from ..settings import Settings

__all__ = [
    "ReportKeyError",
    "canonical",
    "digest",
    "key_id",
    "load_signing_key",
    "report_key_path",
    "sign",
    "signature_valid",
]

ReportKeyError = AnchorKeyError


def canonical(obj: Any) -> bytes:
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def digest(obj: Any) -> str:
    return hashlib.sha256(canonical(obj)).hexdigest()


def report_key_path(settings: Settings, url: str | None = None) -> Path:
    """As configured, else beside an SQLite file (``X.db`` gives ``X.report-key``), else var/<db>.report-key."""
    if settings.report_key_file:
        return Path(settings.report_key_file)
    parsed = make_url(url if url is not None else settings.database_url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        db = Path(parsed.database)
        return db.with_name(f"{db.stem}.report-key")
    return Path("var") / f"{parsed.database or 'socialcredit'}.report-key"


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    return load_or_create_key(path)


def load_verify_key(path: Path) -> Ed25519PublicKey:
    return load_public_key(path)


def sign(key: Ed25519PrivateKey, report: dict[str, Any]) -> str:
    return base64.b64encode(key.sign(canonical(report))).decode("ascii")


def signature_valid(public: Ed25519PublicKey, report: dict[str, Any], signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        public.verify(raw, canonical(report))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
