"""API keys: create, list, revoke and authenticate bearer tokens.

A token reads ``sc_<key id>_<secret>``. Only the SHA-256 of the whole token is stored, so a copy of the
database gives no usable token; the key id lets a lookup find the row by primary key, and the hash is compared
in constant time. A key carries one role and that role's scope:

* ``registrar``: ``authority`` (it files, amends and revokes the categories that authority may file);
* ``checkpoint``: ``actions`` (patterns; ``transport.air`` covers ``transport.air.*``, and ``transport.air.*``
  is accepted as that same prefix);
* ``subject``: ``subject`` (the canonical identifier of its own file);
* ``screener`` (compliance teams screening files against the public listings), ``auditor`` and ``admin``:
  no scope.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

from sqlalchemy import Connection, insert, select, update

from .audit import AuditEntry
from .catalogue import Catalogue, covers
from .identifiers import IdentifierError, mask, parse
from .store.tables import api_keys, audit_log

__all__ = [
    "ROLES",
    "ApiKey",
    "InvalidToken",
    "KeyInvalid",
    "Role",
    "authenticate",
    "create_key",
    "creation_entry",
    "get_key",
    "hash_token",
    "issued_keys",
    "key_from_row",
    "list_keys",
    "parse_duration",
    "revoke_key",
]

Role = Literal["registrar", "checkpoint", "subject", "screener", "auditor", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
_TOKEN = re.compile(r"^sc_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_DURATION = re.compile(r"^(\d{1,5})([hdw])$")


class KeyInvalid(ValueError):
    """A key that cannot be created as asked: ``field`` names the option, ``reason`` says why."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field, self.value, self.reason = field, value, reason
        super().__init__(f"{field}: {value!r}: {reason}")


