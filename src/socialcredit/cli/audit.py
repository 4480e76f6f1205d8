"""``socialcredit audit verify | anchor | show | sink``: check the chains (the registry's and the check nodes') and
their signed heads; sign one; list entries; store the nodes' audit stream in the database."""

from __future__ import annotations

import asyncio
import json
import math
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
from ..store import Database, RegistryMissing
from .common import console, err_console, fail, open_db, utcnow

if TYPE_CHECKING:
    from ..node.verify import NodeChainCheck

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
        bool,
        typer.Option(
            "--from-nats",
            help="Also check against NATS (SOCIALCREDIT_NATS_URL): the registry's heads held there, and the"
            " node audit stream's entries and heads (what the sink acknowledged) against those stored.",
        ),
    ] = False,
    sink_durable: Annotated[
        str,
        typer.Option(help="With --from-nats: the `audit sink` consumer whose acknowledged part is compared."),
    ] = "audit-sink",
    node_keys: Annotated[
        Path | None,
        typer.Option(
            "--node-keys",
            help="Directory of the check nodes' public keys, NODE.audit-key.pub each (default:"
            " SOCIALCREDIT_NODE_AUDIT_KEYS_DIR, else SOCIALCREDIT_NODE_AUDIT_DIR).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Walk the chain, then check it against every signed head: exit 0 intact and anchored, 1 broken,
    tampered with or unanchored (naming the sequence number), 2 unreadable heads or key. Then the same for each
    check node's chain stored by `audit sink`: a break names the node and sequence number, a missing range is
    reported, and the node's signed heads are checked with its public key. With --from-nats, an entry the node
    audit stream holds that the database lacks or holds otherwise is reported with its node and sequence number
    (an entry edited and the chain re-hashed after it, with the stored heads deleted, is found so)."""
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
    nodes = _node_checks(db, node_keys, grace, sink_durable if from_nats else None)
    if as_json:
        out: dict[str, Any] = {**result.to_dict(), "ok": anchor.ok, "anchor": anchor.to_dict()}
        if anchor.first_bad_seq is not None:
            out["first_bad_seq"] = anchor.first_bad_seq
        if nodes:
            out["ok"] = anchor.ok and all(n.ok for n in nodes)
            out["nodes"] = [n.to_dict() for n in nodes]
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
    _report_nodes(nodes, as_json)


def _node_checks(
    db: Database, keys_dir: Path | None, grace: float, sink_durable: str | None
) -> list[NodeChainCheck]:
    """The nodes' chains; ``sink_durable`` (--from-nats): compared with the node audit stream too."""
    from ..node.stream_copy import read_stream_copy
    from ..node.verify import verify_nodes

    settings = get_settings()
    where = keys_dir or Path(settings.node_audit_keys_dir or settings.node_audit_dir)
    if keys_dir is not None and not keys_dir.is_dir():
        fail(f"--node-keys: {keys_dir} is not a directory")

    def public(node: str) -> Any:
        for name in (f"{node}.audit-key.pub", f"{node}.pub"):
            if (where / name).is_file():
                try:
                    return load_public_key(where / name)
                except AnchorKeyError as exc:
                    fail(str(exc))
        return None

    with db.engine.connect() as conn:
        copy = None
        if sink_durable is not None and settings.nats_url:
            stream, prefix = settings.node_audit_stream, settings.node_audit_subject_prefix
            try:
                copy = read_stream_copy(conn, settings.nats_url, stream, prefix, sink_durable)
            except Exception as exc:
                fail(
                    f"cannot read the node audit stream {stream} from NATS: {str(exc) or type(exc).__name__}"
                )
            if copy.note:
                err_console.print(f"--from-nats: {copy.note}", markup=False, soft_wrap=True)
        return verify_nodes(conn, public, grace=grace, copy=copy)


def _report_nodes(nodes: list[NodeChainCheck], as_json: bool) -> None:
    """Each node chain's verdict; exit 1 naming the first broken one (the registry's chain passed already)."""
    bad = [n for n in nodes if not n.ok]
    for n in bad:
        for problem in n.problems[1:]:
            err_console.print(f"  {problem}", markup=False, soft_wrap=True)
        if n.anchor is not None and not n.anchor.anchored and not n.problems:
            err_console.print(f"  node {n.node}: no signed head found", markup=False, soft_wrap=True)
    if bad:
        n = bad[0]
        if n.problems:
            fail(f"node audit chain broken or tampered with: {n.problems[0]}", code=1)
        fail(
            f"node audit chain unanchored: node {n.node}'s chain of {n.checked} entries holds, but no signed head"
            " of it verifies (is its public key in the node keys directory?)",
            code=1,
        )
    if not as_json:
        for n in nodes:
            pending = sum(b - a + 1 for a, b in n.anchor.pending) if n.anchor else 0
            console.print(
                f"node audit chain {n.node} intact: {n.checked} entries; head hash {n.head_hash};"
                f" anchored by {n.anchor.heads if n.anchor else 0} signed heads"
                + (f"; {pending} newest entries not yet covered by a signed head" if pending else ""),
                soft_wrap=True,
            )


@group.command("sink")
def sink(
    nats_url: Annotated[
        str, typer.Option("--nats", help="NATS server with JetStream, e.g. nats://127.0.0.1:4222.")
    ],
    database: Annotated[
        str | None, typer.Option("--database", help="Database URL (default: SOCIALCREDIT_DATABASE_URL).")
    ] = None,
    durable: Annotated[
        str, typer.Option(help="Durable consumer name (sinks sharing it share the work).")
    ] = "audit-sink",
    batch: Annotated[int, typer.Option(help="Messages per transaction.", min=1, max=10_000)] = 200,
    idle_exit: Annotated[
        float | None, typer.Option(help="Stop after this many seconds with nothing to consume.", min=0)
    ] = None,
) -> None:
    """Store the check nodes' audit stream in the database: batches written once each (a redelivery writes
    nothing twice), acknowledged after commit; monthly partitions on PostgreSQL, made ahead as needed."""
    from ..node.sink import AuditSink

    settings = get_settings()
    try:
        db = Database.open(database or settings.database_url, create=False)
    except RegistryMissing as exc:
        fail(f"{exc}; create the registry with `socialcredit init`")
    except ValueError as exc:
        fail(str(exc))
    worker = AuditSink(
        db.engine,
        nats_url,
        stream=settings.node_audit_stream,
        subject_prefix=settings.node_audit_subject_prefix,
        durable=durable,
        batch=batch,
    )

    async def go() -> Any:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await worker.connect()
        except Exception as exc:
            fail(
                f"--nats {nats_url}: cannot consume the node audit stream ({str(exc) or type(exc).__name__})"
            )
        try:
            return await worker.run(idle_exit=idle_exit, stop=stop)
        finally:
            await worker.close()

    total = asyncio.run(go())
    db.engine.dispose()
    typer.echo(
        f"audit sink: {total.entries} entries and {total.heads} signed heads from {total.messages} messages"
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
