"""What every command needs: the database, the catalogue, the clock, and one way to fail."""

from __future__ import annotations

import datetime as dt
import getpass
import os
from typing import NoReturn

import typer
from rich.console import Console
from sqlalchemy import Connection, Engine

from .. import audit
from ..audit import AuditEntry
from ..catalogue import Catalogue, CatalogueError, default_catalogue
from ..settings import get_settings
from ..store import Database, RegistryMissing

__all__ = [
    "CLI_ROLE",
    "EXIT_NOT_FOUND",
    "audit_cli",
    "cli_actor",
    "console",
    "err_console",
    "fail",
    "open_catalogue",
    "open_db",
    "option_instant",
    "utcnow",
]

# The command line holds the database credentials: it can do whatever an admin key can, so it is audited as one.
CLI_ROLE = "admin"

# Exit codes, the same for every command (decision 0700): 0 ok or allowed, 1 a negative answer (denied, tampered,
# overdue), 2 bad input or an error, 3 what was named does not exist.
EXIT_NOT_FOUND = 3

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a one-line reason to standard error and exit (2: bad input or error, 1: a negative answer)."""
    err_console.print(f"error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def open_db(create: bool = False) -> Database:
    """The configured registry; it must exist already unless ``create`` (``init`` and ``demo`` create it)."""
    try:
        return Database.open(create=create)
    except RegistryMissing as exc:
        url = "SOCIALCREDIT_DATABASE_URL"
        fail(f"{exc}; check {url}, or create the registry there with `socialcredit init`")
    except ValueError as exc:
        fail(str(exc))


def open_catalogue() -> Catalogue:
    try:
        return default_catalogue()
    except CatalogueError as exc:
        fail(f"the catalogue does not load ({len(exc.issues)} errors; run `socialcredit catalogue validate`)")


def option_instant(value: str | None, option: str) -> dt.datetime | None:
    """An instant option (``--at``, ``--known-at``) parsed, or exit 2 naming the option and the value."""
    from ..registry import parse_instant  # the registry package loads the store: only when an option is given

    if value is None:
        return None
    try:
        return parse_instant(value)
    except (ValueError, OverflowError):
        fail(f"{option}: {value!r}: expected an ISO 8601 date (YYYY-MM-DD) or datetime")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def allowlist() -> frozenset[str]:
    return get_settings().allowlisted_codes()


def _os_user() -> str:
    # The effective uid's name, as the OS has it: $USER and $LOGNAME can be set to anything by the caller.
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError, OSError):
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return f"uid:{os.geteuid()}" if hasattr(os, "geteuid") else "unknown"


def cli_actor() -> str:
    """The audit actor of a command: ``cli:<OS user>`` (``audit show --actor cli:alice``)."""
    return f"cli:{_os_user()}"


def audit_cli(
    bind: Engine | Connection,
    action: str,
    target: str,
    outcome: str,
    now: dt.datetime | None = None,
    purpose: str | None = None,
) -> None:
    """Append one entry for the command line's access to personal data.

    Given a Connection, the entry joins its transaction (a write and its entry commit together, decision 0303);
    given an Engine, it commits on its own (a refusal, after the failed transaction rolled back)."""
    entry = AuditEntry(cli_actor(), CLI_ROLE, action, target, outcome, purpose)
    at = now or utcnow()
    if isinstance(bind, Connection):
        audit.append(bind, [entry], at)
        return
    with bind.begin() as conn:
        audit.append(conn, [entry], at)
