"""``socialcredit audit verify | show``: check the audit log's hash chain; list entries."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .. import audit
from .common import console, fail, open_db

__all__ = ["register"]

group = typer.Typer(
    help="The hash-chained audit log of every read and write of personal data.", no_args_is_help=True
)


@group.command("verify")
def verify(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Walk the chain: exit 0 if intact, 1 naming the first bad sequence number."""
    db = open_db()
    with db.engine.connect() as conn:
        result = audit.verify(conn)
    if as_json:
        console.print_json(json.dumps(result.to_dict()))
    if not result.ok:
        fail(
            f"audit log broken at seq {result.first_bad_seq}: {result.reason} "
            f"({result.checked} entries before it verified)",
            code=1,
        )
    if not as_json:
        console.print(f"audit log intact: {result.checked} entries; head hash {result.head_hash}")


@group.command("show")
def show(
    after: Annotated[int, typer.Option(help="Entries after this sequence number.", min=0)] = 0,
    limit: Annotated[int, typer.Option(help="At most this many.", min=1, max=100_000)] = 50,
    actor: Annotated[str | None, typer.Option(help="Only this actor (key id, public, cli:USER).")] = None,
    target: Annotated[
        str | None, typer.Option(help="Only targets containing this (e.g. a subject id).")
    ] = None,
) -> None:
    """Print entries as JSON Lines, oldest first."""
    db = open_db()
    with db.engine.connect() as conn:
        for row in audit.query(conn, after=after, limit=limit, actor=actor, target=target):
            typer.echo(json.dumps(row, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="audit")
