"""Organisation names: legal forms, region prefixes, abbreviations, English names of Chinese firms (issue 17
point 4). These fail on main, which has no screening package."""

from __future__ import annotations

import pytest

from socialcredit.screening import HIT, POSSIBLE, NameQuery, organisation_keys, score_pair
from socialcredit.screening.orgnames import read_organisation

XINTAI = "北京鑫泰科技有限公司"
CODE = "91110105MATP7FDL6Y"  # a valid unified code registered in Chaoyang, Beijing


def _score(query: str, name: str = XINTAI) -> float:
    return score_pair(NameQuery(query), CODE, name, "organisation").score


def test_a_name_is_taken_apart() -> None:
    org = read_organisation("鑫泰（北京）科技有限责任公司")
    assert (org.region, org.trade, org.industry, org.form) == ("北京", "鑫泰", "科技", "ltd")
    org = read_organisation("广东省深圳市华信贸易股份有限公司")
    assert (org.region, org.trade, org.industry, org.form) == ("深圳", "华信", "贸易", "jsc")


@pytest.mark.parametrize(
    "written",
    ["北京鑫泰科技有限公司", "北京市鑫泰科技有限公司", "鑫泰（北京）科技有限公司", "鑫泰(北京)科技有限責任公司",
     "北京鑫泰科技有限责任公司", "鑫泰科技有限公司", "北京鑫泰科技"],
)  # fmt: skip
def test_legal_forms_and_region_prefixes_are_normalised(written: str) -> None:
    got = score_pair(NameQuery(written), CODE, XINTAI, "organisation")
    assert got.score == 0.9 and got.features == {"name.exact": 0.9}, got


def test_another_legal_form_costs_a_little() -> None:
    assert HIT <= _score("北京鑫泰科技股份有限公司") < 0.9


@pytest.mark.parametrize(
    "english",
    ["Beijing Xintai Technology Co., Ltd.", "BEIJING XINTAI TECHNOLOGY CO.,LTD", "Xintai Tech (Beijing) Limited",
     "Xintai Technology Co Ltd", "Beijing Xintai Keji Youxian Gongsi"],
)  # fmt: skip
def test_english_names_meet_the_chinese_name_through_pinyin(english: str) -> None:
    got = score_pair(NameQuery(english), CODE, XINTAI, "organisation")
    assert HIT <= got.score < 0.9 and "name.pinyin" in got.features, got


def test_same_trade_name_in_another_city_or_trade_is_another_firm() -> None:
    assert POSSIBLE <= _score("上海鑫泰科技有限公司") < HIT
    assert _score("Shanghai Xintai Technology Co., Ltd.") < HIT
    assert _score("北京鑫泰贸易有限公司") < POSSIBLE
    assert _score("北京鑫华科技有限公司") < HIT
    assert _score("Beijing Xinhua Technology Co., Ltd.") < HIT


def test_a_trade_name_that_is_also_a_city_stays_the_trade_name() -> None:
    org = read_organisation("Yiwu Taiyuan Trading Co., Ltd.")
    assert (org.region, org.trade) == ("义乌", "taiyuan")
    assert _score("Yiwu Taiyuan Trading Co., Ltd.", "义乌泰源贸易有限公司") >= HIT


def test_keys_skip_the_region_and_legal_form() -> None:
    assert "O鑫泰科技" in organisation_keys("鑫泰（北京）科技股份有限公司")
    assert "Txintai" in organisation_keys("鑫泰（北京）科技股份有限公司")
    assert "Uxintai" in organisation_keys("XINTAI TECH (BEIJING) CO., LTD.")
    assert organisation_keys("") == set() and organisation_keys("（）") == set()


def test_a_chinese_abbreviation_is_possible_and_an_english_name_without_industry_a_hit() -> None:
    # 鑫泰公司 names no industry, which a registered Chinese name always does: other firms share it.
    got = score_pair(NameQuery("鑫泰公司"), CODE, XINTAI, "organisation")
    assert POSSIBLE <= got.score < HIT and "name.trade_only" in got.features
    assert HIT <= _score("Xintai Co., Ltd.") < 0.8
    assert read_organisation("鑫泰股份公司").form == "jsc"
