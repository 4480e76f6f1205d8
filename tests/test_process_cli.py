"""The due-process and feed commands: JSON out, exit codes 0 / 1 / 2 / 3 with a one-line reason, nothing changed
on bad input."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from typer.testing import CliRunner, Result

from factories import person_id
from process_helpers import file, food_row, snapshot
from socialcredit.catalogue import Catalogue
from socialcredit.cli import app
from socialcredit.store import Database

runner = CliRunner()


def invoke(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def out(result: Result) -> object:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_objection_commands(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    rid = file(db, catalogue, now)
    at = now.isoformat()
    obj = out(invoke("objection", "file", rid, "--grounds", "I paid", "--counsel", "张律师", "--at", at))
    assert isinstance(obj, dict) and obj["status"] == "pending"
    overdue = invoke("objection", "list", "--overdue", "--at", (now + dt.timedelta(days=20)).isoformat())
    assert overdue.exit_code == 1 and json.loads(overdue.stdout)[0]["id"] == obj["id"]
    assert out(invoke("objection", "list", "--overdue", "--at", at)) == []
    with db.engine.connect() as conn:
        before = snapshot(conn)
        before_audit = before.pop(
            "audit_log"
        )  # refusals are audited (test_cli_audit.py), nothing else changes
    bad = invoke(
        "objection", "decide", obj["id"], "--outcome", "upheld", "--reason", "ok", "--correct", "status=x"
    )
    assert bad.exit_code == 2 and "correction.status" in bad.stderr
    wrong = invoke(
        "objection", "decide", obj["id"], "--outcome", "rejected", "--reason", "no", "--as", "samr"
    )
    assert wrong.exit_code == 2 and "authority court" in wrong.stderr
    assert invoke("objection", "file", 999, "--grounds", "x").exit_code == 3  # not found (decision 0700)
    with db.engine.connect() as conn:
        after = snapshot(conn)
        assert len(after.pop("audit_log")) == len(before_audit) + 3 and after == before
    done = out(invoke("objection", "decide", obj["id"], "--outcome", "upheld", "--reason", "typo",
                      "--correct", "subject_name=王芳芳", "--as", "court"))  # fmt: skip
    assert isinstance(done, dict) and done["remedy"] == "corrected"


def test_repair_fulfil_and_expire_commands(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    food = file(db, catalogue, now, _row=food_row())
    court = file(db, catalogue, now)
    req = out(invoke("repair", "request", food, "--evidence", "paid", "--commitment", "I commit"))
    assert isinstance(req, dict)
    recent = file(
        db,
        catalogue,
        now,
        _row=food_row(external_id="FD-2", subject_id=person_id(23), decided_on="2026-11-01"),
    )
    early = invoke("repair", "request", recent, "--evidence", "e", "--commitment", "c")
    assert early.exit_code == 2 and "repair may be asked for from 2027-11-01" in early.stderr
    done = out(invoke("repair", "decide", req["id"], "--approve", "--reason", "Order 36 met", "--as", "samr"))
    assert isinstance(done, dict) and done["status"] == "approved"
    assert [r["status"] for r in out(invoke("repair", "list", "--record", food))] == ["approved"]  # type: ignore[union-attr]
    assert out(invoke("fulfil", court, "--reason", "paid"))["status"] == "fulfilled"  # type: ignore[index]
    assert invoke("fulfil", court, "--reason", "paid").exit_code == 2
    assert out(invoke("expire", "run")) == {"expired": 0, "record_ids": []}


def test_feed_watchlist_and_monitor_commands(
    db: Database, catalogue: Catalogue, now: dt.datetime, tmp_path: Path
) -> None:
    rid = file(db, catalogue, now)
    page = out(invoke("feed", "show", "--after", "0"))
    assert isinstance(page, dict) and [e["record_id"] for e in page["events"]] == [rid]
    assert invoke("feed", "show", "--after", "x").exit_code == 2
    wl = out(invoke("watchlist", "create", "customers"))
    assert isinstance(wl, dict)
    ids = tmp_path / "ids.txt"
    ids.write_text(f"# customers\n{person_id(11)}\nnot-an-id\n", encoding="utf-8")
    bad = invoke("watchlist", "upload", wl["id"], ids)
    assert bad.exit_code == 2 and "ids.txt:3" in bad.stderr
    ids.write_text(f"{person_id(11)}\n{person_id(12)}\n", encoding="utf-8")
    assert out(invoke("watchlist", "upload", wl["id"], ids))["members"] == 2  # type: ignore[index]
    report = out(invoke("monitor", "run", wl["id"]))
    assert isinstance(report, dict) and [h["record_id"] for h in report["new"]] == [rid]
    assert invoke("monitor", "run", "wl_00").exit_code == 3  # not found (decision 0700)
    sub = out(invoke("subscription", "create", "http://hooks.invalid/x", "--watchlist", wl["id"]))
    assert isinstance(sub, dict) and sub["secret"]
    assert invoke("subscription", "create", "nope").exit_code == 2
    listed = out(invoke("subscription", "list"))
    assert isinstance(listed, list) and listed[0]["id"] == sub["id"]
    once = out(invoke("dispatch", "run", "--once", "--no-expire"))
    assert isinstance(once, dict) and once["errors"] == []


def test_dispatch_run_default_max_attempts_is_the_documented_20() -> None:
    # Defect pinned: the CLI defaulted to 12 attempts while docs/feed.md and decision 0401 say 20.
    import typer.main

    from socialcredit.feed import DispatchSettings

    group = typer.main.get_command(app).commands["dispatch"]  # type: ignore[attr-defined]
    option = next(p for p in group.commands["run"].params if p.name == "max_attempts")
    assert option.default == 20 == DispatchSettings().max_attempts
