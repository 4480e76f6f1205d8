"""``socialcredit keys create | list | revoke``: API keys; a token is printed once, only its hash is kept."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from .. import audit
from ..audit import AuditEntry
from ..keys import KeyInvalid, create_key, creation_entry, list_keys, parse_duration, revoke_key
from .common import console, fail, open_catalogue, open_db, utcnow

__all__ = ["register"]

group = typer.Typer(help="API keys: one role each, with that role's scope.", no_args_is_help=True)


@group.command("create")
def create(
    role: Annotated[str, typer.Option(help="registrar, checkpoint, subject, auditor or admin.")],
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
            audit.append(conn, [creation_entry("cli", "admin", key)], now)
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
    table = Table("id", "role", "scope", "label", "created", "expires", "status")
    for k in keys:
        scope = k.authority or ", ".join(k.actions) or k.subject or ""
        table.add_row(
            k.id,
            k.role,
            scope,
            k.label,
            k.created_at.isoformat()[:19],
            k.expires_at.isoformat()[:19] if k.expires_at else "",
            k.status(now),
        )
    console.print(table if keys else "no keys")


@group.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key id (the part after sc_).")]) -> None:
    """Revoke a key now; exit 1 if there is no such key."""
    now = utcnow()
    db = open_db()
    with db.engine.begin() as conn:
        key = revoke_key(conn, key_id, now)
        if key is not None:
            audit.append(conn, [AuditEntry("cli", "admin", "keys.revoke", f"key:{key_id}", "revoked")], now)
    if key is None:
        fail(f"{key_id}: no such key", code=1)
    console.print(f"key {key_id} revoked")


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="keys")
