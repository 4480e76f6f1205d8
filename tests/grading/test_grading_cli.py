"""``socialcredit grade`` and ``grade impact``: exit codes, --json, the audit entry, and impact counts.

Fails on main, which has no grade command."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from factories import org_id, person_id
from socialcredit.catalogue import Catalogue, default_dir
from socialcredit.cli import app
from socialcredit.cli.common import cli_actor
from socialcredit.store import Database
from socialcredit.store.tables import audit_log
from test_engine_support import file

from .test_grading_grade import NOTICE, tax

runner = CliRunner()


def last_audit(db: Database) -> tuple[str, str, str, str]:
    with db.engine.connect() as conn:
        e = conn.execute(select(audit_log).order_by(audit_log.c.seq.desc()).limit(1)).mappings().one()
    return e["actor"], e["action"], e["target"], e["outcome"]


def test_grade_text_json_and_audit(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    st = tax(db.engine, catalogue, now, 1, "2026-11-01", "c-1")
    at = (now + NOTICE).isoformat()
    out = runner.invoke(app, ["grade", org_id(1), "--at", at])
    assert out.exit_code == 0, out.output
    assert "中" in out.output and "black_serious" in out.output and str(st.id) in out.output
    assert "+08:00" in out.output  # times people read are CST (decision 0701)
    assert last_audit(db) == (cli_actor(), "grades.single", org_id(1), "graded public_credit: 中")
    out = runner.invoke(app, ["grade", org_id(1), "--model", "samr_risk", "--at", at, "--json"])
    assert out.exit_code == 0, out.output
    d = json.loads(out.output)
    assert d["model"] == "samr_risk" and d["points"][0]["record_id"] == st.id and d["grade"] == "C"
    assert d["known_at"] is not None and d["catalogue_version"] == catalogue.version
    # --known-at before the filing: the registry knew nothing of the subject then.
    out = runner.invoke(app, ["grade", org_id(1), "--known-at", (now - NOTICE).isoformat()])
    assert out.exit_code == 3, out.output


def test_grade_refusals_and_unknowns(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    file(db.engine, catalogue, now, subject_id=person_id(5), subject_name="王芳")
    out = runner.invoke(app, ["grade", person_id(5), "--model", "public_credit"])
    assert out.exit_code == 2 and "not for punishment" in out.output, out.output
    assert last_audit(db)[2:] == (person_id(5), "refused: person under a punitive model")
    assert runner.invoke(app, ["grade", org_id(7)]).exit_code == 3  # not in the registry
    out = runner.invoke(app, ["grade", org_id(7), "--model", "nope"])
    assert out.exit_code == 3 and "unknown model 'nope'" in out.output
    assert runner.invoke(app, ["grade", "not-an-id"]).exit_code == 2


def _model(tmp_path: Path, **changes: object) -> Path:
    data = yaml.safe_load((default_dir() / "models" / "public_credit.yaml").read_text(encoding="utf-8"))
    data.update(changes)
    path = tmp_path / "public_credit.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_impact_counts_moves_and_names_the_rule(
    db: Database, catalogue: Catalogue, now: dt.datetime, tmp_path: Path
) -> None:
    tax(db.engine, catalogue, now, 1, "2026-11-01", "i-1")
    tax(db.engine, catalogue, now, 2, "2026-11-01", "i-2")
    file(
        db.engine,
        catalogue,
        now,
        subject_id=org_id(3),
        subject_name="公司3",
        category="court.judgment_defaulter",
    )
    rules = yaml.safe_load((default_dir() / "models" / "public_credit.yaml").read_text(encoding="utf-8"))[
        "rules"
    ]
    rules.insert(0, {"code": "tax", "category": "tax.major_violation", "points": -300, "legal_basis": "b"})
    path = _model(tmp_path, rules=rules)
    at = (now + NOTICE).isoformat()
    out = runner.invoke(app, ["grade", "impact", "--model", str(path), "--at", at, "--json"])
    assert out.exit_code == 0, out.output
    d = json.loads(out.output)
    # The two tax cases fall from 中 (800) to 差 (700); the court case (800) stays.
    assert d["subjects"] == 3 and d["moved"] == 2 and d["matrix"]["中"] == {"差": 2, "中": 1}
    (driver,) = d["drivers"]
    assert driver["category"] == "tax.major_violation" and driver["subjects_moved"] == 2
    assert (driver["rule_old"], driver["rule_new"], driver["points_new"]) == ("black_serious", "tax", -300)
    assert last_audit(db)[1:] == ("grades.impact", "public_credit", "3 graded, 2 would move")
    text = runner.invoke(app, ["grade", "impact", "--model", str(path), "--at", at])
    assert text.exit_code == 0 and "2 of 3 subjects" in text.output


def test_impact_refuses_a_bad_model_with_file_path_reason(db: Database, tmp_path: Path) -> None:
    path = _model(tmp_path, grades=[{"grade": "A", "min": 10}, {"grade": "B", "min": 20}, {"grade": "C"}])
    out = runner.invoke(app, ["grade", "impact", "--model", str(path)])
    assert out.exit_code == 2 and str(path) in out.output and "grades.1.min" in out.output, out.output
    assert "thresholds out of order" in out.output
