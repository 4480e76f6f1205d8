"""Console accounts and sessions.

A user has a name (its audit actor is ``user:<name>``), one role (registrar with its authority, auditor or admin)
and an argon2id password hash; the password itself is never stored or logged. Signing in makes a session: a
random 256-bit id sent in a cookie, of which only the SHA-256 is stored (a copy of the database opens no session),
and a CSRF token that every POST of that session must carry. Signing out ends the session in the table, so a
copy of the cookie replayed afterwards opens nothing. N failed sign-ins within M minutes lock the account for K
minutes (settings ``console_lockout_*``), during which even the right password is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, insert, select, update

from ..catalogue import Catalogue
from ..settings import Settings
from ..store.tables_console import console_sessions, console_users

__all__ = [
    "ROLES",
    "ConsoleRole",
    "Session",
    "SignInRefused",
    "User",
    "UserInvalid",
    "create_user",
    "disable_user",
    "get_user",
    "list_users",
    "session_for",
    "sign_in",
    "sign_out",
]

ConsoleRole = Literal["registrar", "auditor", "admin"]
ROLES: tuple[ConsoleRole, ...] = get_args(ConsoleRole)
NAME = re.compile(r"^[a-z][a-z0-9._-]{1,47}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # argon2 hashes any length; this bounds the work a sign-in form can ask for
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")  # token_urlsafe(32): 256 bits

_hasher = PasswordHasher()  # argon2id with the library's current defaults (RFC 9106 low-memory profile)
# Verified against when the name is unknown, so a sign-in takes as long whether or not the user exists.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class UserInvalid(ValueError):
    """A user that cannot be created as asked: ``field`` names the option, ``reason`` says why."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field, self.value, self.reason = field, value, reason
        super().__init__(f"{field}: {value!r}: {reason}")


class SignInRefused(Exception):
    """A refused sign-in. ``reason`` is for the audit log only; the person is told the same thing every time
    (wrong name, wrong password, disabled and locked are not told apart, so the form is no oracle)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: ConsoleRole
    authority: str | None
    created_at: dt.datetime
    disabled_at: dt.datetime | None

    @property
    def actor(self) -> str:
        return f"user:{self.name}"


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    csrf: str
    id_hash: str
    expires_at: dt.datetime

    def csrf_ok(self, token: str | None) -> bool:
        return csrf_matches(self.csrf, token)


def csrf_matches(expected: str, token: str | None) -> bool:
    """A form's CSRF token against its session's, in constant time (the console's and the portal's sessions)."""
    return token is not None and hmac.compare_digest(expected.encode(), token.encode("utf-8", "replace"))


def hash_session_id(session_id: str) -> str:
    """What a session table stores of a cookie's session id (never the id itself)."""
    return hashlib.sha256(session_id.encode("ascii")).hexdigest()


