"""``socialcredit import`` leaves an audit entry: who (the OS user), which file (name and SHA-256) and what came of
it (issue 15 §6). On main an import wrote records and no audit entry at all: a bulk change to thousands of
people's records was the one write the audit log did not show."""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, func, select
from typer.testing import CliRunner, Result

from factories import person_id, row
from socialcredit import audit
from socialcredit.catalogue import Catalogue
from socialcredit.cli import app
from socialcredit.registry import ImportReport, import_file
from socialcredit.store import Database
from socialcredit.store.tables import audit_log, records

runner = CliRunner()


def _write(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _import(path: Path, *extra: str) -> Result:
    return runner.invoke(app, ["import", str(path), "--no-progress", *extra])


def _entries(db: Database) -> list[dict[str, Any]]:
    with db.engine.connect() as conn:
        return list(audit.query(conn, action="records.import"))


def test_import_is_audited_with_user_digest_and_counts(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "court.jsonl"
    rows = [row(external_id=f"A-{i}", subject_id=person_id(20 + i)) for i in range(3)]
    digest = _write(path, rows)
    assert _import(path).exit_code == 0
    assert _import(path).exit_code == 0  # the same file again: nothing changes, and that is audited too
    first, again = _entries(db)
    assert first["actor"] == f"cli:{getpass.getuser()}" and first["role"] == "admin"
    assert first["target"] == f"file:court.jsonl sha256:{digest}"
    assert first["outcome"] == "imported: 3 filed, 0 amended, 0 unchanged, 0 rejected"
    assert again["outcome"] == "imported: 0 filed, 0 amended, 3 unchanged, 0 rejected"
    with db.engine.connect() as conn:
        assert audit.verify(conn).ok


def test_rolled_back_and_refused_imports_are_audited(db: Database, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    digest = _write(bad, [row(external_id="B-1"), row(external_id="B-2", decided_on="not a date")])
    assert _import(bad).exit_code == 2
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n", encoding="utf-8")
    assert _import(broken).exit_code == 2
    rolled, refused = _entries(db)
    assert rolled["target"] == f"file:bad.jsonl sha256:{digest}"
    assert rolled["outcome"] == "rolled back: 0 filed, 0 amended, 0 unchanged, 1 rejected"
    assert refused["target"].startswith("file:broken.jsonl sha256:") and refused["outcome"].startswith(
        "refused:"
    )
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(records)).scalar_one() == 0


def test_skip_invalid_and_actor_are_in_the_entry(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    _write(path, [row(external_id="C-1"), row(external_id="C-2", decided_on="2999-01-01")])
    assert _import(path, "--skip-invalid", "--actor", "court-export").exit_code == 0
    (entry,) = _entries(db)
    assert entry["target"].endswith(" actor:court-export")
    assert entry["outcome"] == "imported: 1 filed, 0 amended, 0 unchanged, 1 rejected"


def test_the_entry_commits_with_the_import_or_neither_does(
    db: Database, catalogue: Catalogue, tmp_path: Path
) -> None:
    """The hook runs inside the import's transaction: if writing the entry fails, no record is imported."""
    path = tmp_path / "atomic.jsonl"
    _write(path, [row(external_id="D-1")])

    def failing(conn: Connection, report: ImportReport) -> None:
        entry = audit.AuditEntry("cli:t", "cli", "records.import", "file:atomic.jsonl", "x")
        audit.append(conn, [entry], dt.datetime.now(dt.UTC))
        raise RuntimeError("the audit store is full")

    with pytest.raises(RuntimeError):
        import_file(db.engine, path, catalogue, "test", workers=0, on_commit=failing)
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(records)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(audit_log)).scalar_one() == 0
