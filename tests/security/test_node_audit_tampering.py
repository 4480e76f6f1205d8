"""Attack: tamper with the check nodes' audit chains where the sink stores them (issue 20, point 3).

A node's entries reach the database only through `audit sink`; whoever can write that database can edit, delete,
renumber, re-chain, move or fork them, and delete or edit the stored heads. Each of these must make
`audit verify` exit 1 naming the node and the sequence number (the node's public key and heads signature are
outside the writer's reach). Entries forged onto the end after the node's newest head stay "pending" until the
node's next head, as for the registry's chain (decision 0313).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection, delete, select, update
from typer.testing import CliRunner

from node_audit_helpers import PrivateNats, Stream, node_log, private_nats, record_many, sink_all, stream
from socialcredit.audit import AuditEntry, entry_hash
from socialcredit.cli import app
from socialcredit.settings import get_settings
from socialcredit.store import Database
from socialcredit.store.tables import node_audit, node_audit_heads

__all__ = ["private_nats", "stream"]  # the fixtures
NODE = "node-1"
N = 150
mine = node_audit.c.node_id == NODE


def _edit(conn: Connection) -> None:
    conn.execute(update(node_audit).where(mine, node_audit.c.seq == 40).values(target="someone else"))


def _delete_one(conn: Connection) -> None:
    conn.execute(delete(node_audit).where(mine, node_audit.c.seq == 40))


def _cut_tail(conn: Connection) -> None:
    conn.execute(delete(node_audit).where(mine, node_audit.c.seq > N - 10))


def _delete_all(conn: Connection) -> None:
    conn.execute(delete(node_audit).where(mine))


def _rechain(conn: Connection) -> None:
    """Edit entry 40 and recompute every hash after it: the chain holds, the signed head's hash does not."""
    rows = conn.execute(
        select(node_audit).where(mine, node_audit.c.seq >= 40).order_by(node_audit.c.seq)
    ).all()
    prev = rows[0].prev_hash
    for r in rows:
        target = "someone else" if r.seq == 40 else r.target
        e = AuditEntry(r.actor, r.role, r.action, target, r.outcome, r.purpose)
        digest = entry_hash(prev, r.seq, r.at, e)
        conn.execute(
            update(node_audit)
            .where(mine, node_audit.c.seq == r.seq)
            .values(target=target, prev_hash=prev, hash=digest)
        )
        prev = digest


def _fork(conn: Connection) -> None:
    """A second entry 75, chained correctly from 74, at another instant."""
    r74, r75 = (conn.execute(select(node_audit).where(mine, node_audit.c.seq == s)).one() for s in (74, 75))
    e = AuditEntry(r75.actor, r75.role, r75.action, "someone else", r75.outcome, r75.purpose)
    at = r75.at.replace(microsecond=(r75.at.microsecond + 1) % 1_000_000)
    row = {**r75._asdict(), "at": at, "target": "someone else", "hash": entry_hash(r74.hash, 75, at, e)}
    conn.execute(node_audit.insert().values(**row))


def _move(conn: Connection) -> None:
    conn.execute(update(node_audit).where(mine, node_audit.c.seq == N).values(node_id="node-9"))


def _drop_heads(conn: Connection) -> None:
    conn.execute(delete(node_audit_heads))


def _edit_head(conn: Connection) -> None:
    line = conn.execute(select(node_audit_heads.c.line)).scalar_one()
    conn.execute(update(node_audit_heads).values(line=line.replace(f'"seq":{N}', f'"seq":{N - 1}')))


TAMPERINGS: dict[str, tuple[Callable[[Connection], None], str]] = {
    "edit an entry": (_edit, f"node {NODE} seq 40: entry content does not match its hash"),
    "delete an entry": (_delete_one, f"node {NODE} seq 40: entries 40 are missing (next stored is 41)"),
    "cut the last 10": (_cut_tail, f"seqs {N - 9}-{N} removed"),
    "delete the node's every entry": (_delete_all, f"seqs 1-{N} removed"),
    "edit and re-chain after it": (_rechain, f"entry {N} is not the one signed"),
    "fork an entry": (_fork, f"node {NODE} seq 75: stored twice"),
    "move an entry to another node": (_move, f"node {NODE}"),
    "delete the stored heads": (_drop_heads, "unanchored"),
    "edit a stored head": (_edit_head, "signed head refused"),
}


