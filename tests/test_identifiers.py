"""Identifiers: canonical forms, derivations, masking, and precise errors (expected vs found)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric, uscc

from factories import org_id, person_id
from socialcredit.identifiers import IdentifierError, _uscc_expected, kind_of, mask, parse, parse_plain

PILOT = "91350100M0001TGQXM"  # a real pilot-era code whose check character does not compute
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"

regions = st.sampled_from(["110105", "310104", "440305", "350102", "510107", "330106"])
births = st.dates(dt.date(1900, 1, 1), dt.date(2005, 12, 31))


@st.composite
def person_ids(draw: st.DrawFn) -> str:
    return person_id(draw(st.integers(0, 999)), draw(regions), draw(births).strftime("%Y%m%d"))


@st.composite
def org_ids(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(["91", "92", "93", "11", "51", "52"]))
    return org_id(draw(st.integers(0, 99_999_999)), draw(regions), prefix)


@settings(deadline=None)  # the first call loads stdnum's region table
@given(person_ids())
def test_valid_resident_ids_round_trip(value: str) -> None:
    sid = parse(value)
    assert (sid.canonical, sid.kind, sid.scheme) == (value, "person", "ric")
    assert parse(sid.canonical) == sid
    assert parse(value.lower()) == sid and parse(f"  {value} ") == sid


@settings(deadline=None)
@given(org_ids())
def test_valid_uscc_round_trip(value: str) -> None:
    sid = parse(value)
    assert (sid.canonical, sid.kind, sid.scheme) == (value, "organisation", "uscc")
    assert parse(value.lower()) == sid
    assert sid.birth_date is None and sid.sex is None and not sid.allowlisted


@settings(max_examples=200, deadline=None)
@given(st.one_of(person_ids(), org_ids()), st.integers(0, 17), st.sampled_from(USCC_ALPHABET + "X"))
def test_any_single_character_change_is_caught(value: str, pos: int, ch: str) -> None:
    changed = value[:pos] + ch + value[pos + 1 :]
    if changed == value:
        return
    try:
        sid = parse(changed)
    except IdentifierError:
        return
    # A change can only pass as the *other* kind of identifier (an all-digit USCC shaped like a resident ID);
    # as the same kind it is always caught.
    assert sid.kind != parse(value).kind


@settings(deadline=None)
@given(st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17).filter(lambda s: s[:8].isdigit()))
def test_uscc_check_character_agrees_with_stdnum(body: str) -> None:
    assert _uscc_expected(body + "0") == uscc.calc_check_digit(body)


def test_length_error_names_expected_and_found() -> None:
    with pytest.raises(IdentifierError) as exc:
        parse("11010519800101001")
    assert exc.value.reason == (
        "length: expected 18 characters (unified social credit code or resident ID), found 17"
    )


def test_character_error_names_position_expected_and_found() -> None:
    bad = org_id(5)[:10] + "I" + org_id(5)[11:]
    with pytest.raises(IdentifierError) as exc:
        parse(bad)
    assert "character at position 11" in exc.value.reason and "found 'I'" in exc.value.reason
    assert "expected one of 0123456789ABCDEFGHJKLMNPQRTUWXY" in exc.value.reason
    with pytest.raises(IdentifierError) as exc:
        parse("11010519800101A011", kind="person")
    assert exc.value.reason == "character at position 15: expected a digit in a resident ID, found 'A'"


def test_check_character_error_names_expected_and_found() -> None:
    good = person_id(11)
    wrong = "0" if good[17] != "0" else "1"
    with pytest.raises(IdentifierError) as exc:
        parse(good[:17] + wrong, kind="person")
    assert exc.value.reason == f"check character: expected {good[17]!r}, found {wrong!r}"
    org = org_id(7)
    wrong = "A" if org[17] != "A" else "B"
    with pytest.raises(IdentifierError) as exc:
        parse(org[:17] + wrong)
    assert exc.value.reason.startswith(f"check character: expected {org[17]!r}, found {wrong!r}")


def test_impossible_birth_date_is_named() -> None:
    body = "11010519801301001"
    with pytest.raises(IdentifierError) as exc:
        parse(body + ric.calc_check_digit(body + "0"), kind="person")
    assert exc.value.reason == "birth date '19801301' (positions 7-14) is not a real date"


def test_pilot_code_accepted_only_when_allowlisted() -> None:
    with pytest.raises(IdentifierError) as exc:
        parse(PILOT)
    assert "expected '1', found 'M'" in exc.value.reason and "allowlist" in exc.value.reason
    sid = parse(PILOT, allowlist=frozenset({PILOT}))
    assert sid.allowlisted and sid.kind == "organisation" and sid.canonical == PILOT
    assert parse(PILOT.lower(), allowlist={PILOT}).allowlisted
    assert not parse(org_id(3), allowlist=frozenset({PILOT})).allowlisted


def test_person_derivations() -> None:
    male = parse(person_id(11, "110105", "19800101"))
    assert male.region_code == "110105" and male.region == "北京市朝阳区"
    assert male.birth_date == dt.date(1980, 1, 1) and male.sex == "male"
    female = parse(person_id(12, "330106", "19520229"))
    assert female.sex == "female" and female.birth_date == dt.date(1952, 2, 29)
    assert female.region == "浙江省西湖区"  # stdnum's dated county name, without its date brackets


def test_organisation_region() -> None:
    sid = parse(org_id(42, "350102"))
    assert sid.region_code == "350102" and sid.region is not None and sid.region.startswith("福建省")


def test_all_digit_uscc_is_not_mistaken_for_a_person() -> None:
    # "91" is no province, so an all-digit USCC with a date-like middle stays an organisation.
    value = org_id(12065, "310104")
    assert value.isdigit() or value[:17].isdigit()
    assert parse(value).kind == "organisation"


def test_mask_hides_birth_date_and_sequence() -> None:
    value = person_id(11, "110105", "19800101")
    masked = mask(value)
    assert masked == "110105" + "*" * 11 + value[17]
    assert "19800101" not in masked
    assert mask(org_id(1)) == org_id(1)
    assert mask("passport:USA:AB1234567") == "passport:USA:*******67"


def test_passport_form() -> None:
    sid = parse("passport:usa:ab1234567")
    assert (sid.canonical, sid.kind, sid.scheme) == ("passport:USA:AB1234567", "person", "passport")
    assert kind_of(sid.canonical) == "person"
    for bad in ("passport:US:AB12345", "passport:USA:", "passport:USA:A-1", "passport:USA:AB1"):
        with pytest.raises(IdentifierError) as exc:
            parse(bad)
        assert "passport:<ISO 3166 alpha-3>:<5-20 letters or digits>" in exc.value.reason


def test_passport_country_must_be_iso_3166_alpha_3() -> None:
    # Defect pinned: passport:QQQ:AB12345 was accepted although the docs require an ISO 3166 alpha-3 code.
    for bad in ("passport:QQQ:AB12345", "passport:XXX:AB12345", "passport:ISO:AB12345"):
        with pytest.raises(IdentifierError) as exc:
            parse(bad)
        assert exc.value.reason == f"passport country {bad[9:12]!r} is not an ISO 3166-1 alpha-3 country code"
    assert parse("passport:deu:c01x00t47").canonical == "passport:DEU:C01X00T47"
    assert parse("passport:CHN:E12345678").canonical == "passport:CHN:E12345678"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("11010519800101A012", "character at position 15: expected a digit in a resident ID, found 'A'"),
        ("1101051980A101001X", "character at position 11: expected a digit in a resident ID, found 'A'"),
        # no province code in front: a USCC's error
        ("B10105198001010012", "character at position 1: expected a digit (positions 1-8"),
    ],
)
def test_resident_id_with_one_letter_is_a_malformed_resident_id(value: str, reason: str) -> None:
    # Defect pinned: docs/identifiers.md's own example 11010519800101A012 was read as a USCC and answered with a
    # check-character error; 17 digits but one with a province code in front are a mistyped resident ID.
    with pytest.raises(IdentifierError) as exc:
        parse(value)
    assert exc.value.reason.startswith(reason)


def test_a_valid_uscc_with_one_letter_is_still_a_uscc() -> None:
    # The resident-ID reading of a one-letter value never shadows a valid code (government bodies' codes start
    # 11-13, which are also province codes).
    found = 0
    for letter in "ABCDEFGHJKLMNPQRTUWXY":
        code = "1110000000001312" + letter
        code += uscc.calc_check_digit(code)
        if code[17] in "0123456789X":
            found += 1
            assert parse(code).kind == "organisation"
    assert found


@pytest.mark.parametrize("value", ["", "   ", 12345])
def test_empty_or_non_text(value: object) -> None:
    with pytest.raises(IdentifierError):
        parse(value)  # type: ignore[arg-type]


def _fields(value: str, allow: frozenset[str]) -> object:
    try:
        sid = parse(value, allow)
    except IdentifierError:
        return None
    return (sid.canonical, sid.kind, sid.region_code, sid.region, sid.birth_date, sid.allowlisted)


@settings(max_examples=600, deadline=None)
@given(
    st.one_of(
        person_ids(),
        org_ids(),
        st.text(alphabet="0123456789X", min_size=18, max_size=18),
        st.text(alphabet=USCC_ALPHABET, min_size=18, max_size=18),
    ),
    st.integers(0, 18),
    st.sampled_from(USCC_ALPHABET + "Xx -"),
    st.booleans(),
)
def test_parse_plain_reads_as_parse_or_declines(value: str, pos: int, ch: str, allowlisted: bool) -> None:
    """The import's fast identifier read gives parse's fields or None, never a value parse refuses, for valid
    identifiers, single-character changes of them (one may turn a code into the other kind), and any 18
    characters of either alphabet."""
    changed = value[:pos] + ch + value[pos + 1 :] if pos < 18 else value
    allow = frozenset({changed}) if allowlisted else frozenset()
    fast = parse_plain(changed, allow)
    if fast is not None:
        assert tuple(fast) == _fields(changed, allow)


@settings(deadline=None)
@given(st.one_of(person_ids(), org_ids().filter(lambda v: v[:2] in ("91", "92", "93"))))
def test_parse_plain_takes_the_common_identifiers(value: str) -> None:
    """Valid resident IDs, and enterprises' unified codes (91-93, which are no province code), are read the fast
    way. (Codes starting 11-12 or 51-53 could also be read as resident IDs: ``parse`` decides those.)"""
    fast = parse_plain(value, frozenset())
    assert fast is not None and tuple(fast) == _fields(value, frozenset())


def test_parse_plain_declines_what_parse_refuses_or_cleans() -> None:
    lettered = PILOT[:17] + uscc.calc_check_digit(PILOT[:17])  # valid, with letters
    assert parse_plain(lettered, frozenset()) is not None
    cleaned = (lettered.lower(), f" {person_id(3)}", person_id(3)[:6] + " " + person_id(3)[6:])
    for value in (PILOT, person_id(3)[:17] + "Y", person_id(3, birth="20990101"), *cleaned):
        assert parse_plain(value, frozenset()) is None
    assert parse_plain(PILOT, frozenset({PILOT})) is None  # allowlisted: parse marks it so