def _user(row: Any) -> User:
    return User(row.name, cast(ConsoleRole, row.role), row.authority, row.created_at, row.disabled_at)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserInvalid("password", "(hidden)", f"at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise UserInvalid("password", "(hidden)", f"at most {MAX_PASSWORD} characters")


def create_user(
    conn: Connection,
    name: str,
    role: str,
    password: str,
    catalogue: Catalogue,
    now: dt.datetime,
    *,
    authority: str | None = None,
) -> User:
    """Store a new user with the argon2id hash of ``password``."""
    if not NAME.match(name):
        raise UserInvalid("name", name, "2 to 48 of a-z 0-9 . _ -, starting with a letter")
    if role not in ROLES:
        raise UserInvalid("role", role, f"unknown role (roles: {', '.join(ROLES)})")
    if (authority is not None) != (role == "registrar"):
        raise UserInvalid("authority", authority, "required for a registrar and only for one")
    if authority is not None and authority not in catalogue.authorities:
        raise UserInvalid("authority", authority, "unknown authority")
    _check_password(password)
    if get_user(conn, name) is not None:
        raise UserInvalid("name", name, "a user of that name exists already")
    conn.execute(
        insert(console_users).values(
            name=name,
            role=role,
            authority=authority,
            password_hash=_hasher.hash(password),
            created_at=now,
            disabled_at=None,
            failures=0,
        )
    )
    return User(name, role, authority, now, None)


def get_user(conn: Connection, name: str) -> User | None:
    row = conn.execute(select(console_users).where(console_users.c.name == name)).first()
    return None if row is None else _user(row)


def list_users(conn: Connection) -> list[User]:
    return [_user(r) for r in conn.execute(select(console_users).order_by(console_users.c.name))]


def disable_user(conn: Connection, name: str, now: dt.datetime) -> User | None:
    """Disable a user (idempotent) and end every session of theirs; None if there is no such user."""
    user = get_user(conn, name)
    if user is None:
        return None
    if user.disabled_at is None:
        conn.execute(update(console_users).where(console_users.c.name == name).values(disabled_at=now))
    conn.execute(
        update(console_sessions)
        .where(console_sessions.c.user_name == name, console_sessions.c.ended_at.is_(None))
        .values(ended_at=now)
    )
    return get_user(conn, name)


def _failed(conn: Connection, row: Any, settings: Settings, now: dt.datetime) -> str:
    """Count one failure in the current window; a full window locks the account. Returns the audit reason."""
    window = dt.timedelta(minutes=settings.console_lockout_window_minutes)
    fresh = row.window_start is None or now - row.window_start >= window
    failures = 1 if fresh else row.failures + 1
    values: dict[str, Any] = {"failures": failures, "window_start": now if fresh else row.window_start}
    reason = "wrong password"
    if failures >= settings.console_lockout_failures:
        values.update(
            failures=0,
            window_start=None,
            locked_until=now + dt.timedelta(minutes=settings.console_lockout_minutes),
        )
        reason = f"wrong password; locked for {settings.console_lockout_minutes} min"
    conn.execute(update(console_users).where(console_users.c.name == row.name).values(**values))
    return reason


def sign_in(
    conn: Connection, name: str, password: str, settings: Settings, now: dt.datetime
) -> tuple[Session, str]:
    """A new session for ``name`` and its cookie value, or :class:`SignInRefused`. The failure count is
    written on ``conn``: the caller commits it even when the sign-in is refused."""
    row = conn.execute(select(console_users).where(console_users.c.name == name)).first()
    stored = row.password_hash if row is not None else _DUMMY_HASH
    try:
        good = len(password) <= MAX_PASSWORD and _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        good = False
    if row is None:
        raise SignInRefused("unknown user")
    if row.disabled_at is not None:
        raise SignInRefused("user disabled")
    if row.locked_until is not None and now < row.locked_until:
        raise SignInRefused(f"locked until {row.locked_until.isoformat()}")  # not counted: no extension
    if not good:
        raise SignInRefused(_failed(conn, row, settings, now))
    values: dict[str, Any] = {"failures": 0, "window_start": None, "locked_until": None}
    if _hasher.check_needs_rehash(row.password_hash):
        values["password_hash"] = _hasher.hash(password)
    conn.execute(update(console_users).where(console_users.c.name == name).values(**values))
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = now + dt.timedelta(minutes=settings.console_session_minutes)
    conn.execute(
        insert(console_sessions).values(
            id_hash=hash_session_id(session_id),
            user_name=name,
            csrf=csrf,
            created_at=now,
            expires_at=expires,
            ended_at=None,
        )
    )
    return Session(_user(row), csrf, hash_session_id(session_id), expires), session_id


def session_for(conn: Connection, session_id: str | None, now: dt.datetime) -> Session | None:
    """The live session a cookie value opens: not ended, not expired, its user not disabled."""
    if not session_id or not _SESSION_ID.match(session_id):
        return None
    row = conn.execute(
        select(
            console_users,
            console_sessions.c.id_hash,
            console_sessions.c.csrf,
            console_sessions.c.expires_at,
            console_sessions.c.ended_at,
        )
        .join(console_users, console_users.c.name == console_sessions.c.user_name)
        .where(console_sessions.c.id_hash == hash_session_id(session_id))
    ).first()
    if row is None or row.ended_at is not None or now >= row.expires_at or row.disabled_at is not None:
        return None
    return Session(_user(row), row.csrf, row.id_hash, row.expires_at)


def sign_out(conn: Connection, session: Session, now: dt.datetime) -> None:
    conn.execute(
        update(console_sessions)
        .where(console_sessions.c.id_hash == session.id_hash, console_sessions.c.ended_at.is_(None))
        .values(ended_at=now)
    )
