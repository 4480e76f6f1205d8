"""Person names: folding, pinyin readings, surname readings, compound surnames, romanisation variants (issue 17
point 4). These fail on main, which has no screening package; each names the defect it pins."""

from __future__ import annotations

import pytest

from socialcredit.screening import HIT, POSSIBLE, NameQuery, fold, person_keys, score_pair
from socialcredit.screening.names import read_person

ZHANG_WEI_ID = "110105199003071239"  # a valid resident ID: born 7 March 1990 in Chaoyang, Beijing


def _score(query: str, name: str, **kw: object) -> float:
    return score_pair(NameQuery(query, **kw), ZHANG_WEI_ID, name, "person").score  # type: ignore[arg-type]


def test_fold_makes_spellings_of_one_name_one_string() -> None:
    # Traditional/simplified, full-width/half-width, case, tone marks, spacing, punctuation, controls.
    assert fold("張偉") == fold("张伟") == fold("张 伟") == "张伟"
    assert (
        fold("ＺＨＡＮＧ　Ｗｅｉ")
        == fold("zhang wei")
        == fold("Zhāng Wěi")
        == fold(" ZHANG,\tWei. ")
        == "zhang wei"
    )
    assert fold("Zhang\x00\u200bWei") == "zhang wei"
    assert fold("Lǚ Wei") == "lv wei"


@pytest.mark.parametrize(
    "written", ["Zhang Wei", "ZHANG, Wei", "Wei Zhang", "ZHANG WEI", "Zhāng Wěi", "ＺＨＡＮＧ　ＷＥＩ"]
)
def test_zhang_wei_in_pinyin_is_a_hit_for_the_han_name(written: str) -> None:
    # The OpenSanctions stack does not romanise Han: 张伟 never meets "Zhang Wei" there.
    got = score_pair(NameQuery(written), ZHANG_WEI_ID, "张伟", "person")
    assert HIT <= got.score < 0.9, got
    assert "name.pinyin" in got.features and "zhang wei" in got.explanation


def test_traditional_characters_are_an_exact_name() -> None:
    got = score_pair(NameQuery("張偉"), ZHANG_WEI_ID, "张伟", "person")
    assert got.score == 0.9 and got.features == {"name.exact": 0.9}


def test_initials_alone_are_possible_and_with_a_birth_date_a_hit() -> None:
    import datetime as dt

    alone = _score("Zhang W.", "张伟")
    assert POSSIBLE <= alone < HIT
    assert _score("Zhang W.", "张伟", birth_date=dt.date(1990, 3, 7)) >= HIT
    assert _score("Zhang Q.", "张伟") < POSSIBLE


def test_surname_readings_shan_and_zeng() -> None:
    # 单 is Shàn and 曾 Zēng as surnames; their common readings (Dan, Ceng) are not the surname.
    assert _score("Shan Wei", "单伟") >= HIT
    assert _score("Dan Wei", "单伟") < POSSIBLE
    assert _score("Zeng Guofan", "曾国藩") >= HIT
    assert _score("Ceng Guofan", "曾国藩") < HIT
    assert read_person("单伟").readings[0].surname == "shan"


def test_compound_surname_is_kept_whole() -> None:
    person = read_person("欧阳娜娜")
    assert person.surname_han == "欧阳" and person.readings[0].surname == "ouyang"
    assert _score("Ouyang Nana", "欧阳娜娜") >= HIT
    assert _score("Nana OUYANG", "欧阳娜娜") >= HIT
    assert "Pouyang:nana" in person_keys("欧阳娜娜") and "Qouyang:nana" in person_keys("OUYANG, Nana")


@pytest.mark.parametrize(("variant", "name"), [("Chang Wei", "张伟"), ("Cheung Wei", "张伟"), ("Wong Wei", "黄伟"),
                                               ("Wong Wei", "王伟"), ("Lee Wei", "李伟")])  # fmt: skip
def test_wade_giles_and_hong_kong_surnames_score_lower_than_pinyin(variant: str, name: str) -> None:
    pinyin = _score(" ".join(read_person(name).readings[0].surname.capitalize() for _ in (1,)) + " Wei", name)
    got = score_pair(NameQuery(variant), ZHANG_WEI_ID, name, "person")
    assert HIT <= got.score < pinyin, got
    assert "reading.variant_spelling" in got.features


def test_heteronyms_are_read() -> None:
    # 乐 is Yuè as a surname and Lè otherwise; a given name's less usual reading still matches, lower.
    assert _score("Yue Fei", "乐飞") >= HIT
    usual, rare = _score("Zhang Le", "张乐"), _score("Zhang Yue", "张乐")
    assert usual > rare >= HIT


def test_homophones_written_otherwise_are_not_hits() -> None:
    # 张伟 and 张玮 sound alike; in Han they are two names.
    got = score_pair(NameQuery("张伟"), ZHANG_WEI_ID, "张玮", "person")
    assert POSSIBLE <= got.score < HIT and "name.homophone" in got.features


def test_other_given_name_or_surname_is_not_a_hit() -> None:
    assert _score("张伟", "张强") < POSSIBLE
    assert _score("张伟", "王伟") < HIT
    assert _score("Zhang Qiang", "张伟") < POSSIBLE


@pytest.mark.parametrize(
    "bad", ["", "   ", "!!!", "……", "\x00\x01\x1f", "\u200b\u200d", "a" * 1000, "张" * 1000]
)
def test_odd_names_give_a_score_and_no_exception(bad: str) -> None:
    got = score_pair(NameQuery(bad), ZHANG_WEI_ID, "张伟", "person")
    assert 0.0 <= got.score < HIT
    assert isinstance(person_keys(bad), set)


def test_a_name_too_long_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"^name: 10000 characters"):
        NameQuery("张" * 10_000)
