"""``socialcredit screen`` by identifier: listed subjects (and legal representatives) are hits, with reasons
and the check's decision; every row comes back in order; the run is audited. All fail on main (no command)."""

from __future__ import annotations

import csv
import datetime as dt
import getpass
import json
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from factories import org_id, person_id
from socialcredit.catalogue import Catalogue
from socialcredit.cli import app
from socialcredit.store import Database
from socialcredit.store.tables import audit_log
from test_engine_support import file

runner = CliRunner()


def _listed_org(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    file(
        db.engine,
        catalogue,
        now,
        subject_id=org_id(1),
        subject_name="某某科技有限公司",
        legal_representative_id=person_id(3),
        legal_representative_name="张三",
    )


def _write_csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_identifiers_hit_reach_the_legal_representative_and_keep_every_row(
    db: Database, catalogue: Catalogue, now: dt.datetime, tmp_path: Path
) -> None:
    # Defect pinned: a company's legal representative must be found as checks find them (not only the
    # listed company itself), and no row (bad id, blank) may vanish from the output.
    _listed_org(db, catalogue, now)
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    _write_csv(
        src,
        [
            ["ref", "subject_id", "note"],
            ["r1", person_id(3), "the legal representative"],
            ["r2", org_id(1).lower(), "the company, typed in lower case"],
            ["r3", person_id(99), "a valid resident ID the registry does not hold"],
            ["r4", person_id(3)[:17] + ("0" if person_id(3)[17] != "0" else "1"), "a bad check character"],
            [],
            ["r6", "", "no identifier, no name"],
        ],
    )
    res = runner.invoke(
        app, ["screen", str(src), "--out", str(out), "--action", "transport.air.ticket", "--json"]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["rows"] == 6 and summary["hit"] == 2 and summary["clear"] == 1 and summary["invalid"] == 3
    rows = _read_csv(out)
    assert [r["ref"] for r in rows] == ["r1", "r2", "r3", "r4", "", "r6"]
    assert rows[0]["note"] == "the legal representative"  # carried through unchanged
    assert [r["status"] for r in rows] == ["hit", "hit", "clear", "invalid", "invalid", "invalid"]

    (rep,) = json.loads(rows[0]["matches"])
    assert rep["subject_id"] == person_id(3) and rep["name"] == "张三" and rows[0]["score"] == "1.0"
    assert rep["reasons"][0]["via"] == "legal_representative" and rep["reasons"][0]["via_subject"] == org_id(
        1
    )
    assert rep["decision"]["allowed"] is False and rep["decision"]["effects"] == ["deny"]
    assert rep["decision"]["reasons"][0]["via"] == "legal_representative"
    checked = json.loads(runner.invoke(app, ["check", person_id(3), "transport.air.ticket", "--json"]).stdout)
    # The check's own Decision (the CLI adds what it echoes of its question: known_at, protected).
    for k in ("as_of", "known_at", "protected"):
        rep["decision"].pop(k, None), checked.pop(k, None)
    assert rep["decision"] == checked
    (company,) = json.loads(rows[1]["matches"])
    assert company["subject_id"] == org_id(1) and company["reasons"][0]["via"] == "subject"

    assert rows[2]["matches"] == "[]" and rows[2]["score"] == "0.0"
    assert "check character" in rows[3]["reason"] and rows[3]["score"] == ""
    assert rows[4]["reason"] == "empty row"
    assert rows[5]["reason"] == "no subject_id or name"

    with db.engine.connect() as conn:
        entry = conn.execute(  # the screening's entry (the check above wrote one of its own after it)
            select(audit_log)
            .where(audit_log.c.action == "screen.file")
            .order_by(audit_log.c.seq.desc())
            .limit(1)
        ).one()
    assert entry.action == "screen.file" and entry.actor == f"cli:{getpass.getuser()}"
    assert "sha256:" in entry.target and "6 rows: 2 hits" in entry.outcome


def test_without_action_matches_list_the_records_and_at_sees_the_listing_end(
    db: Database, catalogue: Catalogue, now: dt.datetime, tmp_path: Path
) -> None:
    _listed_org(db, catalogue, now)
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    _write_csv(src, [["subject_id"], [person_id(3)]])
    res = runner.invoke(app, ["screen", str(src), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    (row,) = _read_csv(out)
    (m,) = json.loads(row["matches"])
    assert row["status"] == "hit" and "decision" not in m and m["reasons"][0]["category"]

    later = now + dt.timedelta(days=365 * 12)  # after any default duration of the category
    res = runner.invoke(app, ["screen", str(src), "--out", str(out), "--at", later.date().isoformat()])
    assert res.exit_code == 0, res.output
    assert _read_csv(out)[0]["status"] == "clear"


def test_names_match_listed_subjects_only(
    db: Database, catalogue: Catalogue, now: dt.datetime, tmp_path: Path
) -> None:
    _listed_org(db, catalogue, now)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(
        "\n".join(
            json.dumps(r, ensure_ascii=False)
            for r in [
                {"name": "某某科技有限公司", "kind": "organisation"},
                {"name": "无关的公司"},
                {"name": "张三", "birth_date": "1980-13-01"},
                {"name": "张三", "kind": "robot"},
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    res = runner.invoke(app, ["screen", str(src), "--out", str(out), "--action", "transport.air.ticket"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows[0]["status"] == "hit" and rows[0]["matches"][0]["subject_id"] == org_id(1)
    assert rows[0]["matches"][0]["matched_by"] == "name" and "decision" in rows[0]["matches"][0]
    assert 0 < rows[0]["score"] < 1
    assert rows[1]["status"] == "clear" and rows[1]["matches"] == []
    assert rows[2]["status"] == "invalid" and "birth_date" in rows[2]["reason"]
    assert rows[3]["status"] == "invalid" and "kind" in rows[3]["reason"]

    # A threshold no score reaches (scores never saturate): the same name is a possible match.
    res = runner.invoke(app, ["screen", str(src), "--out", str(out), "--threshold", "1.0"])
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text(encoding="utf-8").splitlines()[0])["status"] == "possible_match"


def test_unknown_action_and_bad_options_exit_2(db: Database, tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    _write_csv(src, [["subject_id"], [person_id(3)]])
    out = tmp_path / "out.csv"
    for args, needle in (
        (["--action", "no.such.action"], "--action"),
        (["--at", "yesterday"], "--at"),
        (["--threshold", "0"], "--threshold"),
    ):
        res = runner.invoke(app, ["screen", str(src), "--out", str(out), *args])
        assert res.exit_code == 2, res.output
        assert needle in res.output
    assert not out.exists()
