"""``screen --save`` and ``monitor screening``: a saved screening re-run on what changed reports only the rows
whose result changed, re-scoring only the rows the change reaches (issue 17 point 6, decision 0915)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from factories import person_id
from socialcredit.catalogue import Catalogue
from socialcredit.cli import app
from socialcredit.registry.writer import revoke
from socialcredit.store import Database
from socialcredit.store.tables import audit_log, screening_watch_rows
from test_engine_support import file

runner = CliRunner()
T0 = dt.datetime.now(dt.UTC).replace(microsecond=0)


def _id(i: int) -> str:
    return person_id(i % 500, birth=("19800101", "19810202")[i // 500])


def _book(tmp_path: Path, rows: int = 1000) -> Path:
    """A customer file: rows by identifier, every tenth by name only."""
    src = tmp_path / "customers.csv"
    with src.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ref", "subject_id", "name"])
        for i in range(rows):
            if i % 10 == 9:
                w.writerow([f"c{i}", "", f"Customer{i} Test"])
            else:
                w.writerow([f"c{i}", _id(i), ""])
    return src


def _save(tmp_path: Path, src: Path, *extra: str) -> None:
    res = runner.invoke(
        app,
        [
            "screen",
            str(src),
            "--out",
            str(tmp_path / "out.csv"),
            "--save",
            "book",
            "--at",
            T0.isoformat(),
            *extra,
        ],
    )
    assert res.exit_code == 0, res.output


def _monitor(tmp_path: Path, at: dt.datetime, *extra: str) -> tuple[dict[str, object], list[dict[str, str]]]:
    out = tmp_path / "changes.csv"
    res = runner.invoke(
        app, ["monitor", "screening", "book", "--at", at.isoformat(), "--out", str(out), *extra]
    )
    assert res.exit_code == 0, res.output
    with out.open(encoding="utf-8", newline="") as f:
        return json.loads(res.stdout), list(csv.DictReader(f))


def test_one_filing_reports_exactly_its_row_and_rescoring_touches_only_it(
    db: Database, catalogue: Catalogue, now: dt.datetime, tmp_path: Path
) -> None:
    _save(tmp_path, _book(tmp_path))
    summary, rows = _monitor(tmp_path, T0 + dt.timedelta(minutes=1))
    assert rows == [] and summary["changed"] == 0 and summary["rescored"] == 0  # nothing changed
    assert summary["rows"] == 1000

    state = file(db.engine, catalogue, T0 - dt.timedelta(days=1), subject_id=_id(321), subject_name="李四")
    summary, rows = _monitor(tmp_path, T0 + dt.timedelta(minutes=2))
    assert [(r["row"], r["subject_id"], r["previous_status"], r["status"], r["change"]) for r in rows] == [
        ("322", _id(321), "clear", "hit", "newly_hit")
    ]
    assert json.loads(rows[0]["matches"])[0]["subject_id"] == _id(321)
    # The proof it did not re-screen the file: one row of 1,000 re-scored.
    assert summary["rescored"] == 1 and summary["newly_hit"] == 1 and summary["subjects_touched"] == 1

    summary, rows = _monitor(tmp_path, T0 + dt.timedelta(minutes=3))
    assert rows == [] and summary["rescored"] == 0  # the cursor advanced: the filing is not seen twice

    with db.engine.begin() as conn:
        revoke(conn, state.id, "paid", "test", T0 + dt.timedelta(minutes=3))
    summary, rows = _monitor(tmp_path, T0 + dt.timedelta(minutes=4))
    assert [(r["row"], r["change"], r["status"]) for r in rows] == [("322", "newly_clear", "clear")]
    assert summary["rescored"] == 1 and summary["newly_clear"] == 1

    with db.engine.connect() as conn:
        entries = conn.execute(select(audit_log.c.action, audit_log.c.outcome)).all()
    runs = [o for a, o in entries if a == "screening.monitor"]
    assert len(runs) == 4 and runs[1] == "1 of 1000 rows re-scored, 1 changed"
    assert any(a == "screen.file" for a, _ in entries)


def test_a_name_row_is_reached_through_the_reverse_index_of_name_keys(
    db: Database, catalogue: Catalogue, tmp_path: Path
) -> None:
    src = tmp_path / "names.csv"
    src.write_text("ref,name\nn1,Zhang Wei\nn2,Li Ming\nn3,王芳\n", encoding="utf-8")
    _save(tmp_path, src)
    file(db.engine, catalogue, T0 - dt.timedelta(days=1), subject_id=_id(7), subject_name="张伟")
    summary, rows = _monitor(tmp_path, T0 + dt.timedelta(minutes=1))
    assert [(r["row"], r["name"], r["change"]) for r in rows] == [("1", "Zhang Wei", "newly_hit")]
    assert summary["rescored"] == 1  # Li Ming and 王芳 share no key with 张伟


def test_a_record_ending_between_two_runs_is_found_without_an_event(
    db: Database, catalogue: Catalogue, tmp_path: Path
) -> None:
    end = (T0 + dt.timedelta(days=3)).date()
    file(
        db.engine,
        catalogue,
        T0 - dt.timedelta(days=1),
        subject_id=_id(5),
        subject_name="赵六",
        effective_until=end.isoformat(),
    )
    _save(tmp_path, _book(tmp_path, 50))
    summary, rows = _monitor(tmp_path, T0 + dt.timedelta(days=1))
    assert rows == [] and summary["rescored"] == 0
    summary, rows = _monitor(tmp_path, T0 + dt.timedelta(days=10))
    assert [(r["row"], r["change"]) for r in rows] == [("6", "newly_clear")]
    assert summary["rescored"] == 1


def test_a_saved_screening_belongs_to_its_owner_and_bad_names_are_refused(
    db: Database, tmp_path: Path
) -> None:
    src = _book(tmp_path, 5)
    _save(tmp_path, src)
    res = runner.invoke(app, ["screen", str(src), "--out", str(tmp_path / "o.csv"), "--save", "book"])
    assert res.exit_code == 2 and "exists" in res.output
    res = runner.invoke(app, ["screen", str(src), "--out", str(tmp_path / "o.csv"), "--save", "../x"])
    assert res.exit_code == 2 and "--save" in res.output
    res = runner.invoke(
        app, ["monitor", "screening", "book", "--owner", "someone", "--out", str(tmp_path / "c.csv")]
    )
    assert res.exit_code != 0 and "no saved screening book" in res.output
    assert not (tmp_path / "c.csv").exists()


def test_a_failed_screening_saves_nothing_and_leaves_its_name_free(db: Database, tmp_path: Path) -> None:
    src = _book(tmp_path, 5)
    res = runner.invoke(app, ["screen", str(src), "--out", str(tmp_path / "o.jsonl"), "--save", "book"])
    assert res.exit_code == 2 and "format" in res.output
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(screening_watch_rows)).scalar_one() == 0
    _save(tmp_path, src)
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(screening_watch_rows)).scalar_one() == 5
