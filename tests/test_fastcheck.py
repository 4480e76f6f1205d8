"""The import's fast path equals the full path: for any row it either declines or gives exactly the prepared
form that check_row then prepare give, and it never takes a row the full path refuses."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import bench_import
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factories import category, org_id, person_id
from socialcredit.catalogue import Catalogue, default_catalogue
from socialcredit.demo import generate
from socialcredit.registry.checks import check_one, key_hash
from socialcredit.registry.fastcheck import FastCheck
from socialcredit.registry.prepared import SOURCE, prepare
from socialcredit.registry.rows import RowInvalid, check_row

PILOT = org_id(7)[:17] + ("0" if org_id(7)[17] != "0" else "1")  # a code failing its check character


def _catalogue() -> Catalogue:
    base = default_catalogue()
    extra = {
        "test.fixed": category("test.fixed", duration_days=365, max_duration_days=730),
        "test.orgs": category("test.orgs", subject_kinds=("organisation",), duration_days=365),
        "test.open": category("test.open", ends_by_fulfilment=True, max_duration_days=1000),
        "test.no_end": category("test.no_end"),
        "test.red": category("test.red", list="red", duration_days=365),
        "test.notice": category("test.notice", duration_days=365, notice_days=10, takes_effect_at_once=False),
        "test.working": category(
            "test.working",
            duration_days=180,
            notice_days=7,
            notice_working_days=True,
            takes_effect_at_once=False,
        ),
        # Unlinted on purpose: a default end longer than the cap (the full path refuses every such row).
        "test.over": category("test.over", duration_days=400, max_duration_days=300),
        # Unlinted too: an authority the catalogue does not know (the full path says "unknown authority").
        "test.ghost": category("test.ghost", authorities=("samr", "ghost"), duration_days=100),
    }
    return dataclasses.replace(base, categories={**base.categories, **extra})


CAT = _catalogue()
NOWS = (
    dt.datetime(2025, 7, 1, 3, 0, tzinfo=dt.UTC),
    dt.datetime(2025, 6, 1, 17, 30, tzinfo=dt.UTC),  # 2025-06-02 in China: a decision that day is not future
    dt.datetime(2025, 10, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))),
)

_LONG = "长" * 301


def _one_of(*values: Any) -> tuple[Any, ...]:
    return values


# For each column: valid values, values the full path refuses, and values it strips or fills in.
VALUES: dict[str, tuple[Any, ...]] = {
    "external_id": _one_of(
        "E-1", " E-2 ", "", "  ", None, "x" * 201, "a\x01b", 5, "(2025)京0105执100号", 'q"\\'
    ),
    "authority": _one_of("court", "samr", " samr ", "mof", "sta", "nope", "ghost", "", None, 3),
    "category": _one_of(*sorted(CAT.categories), " test.fixed", "nope", "", None),
    "subject_id": _one_of(
        person_id(11),
        person_id(12, birth="19991231"),
        person_id(13, birth="20150301"),  # a minor
        f" {person_id(14)} ",
        person_id(15)[:17] + ("1" if person_id(15)[17] != "1" else "2"),  # wrong check character
        org_id(4),
        org_id(5).lower(),
        PILOT,
        "passport:usa:AB12345",
        "passport:USA:!",
        "12345",
        "",
        None,
        7,
    ),
    "subject_name": _one_of("王芳", " 王芳 ", "", None, _LONG, 'a\tb\nc \\ "q" \u2028'),
    "decision_no": _one_of("(2024)京0105民初100号", " D-1 ", "", None, "d" * 201),
    "decided_on": _one_of(
        "2025-06-01",
        "2025-06-02",
        "2020-02-29",
        "2025-02-30",
        "2025/06/01",
        "",
        None,
        "2099-01-01",
        " 2025-06-01",
        20250601,
        "2024-07-01",
        "2025-06-03",  # the day after one clock reading's today
        "0001-01-01",
        "9999-12-31",
    ),
    "effective_from": _one_of(
        None, "", "2025-06-01", "2025-07-01", "2025-05-01", "bad", "2025-06-15", "9999-12-30", "2999-12-31"
    ),
    "effective_until": _one_of(
        None,
        "",
        "2025-12-31",
        "2025-05-01",
        "2025-05-19",
        "2025-05-20",
        "2030-01-01",
        "2026-06-01",
        "x",
        "9999-12-31",
        "0001-01-01",
    ),
    "legal_basis": _one_of(None, "", " 依据 ", "b" * 2001, "《条例》第3条"),
    "summary": _one_of(None, "", " s ", "s" * 4001, "a\tb\nc", "\ud800"),
    "legal_representative_id": _one_of(None, "", None, person_id(5), org_id(6), "bad", f" {person_id(8)}"),
    "legal_representative_name": _one_of(None, "", "李四", " 李四 ", _LONG),
    "actual_controller_id": _one_of(None, None, person_id(6), person_id(13, birth="20150301"), org_id(9)),
    "actual_controller_name": _one_of(None, "", "赵六", 1.5),
}


def _bases() -> list[dict[str, Any]]:
    """Valid rows for every category: the benchmark's generated rows (the default catalogue's categories, each
    with its authority and subject kinds), and rows of the test categories, persons and organisations."""
    out = [{**row, "decided_on": "2025-05-20"} for row in bench_import.generate(60)]
    for code in (
        "test.fixed",
        "test.orgs",
        "test.open",
        "test.red",
        "test.notice",
        "test.working",
        "test.ghost",
    ):
        out.append(
            {
                "external_id": f"T-{code}",
                "authority": "samr",
                "category": code,
                "subject_id": org_id(3),
                "subject_name": "某某有限公司",
                "decision_no": "市监罚〔2025〕1号",
                "decided_on": "2025-05-20",
                "legal_representative_id": person_id(3),
                "legal_representative_name": "钱七",
            }
        )
    return out


BASES = _bases()
FIELDS = {name: st.sampled_from(values) for name, values in VALUES.items()}


@st.composite
def rows(draw: Any) -> dict[str, Any]:
    """A valid row with up to four fields changed (to another valid value, a bad one, a null, or absent)."""
    row = dict(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(sorted(FIELDS)))
        value = draw(FIELDS[name])
        if value is None and draw(st.booleans()):
            row.pop(name, None)
        else:
            row[name] = value
    if draw(st.integers(0, 19)) == 0:
        row["unknown_column"] = "x"
    return row


def _full(row: Any, now: dt.datetime, allow: frozenset[str], dialect: str) -> Any:
    try:
        f = check_row(row, CAT, now, allow)
    except RowInvalid:
        return None
    return prepare(f, CAT, now, dialect, 41)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    row=rows(),
    now=st.sampled_from(NOWS),
    allow=st.sampled_from([frozenset(), frozenset({PILOT})]),
    dialect=st.sampled_from(["sqlite", "postgresql"]),
)
def test_fast_path_declines_or_equals_the_full_path(
    row: dict[str, Any], now: dt.datetime, allow: frozenset[str], dialect: str
) -> None:
    fast = FastCheck(CAT, now, allow, dialect).check(row, 41)
    full = _full(row, now, allow, dialect)
    if full is None:
        assert fast is None, "the fast path took a row the full path refuses"
    elif fast is not None:
        assert fast == full


@settings(max_examples=300, deadline=None)
@given(
    row=rows(),
    now=st.sampled_from(NOWS),
    dialect=st.sampled_from(["sqlite", "postgresql"]),
)
def test_fast_path_takes_every_plain_valid_row(row: dict[str, Any], now: dt.datetime, dialect: str) -> None:
    """A valid row with nothing to strip or fill in (every value a text, no padding) is never declined: the fast
    path is the path of the common row, not a rare one."""
    plain = {k: v for k, v in row.items() if isinstance(v, str) and v and v == v.strip()}
    if _full(plain, now, frozenset(), dialect) is not None and "passport:" not in plain.get("subject_id", ""):
        assert FastCheck(CAT, now, frozenset(), dialect).check(plain, 41) is not None


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_every_single_change_of_a_valid_row(dialect: str) -> None:
    """Exhaustively: every value of every column, put into valid rows of several kinds (a person, an organisation
    with a linked person, a red list, a notice period, an open end), at each clock reading."""
    bases = [b for b in BASES if b["category"].startswith("test.")] + BASES[:12]
    taken = 0
    for now in NOWS:
        fast = FastCheck(CAT, now, frozenset({PILOT}), dialect)
        for base in bases:
            for name, values in VALUES.items():
                for value in values:
                    row = {**base, name: value}
                    got = fast.check(row, 41)
                    want = _full(row, now, frozenset({PILOT}), dialect)
                    assert got == want or (got is None and want is not None), (row, now)
                    taken += got is not None
            row = {**base, "unknown_column": "x"}
            assert fast.check(row, 41) is None and _full(row, now, frozenset(), dialect) is None
    assert taken > 2000


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_generated_and_demo_rows_all_take_the_fast_path(dialect: str) -> None:
    """The benchmark's rows and the demo's (every default category, persons with links, organisations) are all
    taken by the fast path, and prepared as the full path prepares them."""
    cat = default_catalogue()
    now = dt.datetime(2026, 1, 5, 2, 0, tzinfo=dt.UTC)
    sample = [(row, now) for row in bench_import.generate(600)]
    sample += [(f.row, f.at) for f in generate(400, 3, cat).filings]
    checks: dict[dt.datetime, FastCheck] = {}
    for row, at in sample:
        fast = checks.setdefault(at, FastCheck(cat, at, frozenset(), dialect))
        got = fast.check(row, 41)
        assert got is not None, row
        assert got == prepare(check_row(row, cat, at), cat, at, dialect, 41)
    assert len(sample) > 700


def test_check_one_reads_again_what_orjson_reads_differently() -> None:
    """A line with a number the fast path declines is read by the standard library and refused by the full path
    with its wording; a plain line gives the same result through either path."""
    now = NOWS[0]
    cat = CAT
    fields = {
        "external_id": "E-1",
        "authority": "samr",
        "category": "test.fixed",
        "subject_id": person_id(11),
    }
    fields |= {"subject_name": "王芳", "decision_no": "D-1", "decided_on": "2025-06-01"}
    plain = json.dumps(fields, ensure_ascii=False)
    tag, line, p, key = check_one(3, plain, cat, now, frozenset(), "sqlite")
    assert (tag, line, key) == ("ok", 3, key_hash("samr", "E-1"))
    assert p[SOURCE] == fields
    big = plain.replace('"E-1"', "123456789012345678901234567890")  # more than 64 bits: orjson reads a float
    tag, line, row, errors = check_one(4, big, cat, now, frozenset(), "sqlite")
    assert tag == "bad" and row["external_id"] == 123456789012345678901234567890
    assert [e.field for e in errors] == ["external_id"]
    assert check_one(5, "{nope", cat, now, frozenset(), "sqlite")[0] == "json"
