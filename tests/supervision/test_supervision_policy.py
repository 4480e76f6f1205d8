"""The catalogue's supervision policies: the shipped one loads; a bad file is refused with file, path, reason.

Fails on main, which has no supervision/ in the catalogue."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from socialcredit.catalogue import Catalogue, CatalogueError, default_dir, load_catalogue

FILE = "supervision/samr.yaml"


def test_the_shipped_policy(catalogue: Catalogue) -> None:
    p = catalogue.supervision["samr"]
    assert p.grading_model == "samr_risk" and p.rates == {"A": 0.03, "B": 0.05, "C": 0.10, "D": 0.30}
    assert any("国办发〔2015〕58号" in b for b in p.legal_basis)
    assert any("国市监信发〔2022〕6号" in b for b in p.legal_basis)
    assert p.inspectors_per_inspection == 2 and p.registered_by == ("9",)


def _issues(tmp_path: Path, **changes: Any) -> list[tuple[str, str, str]]:
    root = tmp_path / "cat"
    shutil.copytree(default_dir(), root)
    data = yaml.safe_load((root / FILE).read_text(encoding="utf-8"))
    for k, v in changes.items():
        if v is None:
            data.pop(k, None)
        else:
            data[k] = v
    (root / FILE).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CatalogueError) as exc:
        load_catalogue(root)
    return [(i.file, i.path, i.message) for i in exc.value.issues]


RATES = {"A": 0.03, "B": 0.05, "C": 0.10, "D": 0.30}


@pytest.mark.parametrize(
    ("changes", "path", "reason"),
    [
        ({"rates": {**RATES, "D": 1.5}}, "rates.D", "not in [0, 1]"),
        ({"rates": {**RATES, "A": -0.1}}, "rates.A", "not in [0, 1]"),
        ({"rates": {**RATES, "C": 0.04}}, "rates.C", "below 0.05 of class B"),
        ({"rates": {**RATES, "E": 0.5}}, "rates.E", "unknown class 'E'"),
        ({"rates": {"A": 0.03, "B": 0.05, "C": 0.1}}, "rates.D", "has no rate"),
        ({"rates": {**RATES, "B": "often"}}, "rates.B", "valid number"),
        ({"grading_model": "nope"}, "grading_model", "unknown grading model 'nope'"),
        ({"legal_basis": None}, "legal_basis", "missing legal basis"),
        ({"legal_basis": []}, "legal_basis", "missing legal basis"),
        ({"authority": "nobody"}, "authority", "unknown authority 'nobody'"),
        ({"inspectors_per_inspection": 0}, "inspectors_per_inspection", "greater than or equal to 1"),
        ({"rate": 0.1}, "rate", "unknown field 'rate'"),
    ],
)
def test_a_bad_policy_is_refused_naming_file_path_and_reason(
    tmp_path: Path, changes: dict[str, Any], path: str, reason: str
) -> None:
    issues = _issues(tmp_path, **changes)
    assert any(f == FILE and p == path and reason in m for f, p, m in issues), issues


def test_a_policy_under_a_model_of_persons_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "cat"
    shutil.copytree(default_dir(), root)
    model = yaml.safe_load((root / "models/samr_risk.yaml").read_text(encoding="utf-8"))
    model.update(
        kind="person",
        reward_only=True,
        rules=[{"code": "red", "list": "red", "points": 5, "legal_basis": "x"}],
    )
    (root / "models/persons.yaml").write_text(yaml.safe_dump(model, allow_unicode=True), encoding="utf-8")
    data = yaml.safe_load((root / FILE).read_text(encoding="utf-8"))
    data["grading_model"] = "persons"
    (root / FILE).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CatalogueError) as exc:
        load_catalogue(root)
    assert any(i.file == FILE and "inspections are of firms" in i.message for i in exc.value.issues)


def test_two_policies_of_one_authority(tmp_path: Path) -> None:
    root = tmp_path / "cat"
    shutil.copytree(default_dir(), root)
    shutil.copy(root / FILE, root / "supervision/samr2.yaml")
    with pytest.raises(CatalogueError) as exc:
        load_catalogue(root)
    assert [(i.file, i.path) for i in exc.value.issues] == [("supervision/samr2.yaml", "authority")]
