"""``socialcredit keys create | list | revoke``: API keys; a token is printed once, only its hash is kept."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import Connection, select

from .. import audit
from ..keys import KeyInvalid, create_key, creation_entry, list_keys, parse_duration, revoke_key
from ..store.tables import api_keys
from ..timefmt import for_people
from .common import EXIT_NOT_FOUND, audit_cli, cli_actor, console, fail, open_catalogue, open_db, utcnow

__all__ = ["register"]

group = typer.Typer(help="API keys: one role each, with that role's scope.", no_args_is_help=True)


@group.command("create")
def create(
    role: Annotated[str, typer.Option(help="registrar, checkpoint, subject, screener, auditor or admin.")],
    authority: Annotated[str | None, typer.Option(help="Registrar: the authority it files for.")] = None,
    actions: Annotated[
        list[str] | None,
        typer.Option(
            "--actions",
            help="Checkpoint: actions in scope (repeat; transport.air covers transport.air.*, and "
            "transport.air.* is accepted as transport.air).",
        ),
    ] = None,
    subject: Annotated[str | None, typer.Option(help="Subject: the identifier of its own file.")] = None,
    expires: Annotated[
        str | None, typer.Option(help="Lifetime: 12h, 90d or 4w (default: no expiry).")
    ] = None,
    label: Annotated[str, typer.Option(help="A note on who holds the key.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a key and print its token once (only a SHA-256 of it is stored)."""
    now = utcnow()
    cat = open_catalogue()
    db = open_db()
    try:
        expires_at = now + parse_duration(expires) if expires else None
        patterns = [p.strip() for a in actions or () for p in a.split(",") if p.strip()]
        with db.engine.begin() as conn:
            key, token = create_key(
                conn,
                role,
                cat,
                now,
                authority=authority,
                actions=patterns,
                subject=subject,
                expires_at=expires_at,
                label=label,
            )
            audit.append(conn, [creation_entry(cli_actor(), "admin", key)], now)
    except KeyInvalid as exc:
        fail(f"--{exc.field}: {exc.value!r}: {exc.reason}")
    if as_json:
        console.print_json(json.dumps({**key.to_dict(now), "token": token}))
        return
    console.print(f"key {key.id} ({key.role}) created; its token, shown only this once:")
    console.print(token, soft_wrap=True)


@group.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List keys with role, scope and status (never a token)."""
    now = utcnow()
    db = open_db()
    with db.engine.connect() as conn:
        keys = list_keys(conn)
    if as_json:
        console.print_json(json.dumps([k.to_dict(now) for k in keys]))
        return
    if not keys:
        console.print("no keys")
    # Lines, not a table: at 80 columns a table cut ids to "dda2fca0…" (what `keys revoke` takes next) and
    # times and scopes mid-word; a line per key keeps every value whole, and grep finds a key by any of them.
    out = Console(highlight=False, soft_wrap=True)
    for k in keys:
        scope = k.authority or ", ".join(k.actions) or k.subject or ""
        out.print(
            f"{k.id}  {k.role:<10}  {k.status(now):<7}  created {for_people(k.created_at)}", markup=False
        )
        expires = for_people(k.expires_at, empty="never")
        details = (f"{n} {v}" for n, v in (("expires", expires), ("scope", scope), ("label", k.label)) if v)
        out.print(f"    {'; '.join(details)}", markup=False)


def _resolve(conn: Connection, given: str) -> str:
    """The one key id starting with ``given`` (a whole id, or any unique prefix, as `keys list` shows)."""
    prefix = given.strip().removeprefix("sc_").lower()
    if not prefix or any(c not in "0123456789abcdef" for c in prefix):
        fail(f"key_id: {given!r}: a key id is hexadecimal (the part after sc_)")
    ids = [r[0] for r in conn.execute(select(api_keys.c.id).where(api_keys.c.id.startswith(prefix)).limit(6))]
    if not ids:
        fail(f"{given}: no such key", EXIT_NOT_FOUND)
    if len(ids) > 1:
        fail(f"{given}: ambiguous, matches keys {', '.join(ids[:5])}{' ...' if len(ids) > 5 else ''}")
    return str(ids[0])


@group.command("revoke")
def revoke(
    key_id: Annotated[
        str, typer.Argument(help="The key id (the part after sc_), or any unique prefix of it.")
    ],
) -> None:
    """Revoke a key now; exit 3 if there is no such key, 2 if the prefix matches several."""
    now = utcnow()
    db = open_db()
    with db.engine.begin() as conn:
        key_id = _resolve(conn, key_id)
        revoke_key(conn, key_id, now)
        audit_cli(conn, "keys.revoke", f"key:{key_id}", "revoked", now)
    console.print(f"key {key_id} revoked")


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="keys")
