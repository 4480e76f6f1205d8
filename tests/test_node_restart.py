"""A check node restarted over its durable consumer (decision 1120), on both stores and the real NATS server: on
a snapshot at the seq it had reached it resumes the consumer where it stood (nothing replayed, nothing skipped,
events published while it was down applied once); on an older snapshot it re-creates the consumer at the
snapshot's seq and applies the events after it once each, with no re-sync; a consumer left with messages
delivered but not acknowledged is re-created, never resumed behind them."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from factories import person_id
from node_helpers import Node, js, nats_stream, publish, publish_raw, running_node, snapshot_of, until
from socialcredit.catalogue import Catalogue
from socialcredit.engine import Checker
from socialcredit.node.follow import durable_name
from socialcredit.store import Database
from test_engine_support import file

__all__ = ["nats_stream"]  # the fixture


def _file(db: Database, catalogue: Catalogue, now: dt.datetime, *numbers: int) -> None:
    for n in numbers:
        file(
            db.engine,
            catalogue,
            now - dt.timedelta(days=60),
            external_id=f"RESTART-{n}",
            subject_id=person_id(600 + n),
        )


def _counts(node: Node) -> dict[str, float]:
    m = node.metric
    return {
        "applied": m('socialcredit_node_messages_total{outcome="applied"}'),
        "duplicate": m('socialcredit_node_messages_total{outcome="duplicate"}'),
        "resyncs": m("socialcredit_node_resyncs_total"),
        "resumed": m('socialcredit_node_consumer_positions_total{how="resumed"}'),
        "created": m('socialcredit_node_consumer_positions_total{how="created"}'),
    }


def _at_store(db: Database, catalogue: Catalogue, node: Node) -> None:
    fresh = Checker(db.engine, catalogue)
    until(lambda: node.state.live.last_seq == fresh.last_seq, f"event {fresh.last_seq} on the node")
    until(node.ready, "the node to be ready")
    assert node.state.live.checker.index.dump() == fresh.index.dump()


def _created(stream: str, durable: str) -> object:
    return js(lambda j: j.consumer_info(stream, durable)).created


def test_a_restarted_node_resumes_its_durable_consumer_and_applies_each_event_once(
    db: Database, catalogue: Catalogue, now: dt.datetime, tmp_path: Path, nats_stream: tuple[str, str]
) -> None:
    stream, prefix = nats_stream
    node_id = f"node-r-{uuid.uuid4().hex[:6]}"
    _file(db, catalogue, now, 1, 2)
    old = snapshot_of(db, catalogue, tmp_path / "seq2.snap")
    with running_node(db, catalogue, old, tmp_path, nats_stream, node_id=node_id) as node:
        _file(db, catalogue, now, 3, 4)
        publish(db, stream, prefix)
        _at_store(db, catalogue, node)
        # A message that is not a record event last: the consumer stands past it, the node's seq before it.
        publish_raw(f"{prefix}.grade.changed", b"{}", "grade:4:samr_risk")
        until(
            lambda: node.metric('socialcredit_node_messages_total{outcome="not_a') == 1, "the grade message"
        )
        # Events 1 and 2 too: the stream was empty when the node positioned itself, at its start.
        assert _counts(node) == dict(applied=2, duplicate=2, resyncs=0, resumed=0, created=1)
    created = _created(stream, durable_name(node_id))

    # Down: a snapshot at the seq the node had reached, and an event published meanwhile.
    new = snapshot_of(db, catalogue, tmp_path / "seq4.snap")
    _file(db, catalogue, now, 5)
    publish(db, stream, prefix)
    with running_node(db, catalogue, new, tmp_path, nats_stream, node_id=node_id) as node:
        _at_store(db, catalogue, node)
        _file(db, catalogue, now, 6)
        publish(db, stream, prefix)
        _at_store(db, catalogue, node)
        assert _counts(node) == dict(applied=2, duplicate=0, resyncs=0, resumed=1, created=0)
    assert _created(stream, durable_name(node_id)) == created, "the same consumer, not a new one"

    # On the older snapshot: the consumer stands past the snapshot's seq, so it is re-created there.
    with running_node(db, catalogue, old, tmp_path, nats_stream, node_id=node_id) as node:
        _at_store(db, catalogue, node)
        assert _counts(node) == dict(applied=4, duplicate=0, resyncs=0, resumed=0, created=1)
    assert _created(stream, durable_name(node_id)) != created


def test_a_consumer_with_unacknowledged_messages_is_recreated_not_resumed(
    db: Database, catalogue: Catalogue, now: dt.datetime, tmp_path: Path, nats_stream: tuple[str, str]
) -> None:
    stream, prefix = nats_stream
    node_id = f"node-u-{uuid.uuid4().hex[:6]}"
    snap = snapshot_of(db, catalogue, tmp_path / "seq0.snap")
    with running_node(db, catalogue, snap, tmp_path, nats_stream, node_id=node_id) as node:
        until(node.ready, "the node to be ready")
    _file(db, catalogue, now, 1, 2, 3)
    publish(db, stream, prefix)

    async def fetch_unacked(j: object) -> int:
        # A node killed after a fetch and before its acknowledgement: events 1 and 2 delivered, not acked.
        sub = await j.pull_subscribe_bind(durable=durable_name(node_id), stream=stream)  # type: ignore[attr-defined]
        return len(await sub.fetch(2, timeout=5))

    assert js(fetch_unacked) == 2
    with running_node(db, catalogue, snap, tmp_path, nats_stream, node_id=node_id) as node:
        _at_store(db, catalogue, node)
        assert _counts(node) == dict(applied=3, duplicate=0, resyncs=0, resumed=0, created=1)
