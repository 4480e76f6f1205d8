"""The scoring-model lint: each bad input of issue 19 refused with the file, the path and the reason.

Each case edits one model of a copy of the default catalogue; main has no models/ and no lint, so every case
fails there (the catalogue loads, and no issue is reported)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from socialcredit.catalogue import CatalogueError, default_dir, load_catalogue
from socialcredit.cli import app

PUBLIC = "models/public_credit.yaml"


def broken(tmp_path: Path, fn: Callable[[dict[str, Any]], None], name: str = PUBLIC) -> Path:
    root = tmp_path / "catalogue"
    shutil.copytree(default_dir(), root)
    path = root / name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    fn(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return root


def _rule(i: int, **kv: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["rules"][i].update(kv)


def _person(d: dict[str, Any]) -> None:
    d["kind"] = "person"


def _grows(d: dict[str, Any]) -> None:
    d["decay"]["steps"][2]["weight"] = 0.9


def _order(d: dict[str, Any]) -> None:
    d["grades"][2]["min"] = 990


def _free_input(d: dict[str, Any]) -> None:
    d["rules"].append({"code": "x", "input": "social_media_posts", "points": -10, "legal_basis": "b"})


def _reward_with_deduction(d: dict[str, Any]) -> None:
    d["kind"] = "person"
    d["reward_only"] = True


CASES = [
    ("unknown category", _rule(0, category="court.no_such_list"), "rules.0.category", "unknown category"),
    ("thresholds out of order", _order, "grades.2.min", "thresholds out of order"),
    ("a decay that grows", _grows, "decay.steps.2.weight", "a decay that grows"),
    ("a person under a punitive model", _person, "kind", "must be reward_only"),
    ("reward-only but deducting", _reward_with_deduction, "rules.0", "red-list records only"),
    ("free-form input", _free_input, "rules.5.input", "records of the catalogue only"),
    ("a deduction for a red list", _rule(4, points=-5), "rules.4.points", "must be positive"),
    ("no legal basis", _rule(1, legal_basis=""), "rules.1.legal_basis", "legal basis"),
]


@pytest.mark.parametrize(("what", "fn", "path", "reason"), CASES, ids=[c[0] for c in CASES])
def test_bad_model_refused_with_file_path_reason(
    tmp_path: Path, what: str, fn: Callable[[dict[str, Any]], None], path: str, reason: str
) -> None:
    root = broken(tmp_path, fn)
    with pytest.raises(CatalogueError) as err:
        load_catalogue(root)
    hits = [i for i in err.value.issues if i.file == PUBLIC and i.path == path and reason in i.message]
    assert hits, (what, [str(i) for i in err.value.issues])
    out = CliRunner().invoke(app, ["catalogue", "validate", str(root)])
    assert out.exit_code == 2 and PUBLIC in out.output and path in out.output, out.output


def test_every_problem_listed_at_once(tmp_path: Path) -> None:
    def all_of(d: dict[str, Any]) -> None:
        _grows(d)
        _order(d)
        _rule(0, category="nope")(d)

    root = broken(tmp_path, all_of)
    with pytest.raises(CatalogueError) as err:
        load_catalogue(root)
    assert {i.path for i in err.value.issues} >= {"decay.steps.2.weight", "grades.2.min", "rules.0.category"}


def test_default_models_load_and_cite_their_sources() -> None:
    cat = load_catalogue()
    assert set(cat.models) >= {"public_credit", "samr_risk"}
    assert "国办发〔2019〕35号" in cat.models["public_credit"].source
    assert "国市监信发〔2022〕6号" in cat.models["samr_risk"].source
    assert [b.grade for b in cat.models["public_credit"].grades] == ["优", "良", "中", "差"]
    assert [b.grade for b in cat.models["samr_risk"].grades] == ["A", "B", "C", "D"]
    assert all(r.legal_basis for m in cat.models.values() for r in m.rules)