@pytest.mark.parametrize("how", list(TAMPERINGS))
def test_tampering_with_a_stored_node_chain_is_found(
    how: str, db: Database, stream: Stream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "node"
    log = node_log(stream, state)
    record_many(log, 0, N)
    log.close()  # signs the head of all N
    sink_all(db.engine, stream)
    monkeypatch.setenv("SOCIALCREDIT_NODE_AUDIT_KEYS_DIR", str(state))
    get_settings.cache_clear()  # the commands read the settings: a cached copy would look for keys elsewhere
    runner = CliRunner()
    assert runner.invoke(app, ["audit", "anchor"]).exit_code == 0  # the registry's own (empty) chain anchored
    before = runner.invoke(app, ["audit", "verify"])
    assert before.exit_code == 0, before.output
    assert f"node audit chain {NODE} intact: {N} entries" in before.output
    tamper, expect = TAMPERINGS[how]
    with db.engine.begin() as conn:
        tamper(conn)
    after = runner.invoke(app, ["audit", "verify"])
    get_settings.cache_clear()  # read again after the test, without this test's keys directory
    assert after.exit_code == 1, after.output
    assert expect in after.output, after.output


def _rechain_and_drop_heads(conn: Connection) -> None:
    _rechain(conn)
    _drop_heads(conn)


def _cut_tail_and_drop_heads(conn: Connection) -> None:
    _cut_tail(conn)
    _drop_heads(conn)


# What the database alone cannot show (no stored head is left to anchor the chain): the node audit stream can.
COVERED_UP: dict[str, tuple[Callable[[Connection], None], int, str]] = {
    "edit, re-chain after it, delete the heads": (
        _rechain_and_drop_heads,
        40,
        "edited, re-chained or replaced",
    ),
    "cut the last 10, delete the heads": (
        _cut_tail_and_drop_heads,
        N - 9,
        "but not in the database: deleted",
    ),
}


@pytest.mark.parametrize("how", list(COVERED_UP))
def test_from_nats_names_the_node_and_seq_of_an_entry_covered_up_in_the_database(
    how: str, db: Database, private_nats: PrivateNats, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on = Stream(private_nats.url, "NODE_AUDIT_COVERED", "nodeaudit.covered")
    state = tmp_path / "node"
    log = node_log(on, state)
    record_many(log, 0, N)
    log.close()
    sink_all(db.engine, on, durable="sink")
    for name, value in {
        "NODE_AUDIT_KEYS_DIR": str(state),
        "NATS_URL": on.url,  # the registry's heads go there too: `audit anchor` publishes them
        "NODE_AUDIT_STREAM": on.name,
        "NODE_AUDIT_SUBJECT_PREFIX": on.prefix,
    }.items():
        monkeypatch.setenv(f"SOCIALCREDIT_{name}", value)
    get_settings.cache_clear()
    runner = CliRunner()
    from_nats = ["audit", "verify", "--from-nats", "--sink-durable", "sink"]
    try:
        assert runner.invoke(app, ["audit", "anchor"]).exit_code == 0
        before = runner.invoke(app, from_nats)
        assert before.exit_code == 0 and f"node audit chain {NODE} intact: {N} entries" in before.output, (
            before.output
        )
        tamper, seq, why = COVERED_UP[how]
        with db.engine.begin() as conn:
            tamper(conn)
        alone = runner.invoke(app, ["audit", "verify"])
        assert alone.exit_code == 1 and "unanchored" in alone.output, alone.output
        after = runner.invoke(app, from_nats)
    finally:
        get_settings.cache_clear()
    assert after.exit_code == 1, after.output
    assert f"node {NODE} seq {seq}: " in after.output and why in after.output, after.output
    assert f"nats:{on.name}" in after.output


def test_from_nats_with_no_sink_consumer_or_no_server_says_so(
    db: Database, private_nats: PrivateNats, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Bad input to --from-nats: a sink consumer name the stream does not have is a note (nothing compared, the
    # stored chain still verified); a NATS server that does not answer is exit 2 with a reason, no traceback.
    on = Stream(private_nats.url, "NODE_AUDIT_NOSINK", "nodeaudit.nosink")
    state = tmp_path / "node"
    log = node_log(on, state)
    record_many(log, 0, 20)
    log.close()
    sink_all(db.engine, on, durable="sink")
    settings = {
        "NODE_AUDIT_KEYS_DIR": str(state),
        "NATS_URL": on.url,
        "NODE_AUDIT_STREAM": on.name,
        "NODE_AUDIT_SUBJECT_PREFIX": on.prefix,
    }
    for name, value in settings.items():
        monkeypatch.setenv(f"SOCIALCREDIT_{name}", value)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        assert runner.invoke(app, ["audit", "anchor"]).exit_code == 0
        unknown = runner.invoke(app, ["audit", "verify", "--from-nats", "--sink-durable", "nobody"])
        monkeypatch.setenv("SOCIALCREDIT_NATS_URL", "nats://127.0.0.1:9")  # the discard port: nothing answers
        get_settings.cache_clear()
        down = runner.invoke(app, ["audit", "verify", "--from-nats", "--sink-durable", "sink"])
    finally:
        get_settings.cache_clear()
    assert unknown.exit_code == 0, unknown.output
    assert "no node entry compared" in unknown.output and f"{NODE} intact: 20 entries" in unknown.output
    assert down.exit_code == 2 and "error:" in down.output and "Traceback" not in down.output, down.output
    assert down.exception is None or isinstance(down.exception, SystemExit)
