"""Alembic migrations: upgrading an empty database yields exactly the tables the code declares.

Covers whatever revisions exist (each area adds its own); runs on SQLite and, when configured, PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

import socialcredit.store.tables  # noqa: F401  (registers every area's tables)
from conftest import BACKENDS, PG_URL, pg_url_for
from socialcredit.store import connect, metadata, upgrade
from socialcredit.store import database as store_database


@pytest.fixture(params=BACKENDS)
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path, worker_id: str) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = connect(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    schema = f"scmig_{worker_id}"
    admin = connect(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine = connect(pg_url_for(schema))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


def test_upgrade_from_empty_matches_the_metadata(empty_engine: Engine) -> None:
    assert inspect(empty_engine).get_table_names() == []
    upgrade(empty_engine)
    with empty_engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
        diff = compare_metadata(ctx, metadata)
    assert diff == [], "migrations and tables disagree:\n" + "\n".join(map(str, diff))
    upgrade(empty_engine)  # idempotent at head


def test_revisions_form_one_linear_chain() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(store_database.__file__).parent / "migrations"))
    script = ScriptDirectory.from_config(cfg)
    assert len(script.get_heads()) == 1, f"several heads: {script.get_heads()}"
    revs = list(script.walk_revisions())
    assert revs[-1].revision == "0001" and revs[-1].down_revision is None
    assert all(not isinstance(r.down_revision, tuple) for r in revs)


def _migrate(engine: Engine, fn: str, revision: str) -> None:
    from alembic import command

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(store_database.__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, fn)(cfg, revision)


def test_outbox_payload_moves_from_the_table_to_the_event_and_back(empty_engine: Engine) -> None:
    """0004 drops the stored payload: the feed then derives, from the event, the very bytes that were stored
    (what webhook signatures and receivers' deduplication rely on); downgrading writes them back."""
    import datetime as dt
    import json

    import sqlalchemy as sa

    from socialcredit.feed.reader import read_after
    from socialcredit.registry.state import RecordState
    from socialcredit.registry.writer import event_payload

    _migrate(empty_engine, "upgrade", "0003")
    at = dt.datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=dt.UTC)
    start = dt.datetime(2026, 2, 28, 16, tzinfo=dt.UTC)
    state = RecordState(
        id=7, authority="court", external_id="E-7", category="court.judgment_defaulter",
        subject_id="91110105MA01ABCD1X", subject_name="北京示例有限公司", decision_no="(2026)京0105执7号",
        decided_on=dt.date(2026, 3, 1), effective_from=start, effective_until=None, legal_basis="法释〔2017〕7号",
        summary="", legal_representative_id="110105195001010004", legal_representative_name="张三",
        actual_controller_id=None, actual_controller_name=None, status="revoked", applies_from=start,
        ended_at=at, filed_at=at, content_hash="ab" * 32,
    )  # fmt: skip
    # The state as 0003's writer stored it: every key, nulls included.
    full = {f: getattr(state, f) for f in RecordState.__dataclass_fields__}
    full |= {k: v.isoformat() for k, v in full.items() if isinstance(v, dt.date)}
    full["suspensions"] = []
    text_0003 = json.dumps(full, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert RecordState.from_json(text_0003) == state
    stored = {
        seq: event_payload(seq, t, state, at, r) for seq, t, r in ((1, "filed", None), (2, "revoked", "错"))
    }
    events = sa.table(
        "record_events",
        *map(sa.column, ("seq", "record_id", "type", "recorded_at", "actor", "reason", "state")),
    )
    box = sa.table(
        "outbox", *map(sa.column, ("event_seq", "record_id", "type", "subject_ids", "payload", "created_at"))
    )
    naive = at.replace(tzinfo=None)
    with empty_engine.begin() as conn:
        for seq, type_, reason in ((1, "filed", None), (2, "revoked", "错")):
            common = {"record_id": 7, "type": type_}
            conn.execute(
                sa.insert(events).values(
                    seq=seq, recorded_at=naive, actor="t", reason=reason, state=text_0003, **common
                )
            )
            conn.execute(
                sa.insert(box).values(
                    event_seq=seq, created_at=naive, subject_ids='["x"]', payload=stored[seq], **common
                )
            )
    _migrate(empty_engine, "upgrade", "head")
    assert "payload" not in {c["name"] for c in inspect(empty_engine).get_columns("outbox")}
    with empty_engine.connect() as conn:
        page = read_after(conn, 0)
    assert {e.event_id: e.payload for e in page.events} == stored
    _migrate(empty_engine, "downgrade", "0003")
    with empty_engine.connect() as conn:
        back = dict(conn.execute(sa.text("SELECT event_seq, payload FROM outbox")).all())
    assert back == stored
    _migrate(empty_engine, "upgrade", "head")


def test_0004_refuses_a_payload_its_event_does_not_give_and_downgrades_new_states(
    empty_engine: Engine,
) -> None:
    """Upgrading stops, changing nothing, at a stored payload that says something its event does not (a zone's
    notation of the same instant is no difference); downgrading rewrites states stored since 0004 in the form
    0003's code reads (every key present)."""
    import datetime as dt
    import json

    import sqlalchemy as sa

    from socialcredit.catalogue import default_catalogue
    from socialcredit.registry import check_row, file_batch
    from socialcredit.registry.state import RecordState
    from socialcredit.registry.writer import _state, event_payload

    _migrate(empty_engine, "upgrade", "0003")
    cat = default_catalogue()
    at = dt.datetime(2026, 3, 1, 8, 30, tzinfo=dt.UTC)
    f = check_row(
        {
            "external_id": "Z-1", "authority": "court", "category": "court.judgment_defaulter",
            "subject_id": "110105195001010004", "subject_name": "张三", "decision_no": "(2026)京0105执1号",
            "decided_on": "2026-02-27",
        },
        cat,
        at,
    )  # fmt: skip
    state = _state(f, 1, at, cat)
    full = json.loads(state.to_json())
    full = {**dict.fromkeys(("actual_controller_id", "actual_controller_name", "ended_at")), **full}
    full |= {"legal_representative_id": None, "legal_representative_name": None, "suspensions": []}
    text_0003 = json.dumps(full, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    beijing = dt.timezone(dt.timedelta(hours=8))
    # Every instant of the payload in Beijing's notation, as a caller with a +08:00 clock had it written.
    local = state.with_(applies_from=state.applies_from.astimezone(beijing))
    in_beijing = event_payload(1, "filed", local, at.astimezone(beijing), None)
    assert in_beijing.count("+08:00") == 2 and in_beijing != event_payload(1, "filed", state, at, None)
    with empty_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO record_events (seq, record_id, type, recorded_at, actor, reason, state) "
                "VALUES (1, 1, 'filed', :at, 't', NULL, :state)"
            ),
            {"at": at.replace(tzinfo=None), "state": text_0003},
        )
        conn.execute(
            sa.text(
                "INSERT INTO outbox (event_seq, record_id, type, subject_ids, payload, created_at) "
                "VALUES (1, 1, 'filed', '[]', :p, :at)"
            ),
            {
                "p": in_beijing.replace('"status": "filed"', '"status": "revoked"'),
                "at": at.replace(tzinfo=None),
            },
        )
    with pytest.raises(RuntimeError, match="payload of event 1 differs from its event"):
        _migrate(empty_engine, "upgrade", "head")
    assert "payload" in {c["name"] for c in inspect(empty_engine).get_columns("outbox")}
    with empty_engine.begin() as conn:
        conn.execute(sa.text("UPDATE outbox SET payload = :p"), {"p": in_beijing})
        conn.execute(
            sa.text(
                "INSERT INTO outbox (event_seq, record_id, type, subject_ids, payload, created_at) "
                "VALUES (9, 1, 'filed', '[]', '{}', :at)"
            ),
            {"at": at.replace(tzinfo=None)},
        )
    with pytest.raises(RuntimeError, match="outbox row of event 9 has no event"):
        _migrate(empty_engine, "upgrade", "head")
    with empty_engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM outbox WHERE event_seq = 9"))
    _migrate(empty_engine, "upgrade", "head")  # the same instants in Beijing's notation: derivable
    with empty_engine.begin() as conn:
        g = check_row(_row2(), cat, at)
        file_batch(conn, [g], cat, "t", at)
        new_form = conn.execute(sa.text("SELECT state FROM record_events WHERE seq = 2")).scalar_one()
    assert "ended_at" not in json.loads(new_form)
    _migrate(empty_engine, "downgrade", "0003")
    with empty_engine.connect() as conn:
        states = dict(conn.execute(sa.text("SELECT seq, state FROM record_events")).all())
        payloads = dict(conn.execute(sa.text("SELECT event_seq, payload FROM outbox")).all())
    fields = set(RecordState.__dataclass_fields__) - {"term_days"}  # term_days came after 0003
    assert all(set(json.loads(s)) == fields for s in states.values())  # 0003's from_json reads every key
    assert states[1] == text_0003  # stored in the earlier form already: untouched
    assert RecordState.from_json(states[2]) == RecordState.from_json(new_form)
    assert json.loads(payloads[2])["event_id"] == 2
    _migrate(empty_engine, "upgrade", "head")


def _row2() -> dict[str, str]:
    return {
        "external_id": "Z-2", "authority": "court", "category": "court.judgment_defaulter",
        "subject_id": "110105195001010012", "subject_name": "李四", "decision_no": "(2026)京0105执2号",
        "decided_on": "2026-02-27",
    }  # fmt: skip
