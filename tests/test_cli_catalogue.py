"""``socialcredit catalogue validate`` and ``show``: both read the catalogue the other commands run on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from factories import person_id
from socialcredit.cli import app
from socialcredit.settings import get_settings
from test_catalogue_lint import CASES, copy_default

runner = CliRunner()


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """SOCIALCREDIT_CATALOGUE_DIR pointing at a copy of the shipped catalogue (edit it to break it)."""
    root = copy_default(tmp_path)
    monkeypatch.setenv("SOCIALCREDIT_CATALOGUE_DIR", str(root))
    get_settings.cache_clear()
    yield root
    get_settings.cache_clear()


def _break(root: Path, case: str) -> str:
    (_, breakage, file, path, _) = next(c for c in CASES if c[0] == case)
    breakage(root)
    return f"{file}: {path}: "


def test_validate_reads_the_configured_catalogue(configured: Path) -> None:
    # Defect pinned: with SOCIALCREDIT_CATALOGUE_DIR on a broken catalogue, `check` said "run catalogue
    # validate", which validated the shipped catalogue instead and answered "valid".
    where = _break(configured, "measure on a protected action")
    check = runner.invoke(app, ["check", person_id(1), "transport.air"])
    assert check.exit_code == 2 and "socialcredit catalogue validate" in check.stderr
    result = runner.invoke(app, ["catalogue", "validate"])
    assert result.exit_code == 2, result.output
    assert "valid" not in result.stdout and where.split(":")[0] in result.stderr
    assert f"error(s) in catalogue {configured}" in result.stderr
    shipped = runner.invoke(app, ["catalogue", "validate", str(copy_default(configured.parent / "again"))])
    assert shipped.exit_code == 0 and shipped.stdout.rstrip().endswith("valid")


def test_show_prints_categories_memoranda_and_measures_at_80_columns() -> None:
    # Defect pinned: `catalogue --help` promised "validate and show", and there was no `show`.
    result = runner.invoke(app, ["catalogue", "show"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert max(len(line) for line in out.splitlines()) <= 80
    for words in ("Record categories", "court.judgment_defaulter", "Memoranda", "ndrc_2016_141", "Measures"):
        assert words in out
    assert "bank_founding_ban" in out and "transport.rail_serious_misconduct" in out
    # The days of 3062号, 1962号, 1798号 and 国市监信发〔2022〕6号, the numbers of 1467号, 384号, 385号 are marked.
    assert out.count("日期待核实") == 4 and out.count("文号待核实") == 3


def test_show_json_and_the_configured_directory(configured: Path) -> None:
    data = json.loads(runner.invoke(app, ["catalogue", "show", "--json"]).stdout)
    assert data["memoranda"]["ndrc_2014_3062"]["unverified"] == ["date"]
    assert data["categories"]["court.judgment_defaulter"]["list"] == "black"
    assert len(data["memoranda"]["ndrc_2016_141"]["measures"]) == 36
    _break(configured, "measure without department")
    broken = runner.invoke(app, ["catalogue", "show", "--json"])
    assert broken.exit_code == 2 and "needs a department" in broken.stderr and not broken.stdout
