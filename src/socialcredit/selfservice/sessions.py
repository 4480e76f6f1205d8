"""Portal sessions of subjects: signed in with a subject key, ended at sign-out.

The cookie carries a random 256-bit id; the table keeps its SHA-256, the key's id (never the token), a CSRF
token and the expiry. Each request loads the key again, so a revoked or expired key ends its sessions at once;
sign-out sets ``ended_at``, so a copy of the cookie replayed afterwards opens nothing (decision 0615).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from ..console.auth import csrf_matches, hash_session_id
from ..keys import ApiKey, get_key
from ..store.tables_selfservice import portal_sessions

__all__ = ["SubjectSession", "session_for", "sign_in", "sign_out"]

_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")  # token_urlsafe(32): 256 bits


@dataclass(frozen=True, slots=True)
class SubjectSession:
    key: ApiKey  # the subject key signed in with (role subject, its subject set)
    csrf: str
    id_hash: str
    expires_at: dt.datetime

    def csrf_ok(self, token: str | None) -> bool:
        return csrf_matches(self.csrf, token)


def sign_in(conn: Connection, key: ApiKey, now: dt.datetime, minutes: int) -> str:
    """A new session for an authenticated subject key; returns the cookie value (only its hash is stored)."""
    if key.role != "subject" or key.subject is None:
        raise ValueError(f"a portal session is opened with a subject key, not a {key.role} key")
    session_id = secrets.token_urlsafe(32)
    conn.execute(
        insert(portal_sessions).values(
            id_hash=hash_session_id(session_id),
            key_id=key.id,
            csrf=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + dt.timedelta(minutes=minutes),
        )
    )
    return session_id


def session_for(conn: Connection, session_id: str | None, now: dt.datetime) -> SubjectSession | None:
    """The live session a cookie value opens: not ended, not expired, its key still active."""
    if not session_id or not _SESSION_ID.match(session_id):
        return None
    row = conn.execute(
        select(portal_sessions).where(portal_sessions.c.id_hash == hash_session_id(session_id))
    ).first()
    if row is None or row.ended_at is not None or now >= row.expires_at:
        return None
    key = get_key(conn, row.key_id)
    if key is None or key.status(now) != "active" or key.role != "subject" or key.subject is None:
        return None
    return SubjectSession(key, row.csrf, row.id_hash, row.expires_at)


def sign_out(conn: Connection, session: SubjectSession, now: dt.datetime) -> None:
    conn.execute(
        update(portal_sessions)
        .where(portal_sessions.c.id_hash == session.id_hash, portal_sessions.c.ended_at.is_(None))
        .values(ended_at=now)
    )
