"""The name index and its scores: order of evidence, no saturation, namesakes told apart, explanations,
candidates through keys only, bad queries refused naming the field (issue 17 point 4)."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from socialcredit.demo.identities import resident_id, unified_code
from socialcredit.demo.names import person_name
from socialcredit.screening import HIT, POSSIBLE, NameIndex, NameQuery, score_pair
from socialcredit.screening import matcher as matcher_module

BORN = dt.date(1990, 3, 7)
ZHANG_WEI = resident_id("110105", BORN, 123)
NAMESAKE = resident_id("440305", dt.date(1971, 8, 1), 55)
XINTAI = unified_code(random.Random(1), "110105", "91")


@pytest.fixture(scope="module")
def index() -> NameIndex:
    rng = random.Random(5)
    rows = [
        (ZHANG_WEI, "张伟", "person"),
        (NAMESAKE, "张伟", "person"),
        (XINTAI, "北京鑫泰科技有限公司", "organisation"),
    ]
    rows += [(resident_id("310115", BORN, n), person_name(rng, "male"), "person") for n in range(1, 999)]
    rows += [("", "", "person"), ("x", "   ", "person")]  # rows without a name are left out
    return NameIndex.build(rows)


def test_evidence_orders_the_scores_and_none_saturates() -> None:
    # Users' first complaint about other matchers: everything scores 1.0. 1.0 is an exact identifier's alone.
    def s(q: str, name: str = "张伟") -> float:
        return score_pair(NameQuery(q), ZHANG_WEI, name, "person").score

    exact, pinyin, variant, near = s("张伟"), s("Zhang Wei"), s("Cheung Wei"), s("Zhang Wie")
    assert 1.0 > exact > pinyin > variant > near > 0
    best = score_pair(NameQuery("张伟", birth_date=BORN, region="11"), ZHANG_WEI, "张伟", "person")
    assert exact < best.score < 1.0
    assert best.features == {"name.exact": 0.9, "birth_date.agrees": 0.06, "region.agrees": 0.02}
    assert sum(best.features.values()) == pytest.approx(best.score)
    assert "birth date agrees" in best.explanation and "region agrees" in best.explanation


def test_short_names_score_as_high_as_long_ones() -> None:
    # The second complaint: short names score low. A two-character name matches as well as a four.
    short = score_pair(NameQuery("Li Na"), ZHANG_WEI, "李娜", "person").score
    long = score_pair(NameQuery("Ouyang Xiaoming"), ZHANG_WEI, "欧阳晓明", "person").score
    assert short == long >= HIT


def test_a_namesake_with_another_birth_date_or_region_falls_below_hit(index: NameIndex) -> None:
    got = index.match(NameQuery("张伟", birth_date=BORN), limit=5)
    assert [m.subject_id for m in got[:2]] == [ZHANG_WEI, NAMESAKE]
    assert got[0].score >= HIT > got[1].score >= POSSIBLE
    assert got[1].features["birth_date.differs"] < 0 and "born 1971-08-01" in got[1].explanation
    by_region = index.match(NameQuery("Zhang Wei", region="44"), limit=2)
    assert by_region[0].subject_id == NAMESAKE and by_region[0].score >= HIT > by_region[1].score


def test_kind_tells_a_person_from_a_firm(index: NameIndex) -> None:
    assert index.match(NameQuery("北京鑫泰科技有限公司", kind="person")) == []
    got = index.match(NameQuery("Beijing Xintai Technology Co., Ltd.", kind="organisation"))
    assert [m.subject_id for m in got] == [XINTAI] and got[0].kind == "organisation"
    abbreviated = index.match(NameQuery("鑫泰公司"))  # found through the trade name's key, as possible
    assert [m.subject_id for m in abbreviated] == [XINTAI] and abbreviated[0].score < HIT
    off = score_pair(
        NameQuery("北京鑫泰科技有限公司", kind="person"), XINTAI, "北京鑫泰科技有限公司", "organisation"
    )
    assert off.score < POSSIBLE and off.features["kind.differs"] < 0


def test_limit_threshold_and_order(index: NameIndex) -> None:
    assert len(index) == 1001
    got = index.match(NameQuery("Zhang W."), limit=3, threshold=0.0)
    assert len(got) == 3 and [m.score for m in got] == sorted((m.score for m in got), reverse=True)
    assert index.match(NameQuery("张伟"), limit=0) == []
    assert all(m.score >= HIT for m in index.match(NameQuery("张伟"), threshold=HIT))
    assert index.match(NameQuery("")) == [] and index.match(NameQuery("。，！")) == []


def test_candidates_come_from_the_index_not_a_scan(index: NameIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    scored: list[str] = []
    real = matcher_module._score_names

    def counting(query: NameQuery, name: str, kind: str) -> object:
        scored.append(name)
        return real(query, name, kind)

    monkeypatch.setattr(matcher_module, "_score_names", counting)
    index.match(NameQuery("Zhang Wei"))
    index.match(NameQuery("Nobody Atall"))
    assert 0 < len(scored) < 50, len(scored)  # of 1,001 subjects


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"name": "张" * 10_000}, "name"), ({"name": 5}, "name"), ({"name": "x", "kind": "company"}, "kind"),
     ({"name": "x", "region": "1101"}, None), ({"name": "x", "region": "abc"}, "region"),
     ({"name": "x", "region": "1234567"}, "region"), ({"name": "x", "birth_date": "1990-03-07"}, "birth_date")],
)  # fmt: skip
def test_bad_queries_are_refused_naming_the_field(fields: dict[str, object], field: str | None) -> None:
    if field is None:
        NameQuery(**fields)  # type: ignore[arg-type]
        return
    with pytest.raises(ValueError, match=rf"^{field}: "):
        NameQuery(**fields)  # type: ignore[arg-type]


def test_control_characters_and_odd_subject_names_do_not_break_the_index() -> None:
    index = NameIndex.build(
        [("a", "张\x00伟", "person"), ("b", "\u202e伟张", "person"), ("c", "！！", "organisation")]
    )
    assert [m.subject_id for m in index.match(NameQuery("张伟"))] == ["a"]
    assert index.match(NameQuery("\x07\x08")) == []


def test_a_huge_listed_name_does_not_flood_the_index() -> None:
    # An attacker (or a broken import) listing a 1,000-character name must not add a key per character.
    index = NameIndex.build([("a", "张" * 1_000, "person"), ("b", "张伟", "person")])
    assert sum(len(v) for v in index._keys.values()) < 20
    assert [m.subject_id for m in index.match(NameQuery("张伟"))] == ["b"]


def test_building_leaves_the_garbage_collector_as_it_found_it() -> None:
    import gc

    NameIndex.build([("a", "张伟", "person")])
    assert gc.isenabled()
    gc.disable()
    try:
        NameIndex.build([("a", "张伟", "person")])
        assert not gc.isenabled()
    finally:
        gc.enable()
