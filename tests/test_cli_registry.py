"""``socialcredit init`` and ``subject show``: known, unknown (exit 1) and malformed (exit 2) identifiers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from factories import org_id, person_id, row
from socialcredit.cli import app
from socialcredit.identifiers import mask
from socialcredit.settings import get_settings
from socialcredit.store import Database

runner = CliRunner()
PILOT = "91350100M0001TGQXM"


def invoke(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def load(tmp_path: Path, rows: list[dict[str, object]]) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    result = invoke("import", path, "--no-progress")
    assert result.exit_code == 0, result.output


def test_init_is_idempotent(db: Database) -> None:
    for _ in range(2):
        result = invoke("init")
        assert result.exit_code == 0 and "database ready" in result.stdout


def test_show_known_subject_with_records_and_status(db: Database, tmp_path: Path) -> None:
    load(
        tmp_path,
        [
            row(),
            row(
                external_id="ORG",
                subject_id=org_id(1),
                subject_name="北京某公司",
                legal_representative_id=person_id(11),
                legal_representative_name="王芳",
            ),
        ],
    )
    result = invoke("subject", "show", person_id(11))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "王芳" in out and person_id(11) in out and "北京市朝阳区" in out
    assert f"public form {mask(person_id(11))}" in out
    assert "court.judgment_defaulter" in out and "in_force" in out and "legal_representative" in out
    as_json = json.loads(invoke("subject", "show", person_id(11), "--json").stdout)
    assert as_json["subject"]["id"] == person_id(11)
    assert sorted(r["via"] for r in as_json["records"]) == ["legal_representative of " + org_id(1), "subject"]
    assert {r["status"] for r in as_json["records"]} == {"in_force"}


def test_show_unknown_subject_exits_3(db: Database) -> None:
    result = invoke("subject", "show", person_id(5))
    assert result.exit_code == 3  # not found (decision 0700)
    assert f"{person_id(5)}: the registry knows no such subject" in result.stderr


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("12345", "length: expected 18 characters"),
        ("passport:US:1", "passport form is passport:<ISO 3166 alpha-3>"),
        (PILOT, "check character: expected '1', found 'M'"),
    ],
)
def test_show_malformed_identifier_exits_2(db: Database, value: str, reason: str) -> None:
    result = invoke("subject", "show", value)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: subject_id:") and reason in result.stderr


def test_pilot_code_imports_only_when_allowlisted(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "pilot.jsonl"
    path.write_text(
        json.dumps(row(subject_id=PILOT, subject_name="福州某公司"), ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    refused = invoke("import", path, "--no-progress")
    assert refused.exit_code == 2 and f"{path}:1: subject_id: '{PILOT}': check character" in refused.stderr
    monkeypatch.setenv("SOCIALCREDIT_USCC_ALLOWLIST", PILOT)
    get_settings.cache_clear()
    assert invoke("import", path, "--no-progress").exit_code == 0
    shown = invoke("subject", "show", PILOT)
    assert shown.exit_code == 0 and "pilot-era code accepted by allowlist" in shown.stdout


def test_help_everywhere() -> None:
    for args in (["import", "--help"], ["subject", "show", "--help"], ["init", "--help"]):
        result = invoke(*args)
        assert result.exit_code == 0 and "Usage" in result.stdout
