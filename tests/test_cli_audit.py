"""Every command-line access to personal data is audited, as the OS user behind ``cli`` (issue 16 section 2.4).

Pins the defect: ``check``, ``subject show``, ``objection``, ``repair`` and ``fulfil`` wrote no audit entry, so
an operator at the console could read or change a file with no trace; and the entries there were said only
``cli``, not who. (The import's own entry is tested with the import.)
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner, Result

from factories import person_id, row
from process_helpers import file, food_row
from socialcredit import audit
from socialcredit.catalogue import Catalogue
from socialcredit.cli import app
from socialcredit.cli.common import cli_actor
from socialcredit.store import Database
from socialcredit.store.tables import audit_log

runner = CliRunner()


def invoke(*args: str | int | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def entries(db: Database) -> list[dict[str, Any]]:
    with db.engine.connect() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.seq)).mappings().all()
    return [dict(r) for r in rows]


def last(db: Database) -> dict[str, Any]:
    return entries(db)[-1]


def test_the_actor_names_the_os_user() -> None:
    actor = cli_actor()
    assert actor.startswith("cli:") and len(actor) > len("cli:") and " " not in actor


def test_check_is_audited(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    file(db, catalogue, now, subject_id=person_id(3))
    assert invoke("check", person_id(3), "transport.air.ticket").exit_code == 1
    e = last(db)
    assert (e["actor"], e["role"], e["action"], e["target"], e["outcome"]) == (
        cli_actor(),
        "admin",
        "checks.single",
        person_id(3),
        "denied",
    )
    assert invoke("check", person_id(4), "transport.air.ticket", "--json").exit_code == 0
    assert (last(db)["target"], last(db)["outcome"]) == (person_id(4), "allowed")
    # A refused check is audited too: the identifier asked about is itself personal data.
    assert invoke("check", person_id(4), "transport.teleport").exit_code == 2
    assert (last(db)["target"], last(db)["outcome"]) == (person_id(4), "refused: bad input")


def test_subject_show_is_audited_found_or_not(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    file(db, catalogue, now, subject_id=person_id(3))
    assert invoke("subject", "show", person_id(3)).exit_code == 0
    e = last(db)
    assert (e["actor"], e["action"], e["target"], e["outcome"]) == (
        cli_actor(),
        "subjects.view",
        f"subject:{person_id(3)}",
        "ok: 1 records",
    )
    assert invoke("subject", "show", person_id(8), "--json").exit_code == 3
    assert (last(db)["target"], last(db)["outcome"]) == (f"subject:{person_id(8)}", "refused: not found")


def test_due_process_commands_are_audited(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    rid = file(db, catalogue, now)
    food = file(db, catalogue, now, _row=food_row(decided_on="2024-06-01"))
    at = now.isoformat()
    obj = json.loads(invoke("objection", "file", rid, "--grounds", "I paid", "--at", at).stdout)
    invoke("objection", "decide", obj["id"], "--outcome", "rejected", "--reason", "no", "--as", "court")
    invoke("objection", "reconsider", obj["id"], "--grounds", "wrong")
    invoke("objection", "list")
    req = json.loads(
        invoke("repair", "request", food, "--evidence", "paid", "--commitment", "I commit").stdout
    )
    invoke("repair", "decide", req["id"], "--approve", "--reason", "met", "--as", "samr")
    invoke("repair", "list", "--record", food)
    assert invoke("fulfil", rid, "--reason", "paid").exit_code == 0
    assert invoke("fulfil", rid, "--reason", "paid").exit_code == 2  # already ended: refused, and audited
    assert invoke("repair", "decide", 999, "--reject", "--reason", "x").exit_code == 3
    got = [(e["actor"], e["action"], e["target"], e["outcome"]) for e in entries(db)]
    me = cli_actor()
    assert got == [
        (me, "objections.file", f"record:{rid}", "ok"),
        (me, "objections.decide", f"objection:{obj['id']}", "ok"),
        (me, "objections.reconsider", f"objection:{obj['id']}", "ok"),
        (me, "objections.list", "{}", "ok: 2 objections"),
        (me, "repair.request", f"record:{food}", "ok"),
        (me, "repair.decide", f"repair:{req['id']}", "ok"),
        (me, "repair.list", json.dumps({"record": food}), "ok: 1 requests"),
        (me, "records.fulfil", f"record:{rid}", "ok"),
        (me, "records.fulfil", f"record:{rid}", "refused: conflict"),
        (me, "repair.decide", "repair:999", "refused: not found"),
    ]
    with db.engine.connect() as conn:
        assert audit.verify(conn).ok


def test_a_write_and_its_entry_commit_together(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    # A refused write leaves its refusal entry and nothing else: the "ok" entry rolled back with the change.
    rid = file(db, catalogue, now)
    bad = invoke("objection", "decide", 1, "--outcome", "upheld", "--reason", "x")
    assert bad.exit_code == 3
    assert [e["outcome"] for e in entries(db)] == ["refused: not found"]
    assert invoke("objection", "file", rid, "--grounds", "g").exit_code == 0
    assert [e["outcome"] for e in entries(db)] == ["refused: not found", "ok"]


def test_expire_run_is_audited_when_it_ends_records(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    rid = file(db, catalogue, now, _row=row(effective_until="2026-11-30"))
    assert invoke("expire", "run", "--at", "2026-11-25").exit_code == 0
    assert entries(db) == []  # nothing ended: nothing touched
    assert json.loads(invoke("expire", "run", "--at", "2026-12-05").stdout)["record_ids"] == [rid]
    e = last(db)
    assert (e["actor"], e["action"], e["target"]) == (cli_actor(), "records.expire", f'["record:{rid}"]')


def test_keys_commands_name_the_os_user(db: Database) -> None:
    made = json.loads(invoke("keys", "create", "--role", "auditor", "--json").stdout)
    assert invoke("keys", "revoke", made["id"][:6]).exit_code == 0
    got = [(e["actor"], e["action"], e["target"]) for e in entries(db)]
    me = cli_actor()
    assert got == [(me, "keys.create", f"key:{made['id']}"), (me, "keys.revoke", f"key:{made['id']}")]
