"""Signed audit heads in operation: the server publishes them (start, every minute, shutdown), a CLI command
that appended publishes one as it ends, NATS holds a copy, and ``audit anchor --adopt`` anchors an old log."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, func, select
from typer.testing import CliRunner

from factories import person_id
from nats_server import NATS_URL, require_nats
from socialcredit import audit
from socialcredit.anchor import Anchor, anchor_paths, check_heads, load_public_key, parse_head
from socialcredit.anchor.heads import parse_heads
from socialcredit.anchor.publisher import read_nats_heads
from socialcredit.catalogue import Catalogue
from socialcredit.cli import app
from socialcredit.settings import get_settings
from socialcredit.store import Database
from socialcredit.store.tables import audit_log
from test_api_helpers import serve

ENTRY = audit.AuditEntry("cli", "admin", "keys.create", "key:a", "created")


def _verify() -> tuple[int, dict[str, object], str]:
    result = CliRunner().invoke(app, ["audit", "verify", "--json"])
    return result.exit_code, json.loads(result.stdout), result.output


def _lines(db: Database) -> list[str]:
    return anchor_paths(get_settings(), db.engine.url).heads.read_text().splitlines()


def test_the_server_covers_what_it_appended_every_tick_and_on_shutdown(
    db: Database, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOCIALCREDIT_AUDIT_HEAD_EVERY", "0.1")
    audit.WITNESS.take(db.engine.url)
    api_gen = serve(db, catalogue)
    api = next(api_gen)
    assert len(_lines(db)) == 1  # the head at startup
    for i in range(3):
        resp = api.client.get(f"/v1/subjects/{person_id(20 + i)}", headers=api.headers("registrar"))
        assert resp.status_code in (200, 404)
    deadline = time.monotonic() + 5
    while '"covers":[]' in _lines(db)[-1] and time.monotonic() < deadline:  # a tick's head covers them
        time.sleep(0.05)
    assert '"covers":[]' not in _lines(db)[-1]
    with pytest.raises(StopIteration):
        next(api_gen)  # shutdown: a last head
    with db.engine.connect() as conn:
        n = int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())
    code, out, text = _verify()
    assert code == 0 and n >= 3 and out["anchor"]["covered"] == n, text  # type: ignore[index]
    with db.engine.begin() as conn:  # what the server wrote cannot be cut off afterwards
        conn.execute(delete(audit_log).where(audit_log.c.seq == n))
    code, out, _ = _verify()
    assert code == 1 and out["first_bad_seq"] == n


def test_a_cli_command_that_appends_publishes_a_head(db: Database) -> None:
    audit.WITNESS.take(db.engine.url)
    made = CliRunner().invoke(app, ["keys", "create", "--role", "auditor"])
    assert made.exit_code == 0, made.output
    head = json.loads(_lines(db)[-1])
    assert head["covers"] == [[1, 1]] and head["seq"] == 1 and head["seen"] == 1
    assert _verify()[0] == 0


def test_adopt_anchors_an_existing_log_and_refuses_a_broken_one(db: Database) -> None:
    with db.engine.begin() as conn:
        audit.append(conn, [ENTRY], dt.datetime.now(dt.UTC))
    audit.WITNESS.take(db.engine.url)  # written before anchoring existed
    runner = CliRunner()
    signed = runner.invoke(app, ["audit", "anchor"])  # vouches for nothing it did not write
    assert signed.exit_code == 0 and json.loads(signed.stdout)["covers"] == []
    assert runner.invoke(app, ["audit", "anchor", "--adopt"]).exit_code == 0
    assert _verify()[0] == 0
    with db.engine.begin() as conn:
        conn.execute(delete(audit_log))
    refused = runner.invoke(app, ["audit", "anchor", "--adopt"])  # never blesses a removal
    assert refused.exit_code == 1 and "nothing signed" in refused.output


@pytest.fixture
def nats_names() -> Iterator[tuple[str, str]]:
    require_nats()
    tag = secrets.token_hex(4)
    stream = f"SCTEST_AUDIT_{tag}"
    yield stream, f"sctest.{tag}.audit.heads"

    async def drop() -> None:
        import nats

        nc = await nats.connect(NATS_URL)
        try:
            await nc.jetstream().delete_stream(stream)
        finally:
            await nc.close()

    asyncio.run(drop())


def test_heads_reach_nats_jetstream_and_verify_there(db: Database, nats_names: tuple[str, str]) -> None:
    stream, subject = nats_names
    audit.WITNESS.take(db.engine.url)
    anchor = Anchor.open(db.engine, get_settings())
    anchor.nats_url, anchor.nats_stream, anchor.nats_subject = NATS_URL, stream, subject
    with db.engine.begin() as conn:
        audit.append(conn, [ENTRY], dt.datetime.now(dt.UTC))
    first = anchor.publish(dt.datetime.now(dt.UTC))
    second = anchor.publish(dt.datetime.now(dt.UTC))
    lines = read_nats_heads(NATS_URL, stream=stream, subject=subject)
    public = load_public_key(anchor_paths(get_settings(), db.engine.url).key)
    assert [parse_head(line, public) for line in lines] == [first, second]
    heads, refused = parse_heads(lines, public, "nats")
    with db.engine.begin() as conn:
        conn.execute(delete(audit_log))  # the file could be lost too: NATS alone shows the removal
        result = check_heads(conn, 0, heads, refused)
    assert not result.ok and result.first_bad_seq == 1


def test_key_and_heads_default_to_one_pair_per_database() -> None:
    from socialcredit.settings import Settings

    unset = {"audit_key_file": None, "audit_heads_file": None}
    sqlite = anchor_paths(Settings(database_url="sqlite:////srv/reg/registry.db", **unset))  # type: ignore[arg-type]
    assert str(sqlite.key) == "/srv/reg/registry.audit-key"
    assert str(sqlite.heads) == "/srv/reg/registry.audit-heads.jsonl"
    pg = anchor_paths(Settings(database_url="postgresql+psycopg://u@h:5432/registry", **unset))  # type: ignore[arg-type]
    assert (str(pg.key), str(pg.heads)) == ("var/registry.audit-key", "var/registry.audit-heads.jsonl")
    set_ = anchor_paths(
        Settings(audit_key_file="/etc/sc/audit.key", audit_heads_file="/var/lib/sc/heads.jsonl")
    )
    assert (str(set_.key), str(set_.heads)) == ("/etc/sc/audit.key", "/var/lib/sc/heads.jsonl")
