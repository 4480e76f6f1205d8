"""``socialcredit users create | list | disable``: officer console accounts (docs/console.md)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ..console.auth import UserInvalid, create_user, disable_user, list_users
from ..timefmt import for_people
from .common import EXIT_NOT_FOUND, audit_cli, console, fail, open_catalogue, open_db, utcnow

__all__ = ["register"]

group = typer.Typer(
    help="Officer console accounts: one role each, argon2 password hashes.", no_args_is_help=True
)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = typer.prompt("Password", hide_input=True)
    if typer.prompt("Repeat the password", hide_input=True) != first:
        fail("password: the two entries differ")
    return str(first)


@group.command("create")
def create(
    name: Annotated[str, typer.Option(help="The user name (a-z 0-9 . _ -); the audit actor is user:NAME.")],
    role: Annotated[str, typer.Option(help="registrar, auditor or admin.")],
    authority: Annotated[str | None, typer.Option(help="Registrar: the authority it files for.")] = None,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from the first line of standard input."),
    ] = False,
) -> None:
    """Create a console user; the password is prompted for (or read from stdin) and only its hash kept."""
    now = utcnow()
    cat = open_catalogue()
    db = open_db()
    password = _password(password_stdin)
    try:
        with db.engine.begin() as conn:
            user = create_user(conn, name, role, password, cat, now, authority=authority)
            audit_cli(conn, "users.create", f"user:{user.name}", f"created {user.role}", now)
    except UserInvalid as exc:
        fail(f"--{exc.field}: {exc.value!r}: {exc.reason}")
    console.print(f"user {user.name} ({user.role}) created", markup=False)


@group.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List console users with role, authority and status (never a hash)."""
    db = open_db()
    with db.engine.connect() as conn:
        users = list_users(conn)
    rows = [
        {
            "name": u.name,
            "role": u.role,
            "authority": u.authority,
            "created_at": u.created_at.isoformat(),
            "disabled_at": u.disabled_at.isoformat() if u.disabled_at else None,
        }
        for u in users
    ]
    if as_json:
        console.print_json(json.dumps(rows))
        return
    if not users:
        console.print("no users")
    for u in users:
        status = "disabled" if u.disabled_at else "active"
        scope = f"  {u.authority}" if u.authority else ""
        console.print(
            f"{u.name}  {u.role:<9}  {status:<8}  created {for_people(u.created_at)}{scope}", markup=False
        )


@group.command("disable")
def disable(name: Annotated[str, typer.Argument(help="The user name.")]) -> None:
    """Disable a user and end their sessions now; exit 3 if there is no such user."""
    now = utcnow()
    db = open_db()
    with db.engine.begin() as conn:
        user = disable_user(conn, name, now)
        if user is None:
            fail(f"{name}: no such user", EXIT_NOT_FOUND)
        audit_cli(conn, "users.disable", f"user:{name}", "disabled", now)
    console.print(f"user {name} disabled; their sessions ended", markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="users")
