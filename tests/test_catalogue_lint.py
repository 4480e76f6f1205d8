"""Every lint rule, caught on a broken copy of the default catalogue written to ``tmp_path``.

Each case breaks one thing and expects an issue naming the file, the path inside it and the reason; a combined
case breaks everything at once and expects every issue in one error, and the CLI to list them all (exit 2).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from socialcredit.catalogue import CatalogueError, CatalogueIssue, default_dir, load_catalogue
from socialcredit.cli import app

Edit = Callable[[Path], None]
MEMO_141 = "memoranda/ndrc_2016_141.yaml"
MEMO_FLIGHT = "memoranda/ndrc_2018_385.yaml"
MEMO_RED = "memoranda/ndrc_2016_1467.yaml"
MEMO_WATCH = "memoranda/ndrc_2017_1798.yaml"


def copy_default(tmp_path: Path) -> Path:
    root = tmp_path / "catalogue"
    shutil.copytree(default_dir(), root)
    return root


def edit(name: str, fn: Callable[[dict[str, Any]], None]) -> Edit:
    """An edit of one YAML file of a catalogue copy, through its parsed data."""

    def apply(root: Path) -> None:
        path = root / name
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        fn(data)
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")

    return apply


def category(code: str, fn: Callable[[dict[str, Any]], None]) -> Edit:
    return edit("categories.yaml", lambda d: fn(d["categories"][code]))


def measure(file: str, index: int, fn: Callable[[dict[str, Any]], None]) -> Edit:
    return edit(file, lambda d: fn(d["measures"][index]))


def put(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda d: d.__setitem__(key, value)


def drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda d: d.pop(key)


def write(name: str, content: bytes) -> Edit:
    return lambda root: (root / name).write_bytes(content)


def issues_of(root: Path) -> list[CatalogueIssue]:
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(root)
    return caught.value.issues


def has(issues: list[CatalogueIssue], file: str, path: str, words: str) -> bool:
    return any(i.file == file and i.path == path and words in i.message for i in issues)


# (id, edit, file, path, words in the message)
CASES: list[tuple[str, Edit, str, str, str]] = [
    (
        "category without legal basis",
        category("tax.major_violation", drop("legal_basis")),
        "categories.yaml",
        "categories.tax.major_violation.legal_basis",
        "needs a legal basis",
    ),
    (
        "category without end",
        category("tax.major_violation", drop("duration_days")),
        "categories.yaml",
        "categories.tax.major_violation.duration_days",
        "needs an end",
    ),
    (
        "end by fulfilment without maximum",
        category("court.consumption_restriction", drop("max_duration_days")),
        "categories.yaml",
        "categories.court.consumption_restriction.max_duration_days",
        "needs a maximum",
    ),
    (
        "category without source",
        category("tax.a_grade", drop("source")),
        "categories.yaml",
        "categories.tax.a_grade.source",
        "cite the source",
    ),
    (
        "maximum shorter than duration",
        category("tax.major_violation", put("max_duration_days", 30)),
        "categories.yaml",
        "categories.tax.major_violation.max_duration_days",
        "shorter than duration_days",
    ),
    (
        "publication minimum above maximum",
        category("tax.major_violation", put("publication", {"min_days": 900, "max_days": 365})),
        "categories.yaml",
        "categories.tax.major_violation.publication",
        "longer than max_days",
    ),
    (
        "delayed effect without notice",
        category("tax.major_violation", put("notice_days", 0)),
        "categories.yaml",
        "categories.tax.major_violation.notice_days",
        "notice period",
    ),
    (
        "category filed by unknown authority",
        category("tax.major_violation", put("authorities", ["sta", "irs"])),
        "categories.yaml",
        "categories.tax.major_violation.authorities.1",
        "unknown authority 'irs'",
    ),
    (
        "category code not dotted lower case",
        edit(
            "categories.yaml",
            lambda d: d["categories"].__setitem__("Tax.Bad", d["categories"]["tax.a_grade"]),
        ),
        "categories.yaml",
        "categories.Tax.Bad",
        "lower_snake_case",
    ),
    (
        "bad list kind",
        category("tax.a_grade", put("list", "grey")),
        "categories.yaml",
        "categories.tax.a_grade.list",
        "'grey'",
    ),
    (
        "misspelt category key",
        category("tax.a_grade", put("legal_bassis", "x")),
        "categories.yaml",
        "categories.tax.a_grade.legal_bassis",
        # The closest known field is named (docs/catalogue.md), not just "(misspelt?)".
        "unknown field 'legal_bassis' (misspelt? the closest known field is 'legal_basis')",
    ),
    (
        "measure without department",
        measure(MEMO_141, 0, drop("department")),
        MEMO_141,
        "measures.0.department",
        "needs a department",
    ),
    (
        "measure without legal basis",
        measure(MEMO_141, 1, drop("legal_basis")),
        MEMO_141,
        "measures.1.legal_basis",
        "needs a legal basis",
    ),
    (
        "measure on a protected action",
        measure(MEMO_141, 2, put("actions", ["due_process.object"])),
        MEMO_141,
        "measures.2.actions.0",
        "reaches protected action 'due_process'",
    ),
    (
        "measure on the protected prefix itself",
        measure(MEMO_141, 2, put("actions", ["finance.bank", "due_process"])),
        MEMO_141,
        "measures.2.actions.1",
        "reaches protected action 'due_process'",
    ),
    (
        "measure on a prefix above a protected action",
        measure(MEMO_141, 2, put("actions", ["legal"])),
        MEMO_141,
        "measures.2.actions.0",
        "reaches protected action 'legal.counsel'",
    ),
    (
        "measure below a protected prefix",
        measure(MEMO_141, 2, put("actions", ["due_process.view_file"])),
        MEMO_141,
        "measures.2.actions.0",
        "reaches protected action",
    ),
    (
        "measure on an unknown action",
        measure(MEMO_141, 3, put("actions", ["transport.teleport"])),
        MEMO_141,
        "measures.3.actions.0",
        "unknown action 'transport.teleport'",
    ),
    (
        "measure by an unknown department",
        measure(MEMO_141, 3, put("department", "ministry_of_truth")),
        MEMO_141,
        "measures.3.department",
        "unknown department 'ministry_of_truth'",
    ),
    (
        "measure by a department that did not sign",
        measure(MEMO_FLIGHT, 0, put("department", "sta")),
        MEMO_FLIGHT,
        "measures.0.department",
        "not a signatory",
    ),
    (
        "term from a notice that does not exist",
        category("court.judgment_defaulter", put("term_from", "notice_end")),
        "categories.yaml",
        "categories.court.judgment_defaulter.term_from",
        "notice_end needs a notice period",
    ),
    (
        "misspelt measure key",
        measure(MEMO_141, 4, put("departmnt", "mof")),
        MEMO_141,
        "measures.4.departmnt",
        "unknown field 'departmnt' (misspelt? the closest known field is 'department')",
    ),
    (
        "bad effect",
        measure(MEMO_141, 4, put("effect", "ban")),
        MEMO_141,
        "measures.4.effect",
        "'ban'",
    ),
    (
        "measure code twice",
        measure(MEMO_141, 1, put("code", "bank_founding_ban")),
        MEMO_141,
        "measures.1.code",
        "appears twice",
    ),
    (
        "unknown trigger category",
        edit(MEMO_141, lambda d: d["triggers"].append("court.judgement_defaulter")),
        MEMO_141,
        "triggers.2",
        "unknown category 'court.judgement_defaulter'",
    ),
    (
        "unknown signatory",
        edit(MEMO_141, lambda d: d["signatories"].append("cbrc")),
        MEMO_141,
        f"signatories.{38}",
        "unknown authority 'cbrc'",
    ),
    (
        "memorandum without source",
        edit(MEMO_141, drop("source")),
        MEMO_141,
        "source",
        "cite the source",
    ),
    (
        "memorandum without date",
        edit(MEMO_141, drop("date")),
        MEMO_141,
        "date",
        "required",
    ),
    (
        "impossible date",
        write(
            "memoranda/zz_date.yaml",
            b"code: zz\ntitle: t\ndate: 2016-13-45\ntriggers: [tax.a_grade]\n"
            b"source: s\nmeasures: [{code: m, title: t, department: sta, actions: [tax.invoice], "
            b"effect: expedite, legal_basis: b}]\n",
        ),
        "memoranda/zz_date.yaml",
        "date",
        "'2016-13-45'",
    ),
    (
        "red list triggering a denial",
        measure(MEMO_RED, 0, put("effect", "deny")),
        MEMO_RED,
        "measures.0.effect",
        "may only trigger expedite",
    ),
    (
        "reward triggered by a blacklist",
        measure(MEMO_141, 0, put("effect", "expedite")),
        MEMO_141,
        "measures.0.effect",
        "only be triggered by red-list",
    ),
    (
        "watch list triggering a denial",
        measure(MEMO_WATCH, 0, put("effect", "deny")),
        MEMO_WATCH,
        "measures.0.effect",
        "may only trigger review",
    ),
    (
        "linked persons reached from person-only triggers",
        measure(MEMO_FLIGHT, 0, put("applies_to", ["subject", "legal_representative"])),
        MEMO_FLIGHT,
        "measures.0.applies_to",
        "'legal_representative' reaches organisations' linked persons",
    ),
    (
        "action whose parent is undeclared",
        edit("actions.yaml", lambda d: d["actions"].__setitem__("space.rocket.ticket", {"title": "Rocket"})),
        "actions.yaml",
        "actions.space.rocket.ticket",
        "parent 'space.rocket' is not declared",
    ),
    (
        "protected prefix naming no action",
        edit("actions.yaml", lambda d: d["protected"].append("due_process.petition")),
        "actions.yaml",
        "protected.2",
        "names no action",
    ),
    (
        "authority with unknown parent",
        edit("authorities.yaml", lambda d: d["authorities"]["sta"].__setitem__("parent", "state_council")),
        "authorities.yaml",
        "authorities.sta.parent",
        "unknown authority 'state_council'",
    ),
    (
        "unknown top-level key",
        edit("categories.yaml", lambda d: d.__setitem__("categorys", {})),
        "categories.yaml",
        "categorys",
        "unknown key 'categorys'",
    ),
    (
        "bad YAML",
        write("memoranda/zz_broken.yaml", b"code: zz\nmeasures: [\n"),
        "memoranda/zz_broken.yaml",
        "",
        "invalid YAML",
    ),
    (
        "non-UTF-8 file",
        write("memoranda/zz_gbk.yaml", "title: 关于对失信被执行人\n".encode("gbk")),
        "memoranda/zz_gbk.yaml",
        "",
        "not UTF-8",
    ),
    (
        "duplicate key",
        write("memoranda/zz_dup.yaml", b"code: zz\ncode: zz2\n"),
        "memoranda/zz_dup.yaml",
        "",
        "duplicate key 'code'",
    ),
    (
        "memorandum with a .yml name",
        write("memoranda/zz_other.yml", b"code: zz\n"),
        "memoranda/zz_other.yml",
        "",
        "rename it",
    ),
    (
        "catalogue without version",
        edit("catalogue.yaml", drop("version")),
        "catalogue.yaml",
        "version",
        "a version is required",
    ),
    (
        "missing file",
        lambda root: (root / "authorities.yaml").unlink(),
        "authorities.yaml",
        "",
        "file is missing",
    ),
    (
        "memorandum that is not a mapping",
        write("memoranda/zz_list.yaml", b"- one\n- two\n"),
        "memoranda/zz_list.yaml",
        "",
        "expected a mapping",
    ),
]


@pytest.mark.parametrize(("name", "breakage", "file", "path", "words"), CASES, ids=[c[0] for c in CASES])
def test_each_rule_is_caught(
    tmp_path: Path, name: str, breakage: Edit, file: str, path: str, words: str
) -> None:
    root = copy_default(tmp_path)
    breakage(root)
    found = issues_of(root)
    assert has(found, file, path, words), "\n".join(map(str, found))


def test_applies_to_needs_only_one_organisation_trigger(tmp_path: Path) -> None:
    """The fixed bug: linked persons are unreachable only when EVERY trigger lists persons only."""
    root = copy_default(tmp_path)
    edit(MEMO_FLIGHT, lambda d: d["triggers"].append("court.judgment_defaulter"))(root)
    measure(MEMO_FLIGHT, 0, put("applies_to", ["subject", "legal_representative"]))(root)
    cat = load_catalogue(root)
    (flight,) = [
        m for memo, m in cat.measures_for("court.judgment_defaulter") if memo.code == "ndrc_2018_385"
    ]
    assert flight.applies_to == ("subject", "legal_representative")


# Breakages that touch different entries, so that all of them can be applied to one copy at once.
TOGETHER = {
    "category without legal basis",
    "end by fulfilment without maximum",
    "category filed by unknown authority",
    "misspelt category key",
    "measure without department",
    "measure without legal basis",
    "measure on a protected action",
    "measure on an unknown action",
    "measure by an unknown department",
    "misspelt measure key",
    "unknown trigger category",
    "unknown signatory",
    "watch list triggering a denial",
    "linked persons reached from person-only triggers",
    "action whose parent is undeclared",
    "authority with unknown parent",
    "unknown top-level key",
    "bad YAML",
    "non-UTF-8 file",
    "duplicate key",
    "memorandum with a .yml name",
    "memorandum that is not a mapping",
}


def test_every_error_is_listed_together(tmp_path: Path) -> None:
    root = copy_default(tmp_path)
    together = [c for c in CASES if c[0] in TOGETHER]
    assert len(together) == len(TOGETHER)
    for _, breakage, *_ in together:
        breakage(root)
    found = issues_of(root)
    missing = [c[0] for c in together if not has(found, *c[2:])]
    assert not missing, (missing, [str(i) for i in found])
    # Nothing else: a broken entry is reported once, not again through the entries that refer to it.
    assert len(found) == len(together), "\n".join(map(str, found))


def test_misspelt_fields_name_the_closest_field_of_their_own_place(tmp_path: Path) -> None:
    # Defect pinned: "unknown field 'legal_bassis' (misspelt?)" named no field although the docs promise the
    # closest known one; a nested block (objection) and the memorandum head suggest from their own fields.
    root = copy_default(tmp_path)
    category("tax.a_grade", lambda d: d["objection"].__setitem__("dayz", 3))(root)
    edit(MEMO_141, put("signatorys", ["ndrc"]))(root)
    category("tax.major_violation", put("colour", "red"))(root)
    found = issues_of(root)
    assert has(
        found, "categories.yaml", "categories.tax.a_grade.objection.dayz", "closest known field is 'days'"
    )
    assert has(found, MEMO_141, "signatorys", "closest known field is 'signatories'")
    assert has(
        found, "categories.yaml", "categories.tax.major_violation.colour", "(known: authorities, code,"
    )


def test_a_broken_measure_hides_no_other_error(tmp_path: Path) -> None:
    root = copy_default(tmp_path)
    measure(MEMO_141, 0, put("effect", "ban"))(root)  # invalid: left out of the catalogue
    measure(MEMO_141, 5, put("actions", ["legal.counsel"]))(root)  # still linted, at its own index
    found = issues_of(root)
    assert has(found, MEMO_141, "measures.0.effect", "'ban'")
    assert has(found, MEMO_141, "measures.5.actions.0", "protected")
    assert len(found) == 2, found


def test_a_reference_to_a_broken_entry_is_not_also_unknown(tmp_path: Path) -> None:
    root = copy_default(tmp_path)
    category("tax.major_violation", put("list", "grey"))(root)  # the tax memorandum still names it
    (only,) = issues_of(root)
    assert (only.file, only.path) == ("categories.yaml", "categories.tax.major_violation.list")
    assert "'grey'" in only.message


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(tmp_path / "nowhere")
    assert "not a directory" in str(caught.value)


def test_cli_validate_default_exits_0() -> None:
    result = CliRunner().invoke(app, ["catalogue", "validate"])
    assert result.exit_code == 0, result.output
    assert "valid" in result.stdout and "memoranda" in result.stdout


def test_cli_validate_copy_exits_0(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["catalogue", "validate", str(copy_default(tmp_path))])
    assert result.exit_code == 0, result.output


def test_cli_validate_lists_every_error_and_exits_2(tmp_path: Path) -> None:
    root = copy_default(tmp_path)
    names = {
        "category without legal basis",
        "measure without department",
        "measure on a protected action",
        "bad YAML",
        "non-UTF-8 file",
    }
    picked = [c for c in CASES if c[0] in names]
    for _, breakage, *_ in picked:
        breakage(root)
    result = CliRunner().invoke(app, ["catalogue", "validate", str(root)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    for _, _, file, path, words in picked:
        assert any(
            line.startswith(f"{file}: {path}: " if path else f"{file}: ") and words in line for line in lines
        ), (
            file,
            path,
            result.stderr,
        )
    assert lines[-1].startswith("error: ") and "error(s) in catalogue" in lines[-1]