class InvalidToken(Exception):
    """A bearer token that does not authenticate: malformed, unknown, tampered, expired or revoked."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    role: Role
    authority: str | None
    actions: tuple[str, ...]
    subject: str | None
    label: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None

    def covers(self, action: str) -> bool:
        """Whether a checkpoint key's scope includes ``action``."""
        return any(covers(p, action) for p in self.actions)

    def status(self, now: dt.datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"

    def to_dict(self, now: dt.datetime, *, masked: bool = False) -> dict[str, Any]:
        """The key as listed; ``masked`` hides a subject key's identifier as the public sees it (an admin
        manages keys, it does not read whose file each one opens)."""
        return {
            "id": self.id,
            "role": self.role,
            "authority": self.authority,
            "actions": list(self.actions),
            "subject": mask(self.subject) if masked and self.subject else self.subject,
            "label": self.label,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "status": self.status(now),
        }


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_duration(text: str) -> dt.timedelta:
    """``12h``, ``90d`` or ``4w``."""
    m = _DURATION.match(text.strip())
    if not m or int(m.group(1)) == 0:
        raise KeyInvalid("expires", text, "expected a duration such as 12h, 90d or 4w")
    n, unit = int(m.group(1)), m.group(2)
    return {"h": dt.timedelta(hours=n), "d": dt.timedelta(days=n), "w": dt.timedelta(weeks=n)}[unit]


def key_from_row(row: Any) -> ApiKey:
    """An ApiKey from a row of ``api_keys`` (check nodes read the whole table, node/keys.py)."""
    return ApiKey(
        id=row.id,
        role=cast(Role, row.role),
        authority=row.authority,
        actions=tuple(json.loads(row.actions)),
        subject=row.subject,
        label=row.label,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


def _pattern(pattern: str, catalogue: Catalogue) -> str:
    """A checkpoint's action pattern as stored: an action of the catalogue, which covers itself and every
    action below it. ``transport.*`` means that prefix and is stored as ``transport``; any other wildcard, or
    a name that is not an action, is refused (it would be accepted and then match nothing)."""
    code = pattern[:-2] if pattern.endswith(".*") else pattern
    if "*" in code:
        raise KeyInvalid(
            "actions", pattern, "only a trailing .* is a wildcard (transport.* is the same as transport)"
        )
    if code not in catalogue.actions:
        raise KeyInvalid("actions", pattern, "not an action of the catalogue (see GET /v1/catalogue)")
    return code


def _check_scope(
    role: str, authority: str | None, actions: Sequence[str], subject: str | None, catalogue: Catalogue
) -> tuple[Role, str | None, tuple[str, ...], str | None]:
    if role not in ROLES:
        raise KeyInvalid("role", role, f"unknown role (roles: {', '.join(ROLES)})")
    if (authority is not None) != (role == "registrar"):
        raise KeyInvalid("authority", authority, "required for a registrar key and only for one")
    if authority is not None and authority not in catalogue.authorities:
        raise KeyInvalid("authority", authority, "unknown authority")
    if bool(actions) != (role == "checkpoint"):
        raise KeyInvalid("actions", list(actions), "required for a checkpoint key and only for one")
    actions = [_pattern(p, catalogue) for p in actions]
    if (subject is not None) != (role == "subject"):
        raise KeyInvalid("subject", subject, "required for a subject key and only for one")
    canonical = None
    if subject is not None:
        try:
            canonical = parse(subject).canonical
        except IdentifierError as exc:
            raise KeyInvalid("subject", subject, exc.reason) from None
    return role, authority, tuple(dict.fromkeys(actions)), canonical


def create_key(
    conn: Connection,
    role: str,
    catalogue: Catalogue,
    now: dt.datetime,
    *,
    authority: str | None = None,
    actions: Sequence[str] = (),
    subject: str | None = None,
    expires_at: dt.datetime | None = None,
    label: str = "",
) -> tuple[ApiKey, str]:
    """Store a new key; return it with its token, which is shown once and never stored."""
    role_, authority, patterns, canonical = _check_scope(role, authority, actions, subject, catalogue)
    if expires_at is not None and expires_at <= now:
        raise KeyInvalid("expires", expires_at.isoformat(), "already past")
    if len(label) > 200:
        raise KeyInvalid("label", label[:60], "longer than 200 characters")
    key_id = secrets.token_hex(8)
    token = f"sc_{key_id}_{secrets.token_urlsafe(32)}"
    conn.execute(
        insert(api_keys).values(
            id=key_id,
            role=role_,
            authority=authority,
            actions=json.dumps(list(patterns)),
            subject=canonical,
            label=label,
            token_hash=hash_token(token),
            created_at=now,
            expires_at=expires_at,
            revoked_at=None,
        )
    )
    key = ApiKey(key_id, role_, authority, patterns, canonical, label, now, expires_at, None)
    return key, token


def creation_entry(actor: str, actor_role: str, key: ApiKey) -> AuditEntry:
    """The audit entry of a key's creation. A subject key opens that subject's whole file, so the entry names
    the subject (``GET /v1/audit?target=<id>`` finds it, and the subject sees it in its own file)."""
    target = f"key:{key.id}" if key.subject is None else f"key:{key.id} subject:{key.subject}"
    return AuditEntry(actor, actor_role, "keys.create", target, f"created {key.role}")


def issued_keys(conn: Connection, subject: str, now: dt.datetime) -> list[dict[str, Any]]:
    """The keys to ``subject``'s file: when each was issued, by whom (from the audit log), its label and
    status. Shown to the subject in its own file."""
    rows = conn.execute(
        select(api_keys).where(api_keys.c.subject == subject).order_by(api_keys.c.created_at, api_keys.c.id)
    ).all()
    if not rows:
        return []
    by: dict[str, str] = {}
    made = select(audit_log.c.actor, audit_log.c.target).where(
        audit_log.c.action == "keys.create", audit_log.c.target.like(f"%subject:{subject}")
    )
    for actor, target in conn.execute(made):
        by[target.split(" ", 1)[0].removeprefix("key:")] = actor
    out = []
    for r in rows:
        k = key_from_row(r)
        out.append(
            {
                "id": k.id,
                "label": k.label,
                "issued_at": k.created_at.isoformat(),
                "issued_by": by.get(k.id),
                "expires_at": k.expires_at.isoformat() if k.expires_at else None,
                "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
                "status": k.status(now),
            }
        )
    return out


def get_key(conn: Connection, key_id: str) -> ApiKey | None:
    row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
    return None if row is None else key_from_row(row)


def list_keys(conn: Connection) -> list[ApiKey]:
    return [
        key_from_row(r) for r in conn.execute(select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id))
    ]


def revoke_key(conn: Connection, key_id: str, now: dt.datetime) -> ApiKey | None:
    """Revoke a key (idempotent); None if there is no such key."""
    key = get_key(conn, key_id)
    if key is None:
        return None
    if key.revoked_at is None:
        conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=now))
        key = get_key(conn, key_id)
    return key


def authenticate(conn: Connection, token: str, now: dt.datetime) -> ApiKey:
    """The key a token belongs to, or :class:`InvalidToken` saying why not (never which part was wrong
    beyond malformed / not accepted / expired / revoked)."""
    m = _TOKEN.match(token)
    if not m:
        raise InvalidToken("malformed token (expected sc_<key id>_<secret>)")
    row = conn.execute(select(api_keys).where(api_keys.c.id == m.group(1))).first()
    if row is None or not hmac.compare_digest(row.token_hash, hash_token(token)):
        raise InvalidToken("token not accepted")
    key = key_from_row(row)
    status = key.status(now)
    if status != "active":
        raise InvalidToken(f"key {key.id} is {status}")
    return key
