"""The shipped national catalogue: it loads, and it models what DOMAIN.md and issue 2 require of it.

These tests read the default catalogue only (the session ``catalogue`` fixture); no database is needed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import socialcredit.catalogue as catalogue_pkg
from socialcredit.catalogue import Catalogue, covers, default_catalogue, load_catalogue
from socialcredit.catalogue.model import Action, Authority, Category, Measure, Memorandum, Objection

# Order 36 publication bounds by severity, in days (minor at most 3 months; general 3 months to a year;
# serious one to three years).
ORDER_36 = {"minor": (0, 90), "general": (90, 365), "serious": (365, 1095)}
REACH_ALL = {"subject", "legal_representative", "actual_controller"}


def test_public_api_is_sorted() -> None:
    assert catalogue_pkg.__all__ == sorted(catalogue_pkg.__all__)


def test_default_loads_and_is_versioned(catalogue: Catalogue) -> None:
    assert catalogue.version.startswith("2026.")
    assert "+" in catalogue.version  # the content digest: any edit changes the version
    assert load_catalogue().version == catalogue.version
    assert default_catalogue() is default_catalogue()


def test_required_codes_exist(catalogue: Catalogue) -> None:
    assert {"court", "samr", "nmpa", "sta", "mof", "caac", "railway", "ndrc"} <= set(catalogue.authorities)
    assert {
        "transport.air.ticket",
        "transport.rail.g_train.ticket",
        "realestate.purchase",
        "government.procurement.bid",
        "customs.green_channel",
    } <= set(catalogue.actions)
    for action in (
        "due_process.object",
        "due_process.appeal",
        "due_process.repair",
        "due_process.view_file",
        "legal.counsel",
    ):
        assert action in catalogue.actions and catalogue.is_protected(action), action
    assert not catalogue.is_protected("transport.air.ticket")
    assert {
        "court.judgment_defaulter",
        "court.judgment_defaulter_conduct",
        "court.consumption_restriction",
        "food_drug.serious_violation",
        "tax.major_violation",
        "procurement.serious_violation",
        "transport.air_serious_misconduct",
        "transport.rail_serious_misconduct",
        "tax.a_grade",
        "credit.key_attention",
    } <= set(catalogue.categories)


def test_every_category_is_complete(catalogue: Catalogue) -> None:
    for code, cat in catalogue.categories.items():
        assert cat.legal_basis and cat.source and cat.criteria and cat.removal, code
        assert cat.duration_days or (cat.ends_by_fulfilment and cat.max_duration_days), code
        assert cat.publication is not None, code
        assert cat.publication.max_days <= (cat.max_duration_days or cat.duration_days or 0), code
        assert all(part and part == part.lower() for part in code.split(".")), code
        assert cat.objection.days >= 1, code
        assert cat.takes_effect_at_once or cat.notice_days > 0, code
        # Regulators' lists follow NDRC Order 36; the courts' follow the SPC's deletion rules.
        if "court" not in cat.authorities and cat.list != "red":
            low, high = ORDER_36[cat.severity]
            assert low <= cat.publication.min_days and cat.publication.max_days <= high, code


def test_lists_of_each_kind(catalogue: Catalogue) -> None:
    kinds = {cat.list for cat in catalogue.categories.values()}
    assert kinds == {"black", "red", "watch"}
    watch = catalogue.categories["credit.key_attention"]
    assert watch.list == "watch" and (watch.max_duration_days or watch.duration_days or 0) <= 730
    assert catalogue.measures_for("credit.key_attention")
    assert all(m.effect == "review" for _, m in catalogue.measures_for("credit.key_attention"))


def test_court_categories(catalogue: Catalogue) -> None:
    ground_1 = catalogue.categories["court.judgment_defaulter"]
    assert (
        ground_1.ends_by_fulfilment and ground_1.duration_days is None and ground_1.max_duration_days == 1825
    )
    conduct = catalogue.categories["court.judgment_defaulter_conduct"]
    assert (conduct.duration_days, conduct.max_duration_days) == (730, 1825)
    for code in (
        "court.judgment_defaulter",
        "court.judgment_defaulter_conduct",
        "court.consumption_restriction",
    ):
        cat = catalogue.categories[code]
        assert cat.authorities == ("court",) and cat.takes_effect_at_once and cat.list == "black"
        assert (cat.objection.days, cat.objection.suspends, cat.objection.reconsideration) == (
            15,
            False,
            True,
        )
        assert set(cat.subject_kinds) == {"person", "organisation"}
    assert catalogue.authorities["court"].parent == "court_higher"


def test_consumption_restriction_has_all_nine_bars(catalogue: Catalogue) -> None:
    measures = [
        m
        for memo, m in catalogue.measures_for("court.consumption_restriction")
        if memo.code == "spc_2015_consumption"
    ]
    assert len(measures) == 9
    assert all(m.effect == "deny" and set(m.applies_to) == REACH_ALL for m in measures)
    barred = [a for m in measures for a in m.actions]
    for action in (
        "transport.air.ticket",
        "transport.rail.conventional.soft_sleeper",
        "transport.water.upper_cabin",
        "transport.rail.g_train.ticket",
        "transport.rail.bullet.first_class",
        "consumption.venue.star_hotel",
        "consumption.venue.nightclub",
        "consumption.venue.golf",
        "realestate.purchase",
        "realestate.build",
        "realestate.luxury_renovation",
        "consumption.office_lease",
        "consumption.vehicle",
        "consumption.travel",
        "consumption.private_school",
        "finance.insurance.high_premium",
    ):
        assert any(covers(p, action) for p in barred), action
    # Second class on D and C trains, and seats on conventional trains, stay open.
    for action in ("transport.rail.bullet.second_class", "transport.rail.conventional.seat"):
        assert not any(covers(p, action) for p in barred), action
    memo = catalogue.memoranda["spc_2015_consumption"]
    assert memo.document_no == "法释〔2015〕17号" and memo.date == dt.date(2015, 7, 20)


def test_defaulter_memorandum_141(catalogue: Catalogue) -> None:
    memo = catalogue.memoranda["ndrc_2016_141"]
    assert memo.document_no == "发改财金〔2016〕141号" and memo.date == dt.date(2016, 1, 20)
    assert set(memo.triggers) == {"court.judgment_defaulter", "court.judgment_defaulter_conduct"}
    assert len(memo.measures) >= 20
    assert len({m.department for m in memo.measures}) >= 10
    actions = {a for m in memo.measures for a in m.actions}
    # The categories of measures in DOMAIN.md: founding financial institutions; civil and commercial
    # dealings; industry entry and public hiring; senior posts; subsidies and honours; consumption.
    for group in (
        {"finance.bank.found", "finance.insurance.found"},
        {"government.procurement.bid", "finance.bond.issue.enterprise"},
        {"market.entry.food", "market.entry.drug", "market.entry.mining", "employment.civil_service"},
        {"office.financial.senior", "office.soe.legal_representative"},
        {"subsidy.apply", "honour"},
        {"transport.air.ticket", "realestate.purchase"},
    ):
        assert group <= actions, group - actions
    assert {m.code for _, m in catalogue.measures_for("court.judgment_defaulter")} >= {
        "procurement_ban",
        "flight_ban",
    }


def test_food_drug_memorandum(catalogue: Catalogue) -> None:
    cat = catalogue.categories["food_drug.serious_violation"]
    assert set(cat.authorities) == {"samr", "nmpa"} and cat.severity == "serious"
    memo = catalogue.memoranda["ndrc_2016_1962"]
    assert memo.document_no == "发改财金〔2016〕1962号"
    assert len(memo.measures) >= 15
    assert {m.department for m in memo.measures} <= set(memo.signatories)
    first = memo.measures[0]
    assert first.effect == "review" and "inspection.routine" in first.actions
    assert first.department in {"samr", "nmpa"}


def test_tax_memoranda(catalogue: Catalogue) -> None:
    assert catalogue.categories["tax.major_violation"].authorities == ("sta",)
    memo = catalogue.memoranda["ndrc_2014_3062"]
    assert memo.document_no == "发改财金〔2014〕3062号" and memo.triggers == ("tax.major_violation",)
    assert any(m.effect == "deny" and "government.procurement.bid" in m.actions for m in memo.measures)
    red = catalogue.categories["tax.a_grade"]
    assert red.list == "red" and red.authorities == ("sta",)
    rewards = catalogue.measures_for("tax.a_grade")
    assert rewards and all(m.effect == "expedite" for _, m in rewards)
    rewarded = {a for _, m in rewards for a in m.actions}
    assert {"customs.green_channel", "inspection.random", "approval.licence"} <= rewarded


def test_procurement_debarment(catalogue: Catalogue) -> None:
    cat = catalogue.categories["procurement.serious_violation"]
    assert cat.authorities == ("mof",) and "第七十七条" in cat.legal_basis
    assert (cat.duration_days, cat.max_duration_days) == (365, 1095)
    assert any("government.procurement.bid" in m.actions for _, m in catalogue.measures_for(cat.code))


@pytest.mark.parametrize(
    ("category", "days", "action", "department"),
    [
        ("transport.air_serious_misconduct", 365, "transport.air.ticket", "caac"),
        ("transport.rail_serious_misconduct", 180, "transport.rail.conventional.seat", "railway"),
    ],
)
def test_flight_and_train_bans(
    catalogue: Catalogue, category: str, days: int, action: str, department: str
) -> None:
    cat = catalogue.categories[category]
    assert cat.duration_days == days and cat.max_duration_days in (None, days)
    assert cat.subject_kinds == ("person",) and not cat.ends_by_fulfilment
    assert (cat.objection.days, cat.objection.working_days) == (7, True)
    assert not cat.takes_effect_at_once and cat.notice_working_days and cat.notice_days == 7
    denying = [m for _, m in catalogue.measures_for(category) if m.effect == "deny"]
    assert any(m.department == department and any(covers(p, action) for p in m.actions) for m in denying)


def test_memoranda_cite_their_sources(catalogue: Catalogue) -> None:
    for code, memo in catalogue.memoranda.items():
        assert memo.source and memo.document_no and memo.date, code
        assert {m.department for m in memo.measures} <= set(memo.signatories), code
        for m in memo.measures:
            assert m.legal_basis and m.department in catalogue.authorities, (code, m.code)
            assert not any(catalogue.is_protected(a) for a in m.actions), (code, m.code)


def test_docs_describe_every_field_and_shipped_entry(catalogue: Catalogue) -> None:
    """docs/catalogue.md documents each field a catalogue author can write and lists what ships."""
    doc = (Path(__file__).parent.parent / "docs" / "catalogue.md").read_text(encoding="utf-8")
    for model in (Authority, Action, Category, Objection, Measure, Memorandum):
        for name in model.model_fields:
            if name != "code" or model in (Measure, Memorandum):
                assert f"`{name}`" in doc, (model.__name__, name)
    for code in catalogue.categories:
        assert f"`{code}`" in doc, code
    for code in catalogue.memoranda:
        assert f"`{code}.yaml`" in doc, code
