"""Demo data: valid identifiers, every category, the shape of the real lists, determinism, and filing through
the registry on both databases."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter

import pytest
from sqlalchemy import func, select
from stdnum import numdb
from typer.testing import CliRunner

from socialcredit.catalogue import Catalogue, Category
from socialcredit.cli import app
from socialcredit.demo import FIXED, DemoData, DemoError, Organisation, Person, default_anchor, generate, load
from socialcredit.demo.identities import REGIONS
from socialcredit.identifiers import parse
from socialcredit.registry import check_row, states_for_subject
from socialcredit.store import Database
from socialcredit.store.tables import record_events, records, subjects

ANCHOR = dt.date(2026, 11, 1)
_ORG_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@pytest.fixture(scope="module")
def data(catalogue: Catalogue) -> DemoData:
    return generate(2000, 11, catalogue, ANCHOR)


def _org_code_ok(code: str) -> bool:
    """GB 11714: weights 3 7 9 10 5 8 4 2, check 11 - sum mod 11 (10: X, 11: 0), computed independently."""
    total = sum(_ORG_ALPHABET.index(c) * w for c, w in zip(code[:8], (3, 7, 9, 10, 5, 8, 4, 2), strict=True))
    return code[8] == {10: "X", 11: "0"}.get(11 - total % 11, str(11 - total % 11))


def test_every_category_appears_and_every_row_passes_check_row(data: DemoData, catalogue: Catalogue) -> None:
    assert set(data.category_counts()) == set(catalogue.categories)
    keys = [(f.row["authority"], f.row["external_id"]) for f in data.filings]
    assert len(set(keys)) == len(keys)
    for filed in data.filings:
        filing = check_row(filed.row, catalogue, filed.at)
        assert filing.decided_on <= ANCHOR
        assert filed.at.date() <= ANCHOR


def test_identifiers_are_valid_and_derived_facts_match(data: DemoData) -> None:
    assert len({s.id for s in data.subjects}) == len(data.subjects) == 2000
    for s in data.subjects:
        sid = parse(s.id)
        if isinstance(s, Person):
            assert sid.kind == "person" and sid.sex == s.sex and sid.birth_date == s.birth_date
            assert sid.region_code == s.region.code
            assert (ANCHOR - s.birth_date).days >= 18 * 366
        else:
            assert (
                sid.kind == "organisation" and s.id[:2] in ("91", "92", "93") and s.id[2:8] == s.region.code
            )
            assert _org_code_ok(s.id[8:17]), s.id
            assert s.legal_representative.id != s.id
    orgs = [s for s in data.subjects if isinstance(s, Organisation)]
    assert len({o.name for o in orgs}) == len(orgs)  # registered names are unique


def test_regions_are_real_current_division_codes() -> None:
    table = numdb.get("cn/loc")
    for region in REGIONS:
        parts = table.info(region.code)
        assert len(parts) == 2, region
        county = parts[1][1]["county"]
        assert county.endswith(region.county) and not county.split(",")[-1].startswith("[-"), (region, county)


def test_proportions_look_like_the_real_lists(data: DemoData, catalogue: Catalogue) -> None:
    counts = data.category_counts()
    court = sum(n for c, n in counts.items() if c.startswith("court."))
    assert court > sum(counts.values()) / 2
    listed = {f.row["subject_id"] for f in data.filings}
    assert 0.15 <= len(listed) / len(data.subjects) <= 0.25
    rows = data.rows()
    assert any("legal_representative_id" in r for r in rows)
    assert any("actual_controller_id" in r for r in rows)
    assert all(
        ("legal_representative_id" in r) == (parse(r["subject_id"]).kind == "organisation") for r in rows
    )
    # Red and black for one organisation: rare, but present ("benefits withheld").
    lists: dict[str, set[str]] = {}
    for r in rows:
        lists.setdefault(r["subject_id"], set()).add(catalogue.categories[r["category"]].list)
    overlap = [s for s, kinds in lists.items() if {"red", "black"} <= kinds]
    red = [s for s, kinds in lists.items() if "red" in kinds]
    assert overlap and len(overlap) < len(red) / 2


def test_some_records_expired_and_some_lifted(data: DemoData, catalogue: Catalogue) -> None:
    expired = [
        f
        for f in data.filings
        if (
            check_row(f.row, catalogue, f.at).effective_until or dt.datetime.max.replace(tzinfo=dt.UTC)
        ).date()
        < ANCHOR
    ]
    assert expired
    kinds = Counter(c.type for c in data.changes)
    assert kinds["fulfilled"] and kinds["repaired"] and kinds["revoked"]
    filed_at = {(f.row["authority"], f.row["external_id"]): f.at for f in data.filings}
    for change in data.changes:
        assert (
            filed_at[(change.authority, change.external_id)]
            < change.at
            <= dt.datetime.combine(ANCHOR + dt.timedelta(days=1), dt.time(), dt.UTC)
        )


def test_same_seed_same_data_and_another_seed_other_data(catalogue: Catalogue, data: DemoData) -> None:
    again = generate(2000, 11, catalogue, ANCHOR)
    assert again.rows() == data.rows() and again.changes == data.changes and again.subjects == data.subjects
    other = generate(2000, 12, catalogue, ANCHOR)
    assert other.rows() != data.rows()
    # The fixed subjects and their records read the same for any seed.
    assert other.subjects[: len(FIXED)] == data.subjects[: len(FIXED)]
    fixed_ids = {s.id for s in FIXED}
    assert [f.row for f in other.filings if f.row["subject_id"] in fixed_ids] == [
        f.row for f in data.filings if f.row["subject_id"] in fixed_ids
    ]


def test_fixed_subjects_for_the_tour(data: DemoData, catalogue: Catalogue) -> None:
    one, two, three, four = data.subjects[:4]
    assert isinstance(one, Organisation) and one.region.city == "北京" and one.legal_representative == two
    by_subject: dict[str, set[str]] = {}
    for f in data.filings:
        by_subject.setdefault(f.row["subject_id"], set()).add(f.row["category"])
    assert "court.judgment_defaulter" in by_subject[one.id]
    assert two.id not in by_subject  # reached only as the legal representative
    assert {catalogue.categories[c].list for c in by_subject[three.id]} == {"red"}
    assert isinstance(four, Person) and any(
        "caac" in catalogue.categories[c].authorities for c in by_subject[four.id]
    )


def test_a_new_catalogue_category_is_covered(catalogue: Catalogue) -> None:
    extra = Category(
        code="samr.demo_test_watch",
        list="watch",
        title="测试重点关注",
        authorities=("samr",),
        subject_kinds=("organisation",),
        legal_basis="测试依据",
        duration_days=365,
    )
    grown = dataclasses.replace(catalogue, categories={**catalogue.categories, extra.code: extra})
    demo = generate(300, 5, grown, ANCHOR)
    assert demo.category_counts()["samr.demo_test_watch"] >= 1
    for f in demo.filings:
        check_row(f.row, grown, f.at)


def test_anchor_is_never_after_today(catalogue: Catalogue) -> None:
    assert default_anchor(dt.date(2026, 12, 31)) == ANCHOR
    assert default_anchor(dt.date(2026, 5, 1)) == dt.date(2026, 5, 1)
    with pytest.raises(ValueError, match="subjects"):
        generate(0, 1, catalogue)


def _counts(db: Database) -> list[int]:
    with db.engine.connect() as conn:
        return [
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (subjects, records, record_events)
        ]


def test_load_files_everything_through_the_registry(db: Database, catalogue: Catalogue) -> None:
    demo = generate(300, 3, catalogue, ANCHOR)
    report = load(db.engine, demo, catalogue, batch=50)
    n_subjects, n_records, n_events = _counts(db)
    assert n_records == report.records == len(demo.filings)
    assert n_events == len(demo.filings) + len(demo.changes)
    assert n_subjects == report.subjects
    with db.engine.connect() as conn:
        statuses = Counter(conn.execute(select(records.c.status)).scalars())
        one, two = demo.subjects[:2]
        reached = states_for_subject(conn, two.id)
    assert statuses["filed"] and sum(statuses[s] for s in ("repaired", "fulfilled", "revoked")) == len(
        demo.changes
    )
    assert {s.subject_id for s in reached} == {one.id}
    # A second load is refused and changes nothing.
    before = _counts(db)
    with pytest.raises(DemoError, match="already holds"):
        load(db.engine, demo, catalogue)
    assert _counts(db) == before


def test_cli_demo(db: Database, db_url: str) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["demo", "--subjects", "40", "--seed", "2", "--no-progress", "--database-url", db_url]
    )
    assert result.exit_code == 0, result.output
    assert FIXED[0].id in result.output
    assert _counts(db)[1] > 0
    again = runner.invoke(app, ["demo", "--subjects", "40", "--database-url", db_url])
    assert again.exit_code == 2 and "already holds" in again.output
    bad = runner.invoke(app, ["demo", "--subjects", "0", "--database-url", db_url])
    assert bad.exit_code == 2


def test_a_row_the_catalogue_rejects_stops_the_load_before_any_write(
    db: Database, catalogue: Catalogue
) -> None:
    demo = generate(60, 4, catalogue, ANCHOR)
    smaller = dataclasses.replace(
        catalogue,
        categories={k: v for k, v in catalogue.categories.items() if k != "court.consumption_restriction"},
    )
    with pytest.raises(DemoError, match=r"court/.*is invalid: category: 'court.consumption_restriction'"):
        load(db.engine, demo, smaller)
    assert _counts(db) == [0, 0, 0]
