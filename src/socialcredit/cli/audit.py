"""``socialcredit audit verify | anchor | show``: check the chain and its signed heads; sign one; list entries."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import audit
from ..anchor import (
    GRACE,
    Anchor,
    AnchorCheck,
    AnchorKeyError,
    HeadsUnreadable,
    SignedHead,
    anchor_paths,
    check_heads,
    load_public_key,
    read_heads,
)
from ..anchor.heads import parse_heads
from ..anchor.publisher import NATS_SUBJECT, read_nats_heads
from ..settings import get_settings
from ..store import Database
from .common import console, err_console, fail, open_db, utcnow

__all__ = ["register"]

group = typer.Typer(
    help="The hash-chained audit log of every read and write of personal data.", no_args_is_help=True
)

HeadsOpt = Annotated[
    Path | None,
    typer.Option(
        "--heads", help="Signed heads file (default: SOCIALCREDIT_AUDIT_HEADS_FILE or beside the db)."
    ),
]
KeyOpt = Annotated[
    Path | None,
    typer.Option("--public-key", help="PEM public key of the signer (default: the key file's .pub)."),
]


def _check(
    db: Database, heads: Path | None, public_key: Path | None, grace: float, from_nats: bool = False
) -> tuple[Path, AnchorCheck]:
    """The heads check of an intact chain; exits 2 on input that cannot be read."""
    settings = get_settings()
    paths = anchor_paths(settings, db.engine.url)
    heads_path = heads or paths.heads
    if heads is not None and not heads.is_file():
        fail(f"{heads}: no such heads file")
    if from_nats and not settings.nats_url:
        fail("--from-nats: SOCIALCREDIT_NATS_URL is not set")
    found: list[SignedHead] = []
    refused: list[str] = []
    if heads_path.exists() or from_nats:
        key_path = public_key or next(
            (p for p in (Path(f"{paths.key}.pub"), paths.key) if p.exists()), Path(f"{paths.key}.pub")
        )
        try:
            public = load_public_key(key_path)
            found, refused = read_heads(heads_path, public)
        except (AnchorKeyError, HeadsUnreadable) as exc:
            fail(f"{exc} (pass --public-key and --heads)")
        if from_nats and settings.nats_url:
            try:
                lines = read_nats_heads(settings.nats_url)
            except Exception as exc:
                fail(f"cannot read the signed heads from NATS: {exc}")
            more, bad = parse_heads(lines, public, f"nats:{NATS_SUBJECT}")
            known = {h.sig for h in found}
            found += [h for h in more if h.sig not in known]
            refused += bad
    with db.engine.connect() as conn:
        return heads_path, check_heads(conn, audit.count(conn), found, refused, grace)


@group.command("verify")
def verify(
    heads: HeadsOpt = None,
    public_key: KeyOpt = None,
    grace: Annotated[
        float, typer.Option(help="Seconds of heads after which an entry no head covers is an alarm.", min=0)
    ] = GRACE,
    from_nats: Annotated[
        bool, typer.Option("--from-nats", help="Also check the heads held by NATS (SOCIALCREDIT_NATS_URL).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Walk the chain, then check it against every signed head: exit 0 intact and anchored, 1 broken,
    tampered with or unanchored (naming the sequence number), 2 unreadable heads or key."""
    db = open_db()
    with db.engine.connect() as conn:
        result = audit.verify(conn)
    if not result.ok:
        if as_json:
            console.print_json(json.dumps(result.to_dict()))
        fail(
            f"audit log broken at seq {result.first_bad_seq}: {result.reason} "
            f"({result.checked} entries before it verified)",
            code=1,
        )
    heads_path, anchor = _check(db, heads, public_key, grace, from_nats)
    if as_json:
        out: dict[str, Any] = {**result.to_dict(), "ok": anchor.ok, "anchor": anchor.to_dict()}
        if anchor.first_bad_seq is not None:
            out["first_bad_seq"] = anchor.first_bad_seq
        console.print_json(json.dumps(out))
    if anchor.problems:
        for problem in anchor.problems[1:]:
            err_console.print(f"  {problem}", markup=False, soft_wrap=True)
        fail(f"audit log tampered with: {anchor.problems[0]}", code=1)
    if not anchor.anchored:
        fail(
            f"audit log unanchored: the chain of {result.checked} entries holds, but no signed head was found in"
            f" {heads_path}, so entries removed from its end or forged onto it cannot be detected",
            code=1,
        )
    if not as_json:
        latest = anchor.latest.body() if anchor.latest else {}
        pending = sum(b - a + 1 for a, b in anchor.pending)
        console.print(
            f"audit log intact: {result.checked} entries; head hash {result.head_hash}; anchored by"
            f" {anchor.heads} signed heads of key {latest.get('key')}, the newest at {latest.get('at')}"
            + (f"; {pending} newest entries not yet covered by a signed head" if pending else ""),
            soft_wrap=True,
        )


@group.command("anchor")
def anchor(
    adopt: Annotated[
        bool,
        typer.Option(
            help="Vouch for the whole chain as it stands (an existing log, or after examining entries)."
        ),
    ] = False,
) -> None:
    """Sign a head now and publish it (file, and NATS if set); --adopt vouches for every entry so far."""
    db = open_db()
    with db.engine.connect() as conn:
        result = audit.verify(conn)
    if not result.ok:
        fail(f"audit log broken at seq {result.first_bad_seq}: {result.reason}; nothing signed", code=1)
    _, found = _check(db, None, None, math.inf)  # what heads say already, uncovered entries aside
    if found.problems:
        fail(f"audit log tampered with: {found.problems[0]}; nothing signed", code=1)
    try:
        signer = Anchor.open(db.engine, get_settings())
    except AnchorKeyError as exc:
        fail(str(exc))
    head = signer.publish(utcnow(), adopt=adopt)
    typer.echo(head.line())


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
