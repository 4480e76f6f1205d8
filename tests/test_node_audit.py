"""Check nodes' audit chains end to end, on real NATS and both stores: NodeAuditLog publishes, the sink stores,
verify checks; the stream going away fills the node's buffer and then refuses; restarts resume the chain."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
from sqlalchemy import func, select

from node_audit_helpers import (
    PrivateNats,
    Stream,
    entry,
    node_log,
    private_nats,
    record_many,
    sink_all,
    stream,
    verify_with,
    wait_for,
)
from socialcredit.node.audit import AuditBufferFull, NodeAuditLog
from socialcredit.node.chain import node_genesis
from socialcredit.node.sink import AuditSink
from socialcredit.settings import get_settings
from socialcredit.store import Database
from socialcredit.store.tables import node_audit

__all__ = ["private_nats", "stream"]  # fixtures


def _rows(db: Database) -> list[tuple[str, int, str, str]]:
    with db.engine.connect() as conn:
        q = select(node_audit.c.node_id, node_audit.c.seq, node_audit.c.prev_hash, node_audit.c.hash)
        return [tuple(r) for r in conn.execute(q.order_by(node_audit.c.node_id, node_audit.c.seq))]


def test_entries_from_record_arrive_in_the_sink_in_order_and_verify(
    db: Database, stream: Stream, tmp_path: Path
) -> None:
    log = node_log(stream, tmp_path)
    seqs = record_many(log, 0, 3000)
    other = node_log(stream, tmp_path, node="node-2")
    assert record_many(other, 0, 5) == [1, 2, 3, 4, 5]
    log.close()
    other.close()
    assert sorted(seqs) == list(range(1, 3001))
    got = sink_all(db.engine, stream)
    assert got.entries == 3005 and got.heads == 2
    assert got.messages < 3005 / 10, "entries travel many to a message"
    rows = _rows(db)
    mine = [r for r in rows if r[0] == "node-1"]
    assert [r[1] for r in mine] == list(range(1, 3001))
    assert mine[0][2] == node_genesis("node-1")
    assert all(a[3] == b[2] for a, b in itertools.pairwise(mine))
    checks = verify_with(db.engine, tmp_path)
    assert [(c.node, c.checked, c.ok) for c in checks] == [("node-1", 3000, True), ("node-2", 5, True)]
    assert checks[0].anchor is not None and checks[0].anchor.covered == 3000


def test_a_redelivered_batch_is_written_once(db: Database, stream: Stream, tmp_path: Path) -> None:
    log = node_log(stream, tmp_path)
    record_many(log, 0, 200)
    log.close()

    async def go() -> tuple[int, int]:
        sink = AuditSink(
            db.engine, stream.url, stream=stream.name, subject_prefix=stream.prefix, durable="d", ack_wait=1.0
        )
        await sink.connect()
        try:
            first = await sink.step(ack=False)  # committed, then "killed" before the acks
            await asyncio.sleep(1.5)  # past ack_wait: JetStream redelivers
            again = await sink.step()
            return first.entries, again.entries
        finally:
            await sink.close()

    first, again = asyncio.run(go())
    assert first == 200 and again == 200
    assert len(_rows(db)) == 200
    assert sink_all(db.engine, stream, durable="d").entries == 0  # acknowledged now: nothing comes back


def test_restart_resumes_the_chain(db: Database, stream: Stream, tmp_path: Path) -> None:
    log = node_log(stream, tmp_path)
    record_many(log, 0, 5)
    log.close()
    again = node_log(stream, tmp_path)
    assert record_many(again, 5, 3) == [6, 7, 8]
    again.close()
    sink_all(db.engine, stream)
    rows = _rows(db)
    assert [r[1] for r in rows] == list(range(1, 9))
    assert rows[5][2] == rows[4][3], "seq 6's prev_hash is seq 5's hash"
    assert all(c.ok for c in verify_with(db.engine, tmp_path))


def test_stream_down_buffers_up_to_the_limit_then_refuses_then_drains_without_a_gap(
    db: Database, private_nats: PrivateNats, tmp_path: Path
) -> None:
    s = Stream(private_nats.url, "NODE_AUDIT_DOWN", "test.nodeaudit.down")
    state = tmp_path / "node"
    log = node_log(s, state, buffer_limit=40)
    assert record_many(log, 0, 10) == list(range(1, 11))
    private_nats.stop()
    wait_for(lambda: not log.connected, 10, "the node sees the stream gone")
    assert record_many(log, 10, 25) == list(range(11, 36))
    assert log.buffered == 25
    log.close()  # a restart while the stream is down: the chain resumes from the buffer
    log = node_log(s, state, buffer_limit=40)
    assert log.buffered == 25
    assert record_many(log, 35, 15) == list(range(36, 51))
    assert log.buffered == 40

    async def one() -> int:
        return await log.record(entry(99))

    with pytest.raises(AuditBufferFull) as refused:
        asyncio.run(one())
    assert refused.value.retry_after > 0 and "buffer is full" in str(refused.value)
    private_nats.start()
    wait_for(lambda: log.buffered == 0, 20, "the buffer drains once the stream is back")
    assert record_many(log, 50, 5) == list(range(51, 56))
    log.close()
    assert not (state / "node-1.buffer.jsonl").read_bytes(), "a drained buffer is emptied"
    sink_all(db.engine, s)
    assert [r[1] for r in _rows(db)] == list(range(1, 56))
    (check,) = verify_with(db.engine, state)
    assert check.ok and not check.missing, check.problems


def test_a_node_started_while_the_stream_is_down_answers_from_its_buffer(
    db: Database, private_nats: PrivateNats, tmp_path: Path
) -> None:
    s = Stream(private_nats.url, "NODE_AUDIT_LATE", "test.nodeaudit.late")
    private_nats.stop()
    log = node_log(s, tmp_path, connect_timeout=0.5)
    assert record_many(log, 0, 3) == [1, 2, 3] and log.buffered == 3
    private_nats.start()
    wait_for(lambda: log.buffered == 0, 20, "the buffer drains once the stream is up")
    log.close()
    sink_all(db.engine, s)
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(node_audit)).scalar_one() == 3


def test_bad_node_ids_and_limits_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"node_id 'a\.b'"):
        NodeAuditLog("nats://127.0.0.1:1", "a.b", state_dir=tmp_path)
    with pytest.raises(ValueError, match="buffer_limit: 0"):
        NodeAuditLog("nats://127.0.0.1:1", "n", state_dir=tmp_path, buffer_limit=0)


def test_the_sink_command_stores_the_stream_and_refuses_an_unreachable_server(
    db: Database, stream: Stream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from socialcredit.cli import app

    log = node_log(stream, tmp_path)
    record_many(log, 0, 20)
    log.close()
    monkeypatch.setenv("SOCIALCREDIT_NODE_AUDIT_STREAM", stream.name)
    monkeypatch.setenv("SOCIALCREDIT_NODE_AUDIT_SUBJECT_PREFIX", stream.prefix)
    get_settings.cache_clear()  # the command reads the settings: a cached copy would name the default stream
    runner = CliRunner()
    got = runner.invoke(app, ["audit", "sink", "--nats", stream.url, "--idle-exit", "0.5"])
    assert got.exit_code == 0, got.output
    assert "20 entries and 1 signed heads" in got.output
    assert len(_rows(db)) == 20
    bad = runner.invoke(app, ["audit", "sink", "--nats", "nats://127.0.0.1:1", "--idle-exit", "0"])
    get_settings.cache_clear()  # read again after the test, without this test's stream
    assert bad.exit_code == 2 and "cannot consume the node audit stream" in bad.output, bad.output


def test_a_message_that_is_no_node_audit_is_refused_and_the_rest_written(
    db: Database, stream: Stream, tmp_path: Path
) -> None:
    import nats

    log = node_log(stream, tmp_path)
    record_many(log, 0, 3)

    async def garbage() -> None:
        nc = await nats.connect(stream.url)
        js = nc.jetstream()
        await js.publish(f"{stream.prefix}.entries.node-1", b"not json\n", stream=stream.name)
        await js.publish(
            f"{stream.prefix}.entries.node-2",
            (await js.get_last_msg(stream.name, f"{stream.prefix}.entries.node-1")).data,
        )
        await nc.close()

    asyncio.run(garbage())
    record_many(log, 3, 2)
    log.close()
    got = sink_all(db.engine, stream)
    assert got.entries == 5, "the garbage and the entries filed under another node's subject are not written"
    assert [r[1] for r in _rows(db)] == [1, 2, 3, 4, 5]


def test_from_settings_reads_the_node_audit_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from socialcredit.settings import Settings

    monkeypatch.setenv("SOCIALCREDIT_NODE_AUDIT_BUFFER_LIMIT", "7")
    monkeypatch.setenv("SOCIALCREDIT_NODE_AUDIT_DIR", str(tmp_path))
    log = NodeAuditLog.from_settings(Settings(), "nats://127.0.0.1:4222", "n1")
    assert (log.buffer_limit, log.state_dir, log.stream) == (7, tmp_path, "SOCIALCREDIT_NODE_AUDIT")
