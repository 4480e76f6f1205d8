"""The lint of grade-conditioned measures (decision 1003), each refusal naming the file, the path and the reason;
and the measure the default catalogue ships. Each case fails on main (no ``grade_condition`` field: the
catalogue refused the key as unknown whatever it held, and a document without triggers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from socialcredit.catalogue import load_catalogue
from test_catalogue_lint import Edit, copy_default, edit, has, issues_of, measure, put

SAMR = "memoranda/samr_2022_6.yaml"
MEMO_141 = "memoranda/ndrc_2016_141.yaml"
# A model of persons that only rewards (the one kind that may grade persons, docs/grading.md).
PERSON_MODEL = {
    "title": "Reward-only person model (test)",
    "kind": "person",
    "reward_only": True,
    "source": "test",
    "start": 0,
    "rules": [{"code": "red", "list": "red", "points": 10, "legal_basis": "test basis"}],
    "grades": [{"grade": "good", "min": 10}, {"grade": "none"}],
}


def condition(model: str, grades: list[str]) -> Any:
    return put("grade_condition", {"model": model, "grades": grades})


def person_model(body: dict[str, Any]) -> Edit:
    return lambda root: (root / "models" / "persons_test.yaml").write_text(
        yaml.safe_dump(body, allow_unicode=True), encoding="utf-8"
    )


def both(*edits: Edit) -> Edit:
    def apply(root: Path) -> None:
        for e in edits:
            e(root)

    return apply


CASES: list[tuple[str, Edit, str, str, str]] = [
    (
        "unknown model",
        measure(SAMR, 1, condition("samr_rsik", ["D"])),
        SAMR,
        "measures.1.grade_condition.model",
        "unknown model 'samr_rsik'",
    ),
    (
        "unknown grade of the model",
        measure(SAMR, 1, condition("samr_risk", ["C", "E"])),
        SAMR,
        "measures.1.grade_condition.grades.1",
        "model 'samr_risk' has no grade 'E' (grades: A, B, C, D)",
    ),
    (
        "no grades",
        measure(SAMR, 1, condition("samr_risk", [])),
        SAMR,
        "measures.1.grade_condition.grades",
        "at least 1 item",
    ),
    (
        "a person's grade used punitively",
        both(person_model(PERSON_MODEL), measure(SAMR, 1, condition("persons_test", ["none"]))),
        SAMR,
        "measures.1.grade_condition.model",
        "a person's grade may only reward",
    ),
    (
        "a person model that is not reward-only",
        both(
            person_model({**PERSON_MODEL, "reward_only": False}),
            measure(SAMR, 0, condition("persons_test", ["good"])),
        ),
        "models/persons_test.yaml",
        "kind",
        "must be reward_only",
    ),
    (
        "a protected action",
        measure(SAMR, 1, put("actions", ["due_process"])),
        SAMR,
        "measures.1.actions.0",
        "reaches protected action",
    ),
    (
        "a grade reaching linked persons",
        measure(SAMR, 1, put("applies_to", ["subject", "legal_representative"])),
        SAMR,
        "measures.1.applies_to",
        "reaches the subject only",
    ),
    (
        "a record trigger and a grade condition",
        measure(MEMO_141, 0, condition("samr_risk", ["D"])),
        MEMO_141,
        "measures.0.grade_condition",
        "in a document triggered by records",
    ),
    (
        "a document without triggers whose measure has no grade condition",
        measure(SAMR, 0, lambda d: d.pop("grade_condition")),
        SAMR,
        "triggers",
        "needs triggers, unless every measure has a grade_condition",
    ),
    (
        "a misspelt field of the condition",
        measure(SAMR, 0, put("grade_condition", {"model": "samr_risk", "grade": ["A"]})),
        SAMR,
        "measures.0.grade_condition.grade",
        "closest known field is 'grades'",
    ),
]


@pytest.mark.parametrize(("name", "breakage", "file", "path", "words"), CASES, ids=[c[0] for c in CASES])
def test_each_grade_condition_rule_is_caught(
    tmp_path: Path, name: str, breakage: Edit, file: str, path: str, words: str
) -> None:
    root = copy_default(tmp_path)
    breakage(root)
    found = issues_of(root)
    assert has(found, file, path, words), "\n".join(map(str, found))


def test_a_broken_model_is_not_also_an_unknown_model(tmp_path: Path) -> None:
    root = copy_default(tmp_path)
    person_model({**PERSON_MODEL, "reward_only": False})(root)
    measure(SAMR, 0, condition("persons_test", ["good"]))(root)
    assert not any("unknown model" in i.message for i in issues_of(root))


def test_a_reward_on_a_persons_reward_only_grade_loads(tmp_path: Path) -> None:
    root = copy_default(tmp_path)
    person_model(PERSON_MODEL)(root)
    edit(
        SAMR, lambda d: d["measures"][0].update(grade_condition={"model": "persons_test", "grades": ["good"]})
    )(root)
    cat = load_catalogue(root)
    assert cat.memoranda["samr_2022_6"].measures[0].grade_condition.model == "persons_test"  # type: ignore[union-attr]


def test_the_default_ships_samr_tiered_supervision_on_the_grade() -> None:
    cat = load_catalogue()
    memo = cat.memoranda["samr_2022_6"]
    assert memo.document_no == "国市监信发〔2022〕6号" and memo.triggers == ()
    conds = {m.code: (m.effect, m.grade_condition) for m in memo.measures}
    assert conds["class_a_fewer_random_checks"][0] == "expedite"
    assert conds["class_cd_more_random_checks"][0] == "review"
    assert all(c is not None and c.model == "samr_risk" for _, c in conds.values())
    assert all("国办发〔2015〕58号" in m.legal_basis for m in memo.measures)
    # Not triggered by any record: the engine's record-triggered index does not see them.
    assert not any(memo.code == "samr_2022_6" for c in cat.categories for memo, _ in cat.measures_for(c))
    assert cat.version.startswith("2026.2+")
