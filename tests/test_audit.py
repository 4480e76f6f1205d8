"""The hash-chained audit log: appends chain; verify names the first edited, deleted or reordered entry."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from socialcredit import audit
from socialcredit.audit import AuditEntry
from socialcredit.cli import app
from socialcredit.store import Database
from socialcredit.store.tables import audit_log


def _fill(db: Database, n: int = 6) -> None:
    now = dt.datetime(2026, 11, 20, 4, 0, 0, 123456, tzinfo=dt.UTC)
    with db.engine.begin() as conn:
        audit.append(
            conn,
            [
                AuditEntry(
                    f"k{i}",
                    "checkpoint",
                    "checks.single",
                    f"11010519800101{i:04d}",
                    "allowed",
                    "boarding 登机",
                )
                for i in range(n)
            ],
            now,
        )


def test_appends_chain_and_verify(db: Database) -> None:
    with db.engine.connect() as conn:
        assert audit.verify(conn).ok and audit.verify(conn).checked == 0
    _fill(db)
    with db.engine.begin() as conn:
        assert audit.append(
            conn, [AuditEntry("cli", "admin", "keys.create", "key:x", "created")], dt.datetime.now(dt.UTC)
        ) == [7]
    with db.engine.connect() as conn:
        result = audit.verify(conn, batch=4)  # crosses a batch boundary
        rows = conn.execute(select(audit_log).order_by(audit_log.c.seq)).all()
    assert result.ok and result.checked == 7 and result.head_hash == rows[-1].hash
    assert rows[0].prev_hash == audit.GENESIS and all(
        b.prev_hash == a.hash for a, b in itertools.pairwise(rows)
    )


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("actor", "someone else"),
        ("target", "11010519800101XXXX"),
        ("purpose", None),
        ("outcome", "denied"),
        ("at", dt.datetime(2026, 11, 20, 4, 0, 1, tzinfo=dt.UTC)),
        ("hash", "0" * 64),
    ],
)
def test_verify_names_an_edited_entry(db: Database, column: str, value: object) -> None:
    _fill(db)
    with db.engine.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == 4).values({column: value}))
    with db.engine.connect() as conn:
        result = audit.verify(conn)
    assert not result.ok and result.first_bad_seq == 4 and result.checked == 3


def test_verify_names_a_deleted_entry(db: Database) -> None:
    _fill(db)
    with db.engine.begin() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.seq == 3))
    with db.engine.connect() as conn:
        result = audit.verify(conn)
    assert not result.ok and result.first_bad_seq == 4 and "entry 3 is missing" in str(result.reason)


def test_verify_names_the_first_deleted_entry_when_renumbered(db: Database) -> None:
    _fill(db)
    with db.engine.begin() as conn:  # delete 3 and close the gap, as a careful forger would
        conn.execute(delete(audit_log).where(audit_log.c.seq == 3))
        for seq in (4, 5, 6):
            conn.execute(update(audit_log).where(audit_log.c.seq == seq).values(seq=seq - 1))
    with db.engine.connect() as conn:
        result = audit.verify(conn)
    assert not result.ok and result.first_bad_seq == 3


def test_verify_names_reordered_entries(db: Database) -> None:
    _fill(db)
    with db.engine.begin() as conn:  # swap entries 2 and 5 (every column but seq)
        rows = {r.seq: r for r in conn.execute(select(audit_log).where(audit_log.c.seq.in_([2, 5])))}
        for a, b in ((2, 5), (5, 2)):
            values = {k: v for k, v in rows[b]._mapping.items() if k != "seq"}
            conn.execute(update(audit_log).where(audit_log.c.seq == a).values(values))
    with db.engine.connect() as conn:
        result = audit.verify(conn)
    assert not result.ok and result.first_bad_seq == 2


def test_cli_verify_exit_codes(db: Database) -> None:
    _fill(db)
    audit.WITNESS.take(db.engine.url)  # as if written by a process that never signed a head
    runner = CliRunner()
    unanchored = runner.invoke(app, ["audit", "verify"])  # a holding chain is not called intact unanchored
    assert unanchored.exit_code == 1 and "unanchored" in unanchored.output
    adopted = runner.invoke(app, ["audit", "anchor", "--adopt"])
    assert adopted.exit_code == 0, adopted.output
    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0 and "intact: 6 entries" in ok.output
    shown = runner.invoke(app, ["audit", "show", "--limit", "2"])
    assert shown.exit_code == 0 and len(shown.output.strip().splitlines()) == 2
    with db.engine.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == 5).values(outcome="denied"))
    bad = runner.invoke(app, ["audit", "verify"])
    assert bad.exit_code == 1 and "broken at seq 5" in bad.output


def test_query_filters(db: Database) -> None:
    _fill(db)
    with db.engine.connect() as conn:
        assert [r["seq"] for r in audit.query(conn, actor="k2")] == [3]
        assert [r["seq"] for r in audit.query(conn, target="0101000", after=1, limit=2)] == [2, 3]
        assert list(audit.query(conn, target="%")) == []
