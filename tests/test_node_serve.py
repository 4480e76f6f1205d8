"""Check nodes (issue 20 point 1, decision 1102), on both stores and the real NATS server, each test with a
stream of its own: a node started from a snapshot answers as the API server does (same keys, same views) for
random subjects and instants; filings and revocations published after the snapshot reach it; replayed and
duplicated messages change nothing; a message lost from the stream, or a snapshot older than the stream keeps,
makes it re-sync from the store (not ready meanwhile); non-record messages are skipped and a record event it
cannot read is never applied; a refused snapshot stops ``node serve`` with the reason; lag is on /metrics and
/readyz fails past the settings. The node audits to its own chain on JetStream (decision 1103): while the audit
server is down its checks are answered from the buffer, then refused (503, ``Retry-After``) once it is full,
and answered again once it drains; the entries reach ``audit sink`` and verify.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from factories import org_id, person_id
from node_audit_helpers import PrivateNats, private_nats, verify_with, wait_for
from node_helpers import (
    Node,
    body_of_event,
    js,
    nats_stream,
    publish,
    publish_raw,
    ready_node,
    running_node,
    snapshot_of,
    until,
)
from socialcredit.catalogue import Catalogue
from socialcredit.cli import app as cli
from socialcredit.engine import Checker
from socialcredit.node import create_snapshot
from socialcredit.registry.writer import revoke
from socialcredit.settings import get_settings
from socialcredit.store import Database
from test_api_helpers import Api, serve
from test_engine_support import file, file_decisions, red_catalogue, subject_for

runner = CliRunner()
AIR = "transport.air.ticket"
__all__ = ["nats_stream", "private_nats"]  # fixtures


@pytest.fixture
def api(db: Database, catalogue: Catalogue) -> Iterator[Api]:
    yield from serve(db, catalogue)


def _file_some(db: Database, catalogue: Catalogue, now: dt.datetime, n: int, first: int = 1) -> list[str]:
    """``n`` records over the catalogue's categories (organisations with both links where allowed); the
    subjects they name."""
    cats = sorted(catalogue.categories)
    named: list[str] = []
    for i in range(first, first + n):
        cat = cats[i % len(cats)]
        who = subject_for(catalogue, cat, i)
        file(
            db.engine,
            catalogue,
            now,
            external_id=f"NODE-{i}",
            category=cat,
            authority=catalogue.categories[cat].authorities[0],
            decided_on=(now.date() - dt.timedelta(days=i * 17 % 300)).isoformat(),
            **who,
        )
        named += [v for k, v in who.items() if k.endswith("_id")]
    return named


def _snapshot(db: Database, catalogue: Catalogue, tmp_path: Path) -> Path:
    return snapshot_of(db, catalogue, tmp_path / "index.snap")


def _strip(body: Any) -> Any:
    """An answer without its audit reference (each server keeps its own audit)."""
    if isinstance(body, dict):
        return {k: _strip(v) for k, v in body.items() if k != "reference"}
    if isinstance(body, list):
        return [_strip(v) for v in body]
    return body


def _same_answers(api: Api, node: Node, subjects: list[str], actions: list[str], seed: int) -> None:
    # The API server follows the store by polling every 0.2 s: bring it to the store now, or a loaded machine
    # compares the node with an API server that has not yet seen the last revocation.
    api.client.app.state.sc.checker.refresh()  # type: ignore[attr-defined]
    rng = random.Random(seed)
    base = dt.datetime(2026, 11, 20, 4, 0, tzinfo=dt.UTC)
    for _ in range(12):
        at = (base + dt.timedelta(days=rng.randint(-500, 900), seconds=rng.randint(0, 86_399))).isoformat()
        role = rng.choice(["checkpoint", "registrar", "registrar_other"])
        action = rng.choice(actions) if role != "checkpoint" else AIR
        who = rng.sample(subjects, min(5, len(subjects)))
        headers = api.headers(role)
        for s in who:
            a = api.client.post(
                "/v1/checks", json={"subject": s, "action": action, "at": at}, headers=headers
            )
            b = node.client.post(
                "/v1/checks", json={"subject": s, "action": action, "at": at}, headers=headers
            )
            assert (b.status_code, _strip(b.json())) == (a.status_code, _strip(a.json())), (s, action, at)
        batch = {"queries": [{"subject": s, "action": action} for s in who], "at": at}
        a = api.client.post("/v1/checks/batch", json=batch, headers=headers)
        b = node.client.post("/v1/checks/batch", json=batch, headers=headers)
        assert (b.status_code, _strip(b.json())) == (a.status_code, _strip(a.json()))


def _index_is_the_store(db: Database, catalogue: Catalogue, node: Node) -> None:
    fresh = Checker(db.engine, catalogue)
    live = node.state.live.checker
    assert live.last_seq == fresh.last_seq
    assert live.index.dump() == fresh.index.dump()
    assert fresh.index.known <= live.index.known


def test_a_node_answers_as_the_api_server(
    db: Database,
    catalogue: Catalogue,
    now: dt.datetime,
    tmp_path: Path,
    api: Api,
    nats_stream: tuple[str, str],
) -> None:
    subjects = [*_file_some(db, catalogue, now, 24), person_id(900), org_id(901), "not-an-id"]
    actions = sorted(
        {AIR, "transport.rail.ticket", "finance.bank.loan", "procurement.bid"} & set(catalogue.actions)
    )
    with ready_node(db, catalogue, tmp_path, nats_stream) as node:
        _same_answers(api, node, subjects, actions, seed=1)
        # Unknown actions, bad identifiers, a missing key, a checkpoint outside its scope: the same problems.
        for body, role in [
            ({"subject": subjects[0], "action": "no.such"}, "registrar"),
            ({"subject": "x", "action": AIR}, "checkpoint"),
            ({"subject": subjects[0], "action": "finance.bank.loan"}, "checkpoint"),
            ({"subject": subjects[0], "action": AIR}, None),
        ]:
            a = api.client.post("/v1/checks", json=body, headers=api.headers(role))
            b = node.client.post("/v1/checks", json=body, headers=api.headers(role))
            assert b.status_code == a.status_code and b.json()["detail"] == a.json()["detail"]
        # Every check the node answered is in its chain, acknowledged by its audit stream: the refusals of a
        # key's checks too, not the request without a key (refused before there is an actor to audit).
        assert (node.audit.acked_seq, node.audit.buffered) == (12 * 6 + 3, 0)


def test_filings_and_revocations_reach_the_node(
    db: Database,
    catalogue: Catalogue,
    now: dt.datetime,
    tmp_path: Path,
    api: Api,
    nats_stream: tuple[str, str],
) -> None:
    _file_some(db, catalogue, now, 3)
    subject = person_id(777)
    check = {"subject": subject, "action": AIR}
    with ready_node(db, catalogue, tmp_path, nats_stream) as node:
        headers = api.headers("checkpoint")

        def allowed() -> bool:
            r = node.client.post("/v1/checks", json=check, headers=headers)
            assert r.status_code == 200, r.text
            return bool(r.json()["allowed"])

        assert allowed()
        st = file(db.engine, catalogue, now - dt.timedelta(days=60), external_id="LATE-1", subject_id=subject)
        _file_some(db, catalogue, now, 4, first=40)  # organisations with links too, after the snapshot
        assert publish(db, *nats_stream) >= 5
        until(lambda: not allowed(), "the filing to reach the node")
        with db.engine.begin() as conn:
            revoke(conn, st.id, "quashed", "test", now)
        publish(db, *nats_stream)
        until(allowed, "the revocation to reach the node")
        until(lambda: node.state.live.last_seq == Checker(db.engine, catalogue).last_seq, "every event")
        _index_is_the_store(db, catalogue, node)
        _same_answers(api, node, [subject, person_id(40), org_id(41), person_id(541)], [AIR], seed=2)
        assert node.metric('socialcredit_node_messages_total{outcome="applied"}') >= 6


def test_a_replayed_or_duplicated_message_changes_nothing(
    db: Database, catalogue: Catalogue, now: dt.datetime, tmp_path: Path, nats_stream: tuple[str, str]
) -> None:
    snap = _snapshot(db, catalogue, tmp_path)
    subject = person_id(778)
    st = file(db.engine, catalogue, now - dt.timedelta(days=60), external_id="DUP-1", subject_id=subject)
    with db.engine.begin() as conn:
        revoke(conn, st.id, "quashed", "test", now)
    stream, prefix = nats_stream
    with running_node(db, catalogue, snap, tmp_path, nats_stream) as node:
        publish(db, stream, prefix)
        until(lambda: node.state.live.last_seq == 2, "both events")
        until(node.ready, "the node to be ready")
        before = node.state.live.checker.index.dump()
        # The filing again, after its revocation: a replay from the start of the stream (the duplicate window
        # is over, so JetStream stores it), and the revocation twice.
        kind, body = body_of_event(db, 1)
        publish_raw(f"{prefix}.{kind}", body, "1")
        kind2, body2 = body_of_event(db, 2)
        publish_raw(f"{prefix}.{kind2}", body2, "2")
        until(
            lambda: node.metric('socialcredit_node_messages_total{outcome="duplicate"}') >= 2, "the replays"
        )
        assert node.state.live.last_seq == 2 and node.state.live.checker.index.dump() == before
        assert node.metric('socialcredit_node_messages_total{outcome="applied"}') == 2
        assert node.ready()
        _index_is_the_store(db, catalogue, node)


def test_a_snapshot_older_than_the_stream_keeps_resyncs_from_the_store(
    db: Database, catalogue: Catalogue, now: dt.datetime, tmp_path: Path, nats_stream: tuple[str, str]
) -> None:
    stream, prefix = nats_stream
    snap = _snapshot(db, catalogue, tmp_path)  # seq 0
    _file_some(db, catalogue, now, 3)
    publish(db, stream, prefix)
    js(lambda j: j.delete_msg(stream, 1))  # event 1 is no longer in the stream
    with running_node(db, catalogue, snap, tmp_path, nats_stream) as node:
        until(node.ready, "the node to re-sync and be ready")
        assert node.state.live.source.startswith("the store")
        reasons = [r for _, ready, r in node.state.history if not ready]
        assert any("events 1 to 1 are not in the stream" in r for r in reasons), reasons
        assert node.metric('socialcredit_node_resyncs_total{source="store"}') == 1
        _index_is_the_store(db, catalogue, node)


def test_a_message_lost_mid_stream_resyncs_from_the_store(
    db: Database, catalogue: Catalogue, now: dt.datetime, tmp_path: Path, nats_stream: tuple[str, str]
) -> None:
    _stream, prefix = nats_stream
    _file_some(db, catalogue, now, 2)
    with ready_node(db, catalogue, tmp_path, nats_stream) as node:
        subject = person_id(779)
        file(db.engine, catalogue, now - dt.timedelta(days=60), external_id="LOST-1", subject_id=subject)
        file(
            db.engine, catalogue, now - dt.timedelta(days=60), external_id="LOST-2", subject_id=person_id(780)
        )
        kind, body = body_of_event(db, 4)  # only event 4 is published: event 3 never reaches the stream
        publish_raw(f"{prefix}.{kind}", body, "4")
        until(lambda: node.state.live.last_seq == 4, "the re-sync")
        until(node.ready, "the node to be ready again")
        assert any("events 3 to 3 are not in the stream" in r for _, ok, r in node.state.history if not ok)
        assert node.state.live.source.startswith("the store")
        _index_is_the_store(db, catalogue, node)
        headers = _checkpoint(db, catalogue)  # a new key: on the node within its key refresh
        r = until(
            lambda: (
                (
                    x := node.client.post(
                        "/v1/checks", json={"subject": subject, "action": AIR}, headers=headers
                    )
                ).status_code
                == 200
                and x
            ),
            "the new key on the node",
        )
        assert r.json()["allowed"] is False  # event 3, from the store


def _checkpoint(db: Database, catalogue: Catalogue) -> dict[str, str]:
    from socialcredit.keys import create_key

    with db.engine.begin() as conn:
        token = create_key(conn, "checkpoint", catalogue, dt.datetime.now(dt.UTC), actions=["transport.air"])[
            1
        ]
    return {"Authorization": f"Bearer {token}", "X-Purpose": "boarding check"}


def test_non_record_messages_are_skipped_and_an_unreadable_event_is_never_applied(
    db: Database, catalogue: Catalogue, now: dt.datetime, tmp_path: Path, nats_stream: tuple[str, str]
) -> None:
    stream, prefix = nats_stream
    subject = person_id(781)
    with ready_node(db, catalogue, tmp_path, nats_stream) as node:
        publish_raw(f"{prefix}.grade.changed", b'{"subject_id": "x", "grade": "A"}', "grade:1:2026")
        publish_raw(f"{prefix}.grade.changed", b"{}", None)
        until(
            lambda: node.metric('socialcredit_node_messages_total{outcome="not_a_record_event"}') >= 2,
            "skips",
        )
        assert node.ready() and node.state.live.last_seq == 0
        # A record event of a type this version does not know, claiming the next seq (the store has no such
        # event): not applied, the node re-syncs and stays not ready; its answers stay the store's.
        st = file(db.engine, catalogue, now - dt.timedelta(days=60), external_id="UNK-1", subject_id=subject)
        _, body = body_of_event(db, 1)
        with db.engine.begin() as conn:
            revoke(
                conn, st.id, "quashed", "test", now
            )  # event 2, which the forged message below claims to be
        publish_raw(f"{prefix}.transferred", body.replace(b'"filed"', b'"transferred"'), "1")
        until(
            lambda: node.metric('socialcredit_node_messages_total{outcome="unreadable"}') >= 1, "the refusal"
        )
        until(lambda: node.state.live.source.startswith("the store"), "the re-sync")
        _index_is_the_store(db, catalogue, node)
        publish(db, stream, prefix)  # the real events 1 and 2: duplicates of what the store gave
        until(node.ready, "ready again")
        assert node.state.live.last_seq == 2


def test_not_ready_without_the_stream_and_lag_on_metrics(
    db: Database, catalogue: Catalogue, tmp_path: Path
) -> None:
    snap = _snapshot(db, catalogue, tmp_path)
    with running_node(
        db,
        catalogue,
        snap,
        tmp_path,
        ("NOSUCH", "nosuch"),
        url="nats://127.0.0.1:1",
        node_max_lag_seconds=0.5,
    ) as node:
        r = node.client.get("/readyz")
        assert r.status_code == 503 and r.json()["reason"].startswith("not yet following the stream")
        until(lambda: "(" in node.client.get("/readyz").json()["reason"], "the reason why")
        text = node.client.get("/metrics").text
        for name in (
            "socialcredit_node_lag_events",
            "socialcredit_node_lag_seconds",
            "socialcredit_node_ready 0.0",
        ):
            assert name in text
        assert node.client.get("/healthz").json()["last_seq"] == 0


def test_node_serve_refuses_a_snapshot_of_another_catalogue_or_a_corrupt_one(
    db: Database, catalogue: Catalogue, now: dt.datetime, tmp_path: Path
) -> None:
    _file_some(db, catalogue, now, 2)
    other = tmp_path / "other.snap"
    create_snapshot(db.engine, red_catalogue(tmp_path), other)
    result = runner.invoke(cli, ["node", "serve", "--snapshot", str(other), "--nats", "nats://127.0.0.1:1"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: snapshot refused: ") and "made with catalogue" in result.stderr
    bad = tmp_path / "bad.snap"
    good = _snapshot(db, catalogue, tmp_path)
    data = bytearray(good.read_bytes())
    data[-40] ^= 0xFF
    bad.write_bytes(bytes(data))
    result = runner.invoke(cli, ["node", "serve", "--snapshot", str(bad), "--nats", "nats://127.0.0.1:1"])
    assert result.exit_code == 2 and "checksum" in result.stderr, result.output
    result = runner.invoke(cli, ["node", "serve", "--snapshot", str(tmp_path / "none"), "--nats", "x"])
    assert result.exit_code == 3


def test_a_node_answers_graded_checks_as_the_api_server(
    db: Database,
    catalogue: Catalogue,
    now: dt.datetime,
    tmp_path: Path,
    api: Api,
    nats_stream: tuple[str, str],
) -> None:
    # Decision 1003 "Every path": a node's Checker grades from the store as the server's does, single and batch.
    a_firm, c_firm, d_firm = org_id(951), org_id(952), org_id(953)
    file_decisions(
        db.engine,
        catalogue,
        now,
        [
            ("sta", "tax.major_violation", "g-1", a_firm, "2016-01-01"),
            ("sta", "tax.major_violation", "g-2", c_firm, "2026-11-01"),
            ("sta", "tax.major_violation", "g-3", d_firm, "2026-11-01"),
            ("court", "court.judgment_defaulter", "g-4", d_firm, "2026-11-01"),
        ],
    )
    api.client.app.state.sc.checker.refresh()  # the server's index was built before these filings
    queries = [(s, a) for a in ("inspection.random", AIR) for s in (a_firm, c_firm, d_firm, org_id(954))]
    with ready_node(db, catalogue, tmp_path, nats_stream) as node:
        for role in ("registrar", "registrar_other"):
            headers = api.headers(role)
            for s, action in queries:
                body = {"subject": s, "action": action, "at": "2026-12-01"}
                a = api.client.post("/v1/checks", json=body, headers=headers)
                b = node.client.post("/v1/checks", json=body, headers=headers)
                assert (b.status_code, _strip(b.json())) == (a.status_code, _strip(a.json())), (s, action)
            batch = {"queries": [{"subject": s, "action": x} for s, x in queries], "at": "2026-12-01"}
            a = api.client.post("/v1/checks/batch", json=batch, headers=headers)
            b = node.client.post("/v1/checks/batch", json=batch, headers=headers)
            assert (b.status_code, _strip(b.json())) == (a.status_code, _strip(a.json()))
            grades = [
                r["grade"]["grade"] for d in b.json()["decisions"] for r in d["reasons"] if "grade" in r
            ]
            assert grades == ["A", "C", "D"]


def test_a_full_audit_buffer_refuses_checks_with_retry_after_until_it_drains(
    db: Database,
    catalogue: Catalogue,
    tmp_path: Path,
    private_nats: PrivateNats,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    snap = _snapshot(db, catalogue, tmp_path)
    headers = _checkpoint(db, catalogue)
    check = {"subject": person_id(790), "action": AIR}
    with running_node(
        db, catalogue, snap, tmp_path, None, audit_url=private_nats.url, node_audit_buffer_limit=3
    ) as node:

        def status() -> int:
            return node.client.post("/v1/checks", json=check, headers=headers).status_code

        assert status() == 200 and node.audit.acked_seq == 1
        private_nats.stop()
        wait_for(lambda: not node.audit.connected, 10, "the node to see its audit server gone")
        assert [status() for _ in range(3)] == [200, 200, 200], "answered from the buffer"
        assert node.audit.buffered == 3
        refused = node.client.post("/v1/checks", json=check, headers=headers)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert problem["status"] == 503 and problem["type"].endswith("/unavailable")
        assert "audit buffer is full (3 entries)" in problem["detail"] and "retry in 1 s" in problem["detail"]
        assert "allowed" not in problem, "never an unaudited answer"
        private_nats.start()
        wait_for(lambda: node.audit.buffered == 0, 20, "the buffer to drain once the server is back")
        assert status() == 200 and node.audit.acked_seq == 5
        node_id, keys = node.audit.node, node.audit.state_dir
        stream = node.audit_stream
    # The node is closed (its last head signed): the sink stores its chain, and the nodes' verify passes.
    monkeypatch.setenv("SOCIALCREDIT_NODE_AUDIT_STREAM", stream.name)
    monkeypatch.setenv("SOCIALCREDIT_NODE_AUDIT_SUBJECT_PREFIX", stream.prefix)
    get_settings.cache_clear()  # read before (creating the key): the command must see the variables above
    got = runner.invoke(cli, ["audit", "sink", "--nats", stream.url, "--idle-exit", "0.5"])
    assert got.exit_code == 0 and "5 entries and 1 signed heads" in got.output, got.output
    (chain,) = verify_with(db.engine, keys)
    assert (chain.node, chain.checked, chain.ok, chain.missing) == (node_id, 5, True, []), chain.problems
    assert chain.anchor is not None and chain.anchor.covered == 5


def test_node_serve_refuses_a_name_that_is_no_node_id(
    db: Database, catalogue: Catalogue, tmp_path: Path
) -> None:
    snap = _snapshot(db, catalogue, tmp_path)
    args = ["node", "serve", "--snapshot", str(snap), "--nats", "nats://127.0.0.1:1", "--name", "node.a"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 2 and "--name 'node.a': a node id is 1 to 64 letters" in result.stderr


def test_the_default_node_name_is_a_node_id_whatever_the_host_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from socialcredit.node.chain import NODE_ID
    from socialcredit.node.serve import default_name

    monkeypatch.setattr("socket.gethostname", lambda: "web-1.eu.example.com")
    assert default_name(8100) == "node-web-1-eu-example-com-8100"
    monkeypatch.setattr("socket.gethostname", lambda: "h" * 200)
    assert NODE_ID.fullmatch(default_name(65535))
