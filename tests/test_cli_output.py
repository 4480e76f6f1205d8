"""What a person reads at 80 columns is whole, and says what it means (issue 16 section 3).

Pins the defects: ``keys list`` cut ids to "dda2fca0…" and ``keys revoke dda2fca0`` then said "no such key";
``check`` cut legal bases with "…"; a protected action's check said only "no measure applies"; ``import DIR``
said "no such file"; the import help did not list ``.ndjson``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from sqlalchemy import update
from typer.testing import CliRunner

from factories import person_id
from process_helpers import file
from socialcredit.catalogue import Catalogue
from socialcredit.cli import app
from socialcredit.store import Database
from socialcredit.store.tables import api_keys

runner = CliRunner()
NARROW = {"COLUMNS": "80"}


def _key(role: str = "auditor") -> str:
    return str(json.loads(runner.invoke(app, ["keys", "create", "--role", role, "--json"]).stdout)["id"])


def test_keys_list_shows_whole_ids_and_revoke_takes_a_prefix(db: Database) -> None:
    ids = [_key(), _key("admin")]
    listed = runner.invoke(app, ["keys", "list"], env=NARROW).stdout
    assert all(i in listed for i in ids) and "…" not in listed
    assert max(len(line) for line in listed.splitlines()) <= 80
    done = runner.invoke(app, ["keys", "revoke", ids[0][:8]])
    assert done.exit_code == 0 and f"key {ids[0]} revoked" in done.stdout
    status = {k["id"]: k["status"] for k in json.loads(runner.invoke(app, ["keys", "list", "--json"]).stdout)}
    assert status == {ids[0]: "revoked", ids[1]: "active"}
    assert runner.invoke(app, ["keys", "revoke", f"sc_{ids[1]}"]).exit_code == 0


def test_an_ambiguous_prefix_revokes_nothing(db: Database) -> None:
    a, b = _key(), _key()
    with db.engine.begin() as conn:  # two ids sharing a prefix, as random ids eventually do
        conn.execute(update(api_keys).where(api_keys.c.id == a).values(id="abcd000000000001"))
        conn.execute(update(api_keys).where(api_keys.c.id == b).values(id="abcd000000000002"))
    result = runner.invoke(app, ["keys", "revoke", "abcd"])
    assert result.exit_code == 2 and "ambiguous" in result.stderr and "abcd000000000001" in result.stderr
    statuses = [k["status"] for k in json.loads(runner.invoke(app, ["keys", "list", "--json"]).stdout)]
    assert statuses == ["active", "active"]


def test_check_shows_legal_bases_whole_at_80_columns(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    file(db, catalogue, now, subject_id=person_id(3))
    file(
        db,
        catalogue,
        now,
        subject_id=person_id(3),
        external_id="J-2",
        category="court.consumption_restriction",
    )
    denied = runner.invoke(app, ["check", person_id(3), "transport.air.ticket"], env=NARROW)
    assert denied.exit_code == 1
    body = json.loads(runner.invoke(app, ["check", person_id(3), "transport.air.ticket", "--json"]).stdout)
    assert "…" not in denied.stdout
    assert [r["legal_basis"].replace(" ", "") for r in body["reasons"]] == _column_cells(
        denied.stdout, "legal basis"
    )


def _column_cells(table: str, field: str) -> list[str]:
    """Each reason's cell of the ``field`` row, its folded lines joined (the table has a reason per column)."""
    cells: list[str] = []
    label = ""
    for line in table.splitlines():
        parts = [p.strip() for p in line.split("│")[1:-1]]
        if not parts:
            continue
        label = parts[0] or label
        if label == field:
            cells = [c + p for c, p in zip(cells, parts[1:], strict=True)] if cells else parts[1:]
    return [c.replace(" ", "") for c in cells]


def test_a_protected_action_says_so(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    file(db, catalogue, now, subject_id=person_id(3))
    (action,) = [a for a in catalogue.actions if a in catalogue.protected][:1]
    text = runner.invoke(app, ["check", person_id(3), action])
    assert text.exit_code == 0 and f"protected action: no measure may restrict {action}" in text.stdout
    assert "no measure applies" not in text.stdout
    body = json.loads(runner.invoke(app, ["check", person_id(3), action, "--json"]).stdout)
    assert body["protected"] is True
    plain = json.loads(runner.invoke(app, ["check", person_id(3), "transport.air.ticket", "--json"]).stdout)
    assert plain["protected"] is False


def test_import_of_a_directory_says_so(db: Database, tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", str(tmp_path), "--no-progress"])
    assert result.exit_code == 2 and f"{tmp_path}: is a directory" in result.stderr


def test_import_help_lists_every_extension() -> None:
    out = runner.invoke(app, ["import", "--help"], env={"COLUMNS": "200"}).output
    assert all(ext in out for ext in (".jsonl", ".ndjson", ".csv"))
