"""SOCIALCREDIT_NATS_STREAM and SOCIALCREDIT_NATS_SUBJECT_PREFIX (decision 1121): two registries on one NATS
server, each with its own stream and prefix, stay apart: ``dispatch run`` publishes each registry's events to its
own stream only, and a node reading the same settings follows its registry's stream and ends with that
registry's index. A stream whose subjects another registry's stream holds, or a stream of other subjects, is
refused with the reason and the setting to change; a bad value is refused naming the setting. The first
registry is the ``db`` fixture (both stores), the second an SQLite file."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from factories import person_id
from nats_server import NATS_URL, require_nats
from node_helpers import js, running_node, until
from socialcredit.catalogue import Catalogue
from socialcredit.cli import app as cli
from socialcredit.engine import Checker
from socialcredit.node import create_snapshot
from socialcredit.settings import Settings, get_settings
from socialcredit.store import Database, upgrade
from test_engine_support import file

runner = CliRunner()


@pytest.fixture
def feeds() -> Iterator[dict[str, tuple[str, str]]]:
    """Two (stream, prefix) pairs unique to the test, made by the dispatchers; deleted after."""
    require_nats()
    tag = uuid.uuid4().hex[:8]
    pairs = {r: (f"REGTEST_{r}_{tag}", f"regtest.{tag}.{r.lower()}") for r in ("A", "B")}
    yield pairs
    for stream, _ in pairs.values():
        with contextlib.suppress(Exception):
            js(lambda j, s=stream: j.delete_stream(s))


def _dispatch(monkeypatch: pytest.MonkeyPatch, db: Database, tmp_path: Path, stream: str, prefix: str) -> Any:
    """``dispatch run --once`` on ``db`` with the two settings, as an operator's environment gives them."""
    url = db.engine.url.render_as_string(hide_password=False)
    for name, value in {
        "DATABASE_URL": url,
        "NATS_URL": NATS_URL,
        "NATS_STREAM": stream,
        "NATS_SUBJECT_PREFIX": prefix,
        "AUDIT_KEY_FILE": str(tmp_path / f"{stream}.audit-key"),  # one key a database
    }.items():
        monkeypatch.setenv(f"SOCIALCREDIT_{name}", value)
    get_settings.cache_clear()
    try:
        return runner.invoke(cli, ["dispatch", "run", "--once", "--no-expire", "--no-grades"])
    finally:
        get_settings.cache_clear()


def _messages(stream: str) -> list[tuple[str, str, str]]:
    """(subject, Nats-Msg-Id, subject id of the body) of every message in ``stream``, in order."""

    async def read(j: Any) -> list[tuple[str, str, str]]:
        info = await j.stream_info(stream)
        out = []
        for seq in range(int(info.state.first_seq), int(info.state.last_seq) + 1):
            msg = await j.get_msg(stream, seq)
            out.append((msg.subject, msg.headers["Nats-Msg-Id"], json.loads(msg.data)["subject_id"]))
        return out

    return list(js(read))


def test_two_stream_names_keep_two_registries_apart(
    db: Database,
    catalogue: Catalogue,
    now: dt.datetime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    feeds: dict[str, tuple[str, str]],
) -> None:
    other = Database.open(f"sqlite:///{tmp_path / 'registry-b.db'}")
    upgrade(other.engine)
    filed = {"A": [person_id(701), person_id(702)], "B": [person_id(711), person_id(712), person_id(713)]}
    registries = {"A": db, "B": other}
    for r, subjects in filed.items():
        for n, subject in enumerate(subjects):
            file(registries[r].engine, catalogue, now, external_id=f"{r}-{n}", subject_id=subject)
    snaps = {}
    for r, reg in registries.items():
        snaps[r] = tmp_path / f"{r}.snap"
        create_snapshot(reg.engine, catalogue, snaps[r])  # at the registry's last seq
        late = person_id(730 + "AB".index(r))  # after the snapshot: the node applies it from the stream
        file(reg.engine, catalogue, now, external_id=f"{r}-late", subject_id=late)
        filed[r].append(late)

    for r, (stream, prefix) in feeds.items():
        got = _dispatch(monkeypatch, registries[r], tmp_path, stream, prefix)
        assert got.exit_code == 0, got.output
    for r, (stream, prefix) in feeds.items():
        # Each stream holds its registry's events, numbered from 1 in its own outbox, and no other's.
        want = [(f"{prefix}.filed", str(n), s) for n, s in enumerate(filed[r], start=1)]
        assert _messages(stream) == want

    for r, pair in feeds.items():
        reg = registries[r]
        with running_node(reg, catalogue, snaps[r], tmp_path / r, pair) as node:
            assert node.state.settings.nats_stream == pair[0]  # the node's feed is the setting
            fresh = Checker(reg.engine, catalogue)
            until(lambda: node.state.live.last_seq == fresh.last_seq, f"registry {r}'s last event")  # noqa: B023
            assert node.state.live.checker.index.dump() == fresh.index.dump()
            assert node.metric('socialcredit_node_messages_total{outcome="applied"}') == 1

    # A third name on the first registry's prefix: JetStream refuses the overlap; the round names the setting.
    got = _dispatch(monkeypatch, other, tmp_path, feeds["B"][0] + "_C", feeds["A"][1])
    assert got.exit_code == 2, got.output
    assert "FeedStreamRefused" in got.output and "SOCIALCREDIT_NATS_SUBJECT_PREFIX" in got.output, got.output
    # The first registry's stream named with the second's prefix: refused before anything is published.
    got = _dispatch(monkeypatch, other, tmp_path, feeds["A"][0], feeds["B"][1])
    assert got.exit_code == 2 and f"not {feeds['B'][1]}.>" in got.output, got.output
    assert _messages(feeds["A"][0]) == [
        (f"{feeds['A'][1]}.filed", str(n), s) for n, s in enumerate(filed["A"], start=1)
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("nats_stream", "A.B"),
        ("nats_stream", "has space"),
        ("nats_subject_prefix", "a.*"),
        ("nats_subject_prefix", "a..b"),
    ],
)
def test_a_stream_or_prefix_that_is_no_name_is_refused_naming_the_setting(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(**{field: value})
    assert field in str(caught.value) and repr(value).strip("'") in str(caught.value)
