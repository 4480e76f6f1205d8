"""The evaluation set for matching by name (issue 17 point 5): labelled pairs made by rules from realistic
names (the demo's generators), the same for the same seed.

A pair is a query (as a file row gives it: a name, perhaps a kind, a birth date, a region) and a listed
subject (identifier, name, kind). True matches are the same subject written otherwise: traditional
characters, pinyin in the orders and cases registers and passports use, full-width letters, tone marks, a
Hong Kong or Wade-Giles surname, initials with a birth date; for organisations the legal form, region and
English name varied. Hard non-matches are the ones a careless matcher takes: the same surname, the same given
name, a homophone written with other characters, a namesake with another birth date or region, a firm of the
same trade name in another city or trade.

The romanisation here is the generator's own (pypinyin's reading of the name, a short surname-reading table,
a short Hong Kong table), written independently of the matcher's tables.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from dataclasses import dataclass

import opencc
from pypinyin import Style, lazy_pinyin

from socialcredit.demo import names as demo_names
from socialcredit.demo.identities import REGIONS, pick_region, resident_id, unified_code
from socialcredit.demo.names import person_name, surname_of
from socialcredit.demo.organisations import organisation_name
from socialcredit.screening import NameQuery

__all__ = ["Pair", "evaluation_set"]

SEED = 17
_S2T = opencc.OpenCC("s2t")
# Surnames read otherwise as surnames, as a passport office writes them.
_SURNAME_PINYIN = {"曾": "Zeng", "单": "Shan", "覃": "Qin", "区": "Ou", "仇": "Qiu", "解": "Xie", "查": "Zha"}
_HONG_KONG = {
    "张": "Cheung",
    "黄": "Wong",
    "王": "Wong",
    "李": "Lee",
    "陈": "Chan",
    "周": "Chow",
    "刘": "Lau",
    "林": "Lam",
    "吴": "Ng",
    "梁": "Leung",
    "何": "Ho",
    "郭": "Kwok",
    "杨": "Yeung",
    "谢": "Tse",
    "曾": "Tsang",
    "邓": "Tang",
    "冯": "Fung",
    "蔡": "Choi",
}
_WADE_GILES = {
    "张": "Chang",
    "陈": "Chen",
    "黄": "Huang",
    "徐": "Hsu",
    "谢": "Hsieh",
    "周": "Chou",
    "郭": "Kuo",
}
_INDUSTRY_EN = {
    "科技": "Technology",
    "贸易": "Trading",
    "建筑工程": "Construction Engineering",
    "房地产开发": "Real Estate Development",
    "食品": "Food",
    "医药": "Pharmaceutical",
    "物流": "Logistics",
    "电子": "Electronics",
    "机械设备": "Machinery Equipment",
    "投资管理": "Investment Management",
    "餐饮管理": "Catering Management",
    "服装": "Garments",
    "化工": "Chemical",
    "装饰工程": "Decoration Engineering",
    "信息技术": "Information Technology",
    "汽车销售": "Automobile Sales",
    "环保科技": "Environmental Technology",
    "文化传媒": "Culture Media",
    "农业开发": "Agricultural Development",
    "劳务派遣": "Labour Dispatch",
}
# Characters common in given names beside the demo's, for homophones written otherwise (伟/玮/炜, 静/婧/靖).
_MORE_GIVEN = "玮炜维薇卫巍蔚钧君骏峻靖婧菁晶京敬涛韬滔磊蕾垒丽莉俐立力励黎芳方昉明铭鸣敏闵民慧惠蕙辉晖徽"
_MORE_SURNAMES = "单仇解查"
_TRADE_CHARS = "华鑫恒泰盛昌隆兴宏达信诚嘉禾瑞丰源安康顺远通联创新锦程天宇中汇佳美"
_SOUND_ALIKE = dict(zip("鑫新泰华恒昌兴宏达信诚瑞丰源安通", "新心太桦衡常星鸿大欣成睿峰元岸同", strict=True))


@dataclass(frozen=True, slots=True)
class Pair:
    query: NameQuery
    subject_id: str
    name: str
    kind: str
    label: bool  # the same subject
    rule: str


def _title(syllables: list[str]) -> str:
    return "".join(syllables).capitalize()


def _romanised(surname: str, given: str, tones: bool = False) -> tuple[str, str]:
    style = Style.TONE if tones else Style.NORMAL
    sur = _SURNAME_PINYIN.get(surname) or _title(lazy_pinyin(surname, style=style))
    return sur, _title(lazy_pinyin(given, style=style))


def _homophones(pool: str) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for c in dict.fromkeys(pool):
        groups.setdefault(lazy_pinyin(c)[0], []).append(c)
    return {c: [o for o in g if o != c] for g in groups.values() if len(g) > 1 for c in g}


class _Maker:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seq = 0
        chars = demo_names._MALE + demo_names._FEMALE + demo_names._EITHER + _MORE_GIVEN
        self.given_chars = chars
        self.homophones = _homophones(chars)

    def person(self, name: str | None = None) -> tuple[str, str, dt.date]:
        rng = self.rng
        if name is None:
            name = person_name(rng, rng.choice(("male", "female")))
            if rng.random() < 0.03:  # a few surnames with a reading of their own as surnames
                name = rng.choice(_MORE_SURNAMES) + name[len(surname_of(name)) :]
        born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(55 * 365))
        self.seq = self.seq % 998 + 1
        return resident_id(pick_region(rng).code, born, self.seq), name, born

    def organisation(self) -> tuple[str, str, str]:
        region = pick_region(self.rng)
        return (
            unified_code(self.rng, region.code, "91"),
            organisation_name(self.rng, "91", region, "张"),
            region.code,
        )


def _split(name: str) -> tuple[str, str]:
    surname = name[0] if name[0] in _MORE_SURNAMES else surname_of(name)
    return surname, name[len(surname) :]


def _person_positive(m: _Maker, sid: str, name: str, born: dt.date) -> tuple[NameQuery, str]:
    rng = m.rng
    surname, given = _split(name)
    sur, giv = _romanised(surname, given)
    rules = ["exact", "traditional", "spaced", "pinyin", "caps comma", "western order", "hyphenated",
             "full-width", "passport", "tone marks", "initials with birth date"]  # fmt: skip
    if surname in _HONG_KONG or surname in _WADE_GILES:
        rules += ["variant surname"]
    # A typo makes a near match, which scores below HIT by design (decision 0900): 3% of true matches, about
    # the share of mistyped names in a clerk's file, so the recall at HIT says what it costs.
    rule = "pinyin with a typo" if rng.random() < 0.03 else rng.choice(rules)
    syllables = lazy_pinyin(given)
    variants = [v for v in (_HONG_KONG.get(surname), _WADE_GILES.get(surname)) if v]
    text = {
        "exact": name,
        "traditional": _S2T.convert(name),
        "spaced": " ".join(name),
        "pinyin": f"{sur} {giv}",
        "caps comma": f"{sur.upper()}, {giv}",
        "western order": f"{giv} {sur}",
        "hyphenated": f"{sur} " + "-".join(s.capitalize() for s in syllables),
        "full-width": "".join(
            chr(ord(c) + 0xFEE0) if c.isalpha() else "\u3000" for c in f"{sur} {giv}".upper()
        ),
        "passport": f"{sur} {giv}".upper(),
        "tone marks": " ".join(_romanised(surname, given, tones=True)),
        "initials with birth date": f"{sur} {giv[0]}.",
        "variant surname": f"{rng.choice(variants) if variants else sur} {giv}",
        "pinyin with a typo": f"{sur} {_typo(rng, giv)}",
    }[rule]
    with_birth = rule == "initials with birth date" or rng.random() < 0.4
    region = sid[:2] if rng.random() < 0.2 else None
    kind = "person" if rng.random() < 0.5 else None
    return NameQuery(text, kind, born if with_birth else None, region), rule


def _typo(rng: random.Random, word: str) -> str:
    """One letter of ``word`` doubled, dropped or swapped with the next (a clerk's slip)."""
    if len(word) < 3:
        return word + word[-1]
    i = rng.randrange(1, len(word) - 1)
    slip = rng.choice(("double", "drop", "swap"))
    if slip == "double":
        return word[: i + 1] + word[i:]
    if slip == "drop":
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def _other_given(m: _Maker, given: str) -> str:
    while True:
        other = "".join(m.rng.choice(m.given_chars) for _ in given)
        if other != given and lazy_pinyin(other) != lazy_pinyin(given):
            return other


def _person_negative(m: _Maker, name: str, born: dt.date, sid: str) -> tuple[NameQuery, str, str] | None:
    """A query and the name of another listed subject it must not be taken for."""
    rng = m.rng
    surname, given = _split(name)
    rule = rng.choice(["same surname", "same given name", "homophone", "namesake other birth date",
                       "namesake other birth date, pinyin", "namesake other region", "pinyin of another",
                       "pinyin of another, same initial", "one character more"])  # fmt: skip
    if rule == "same surname":
        return NameQuery(name), surname + _other_given(m, given), rule
    if rule == "same given name":
        other = surname
        while other == surname or lazy_pinyin(other) == lazy_pinyin(surname):
            other = _split(person_name(rng, "male"))[0]
        return NameQuery(name), other + given, rule
    if rule == "homophone":
        spots = [i for i, c in enumerate(given) if c in m.homophones]
        if not spots:
            return None
        i = rng.choice(spots)
        return (
            NameQuery(name),
            surname + given[:i] + rng.choice(m.homophones[given[i]]) + given[i + 1 :],
            rule,
        )
    if rule.startswith("namesake other birth date"):
        other = born + dt.timedelta(days=rng.choice((-1, 1)) * rng.randrange(30, 9000))
        text = name if rule.endswith("date") else " ".join(_romanised(surname, given))
        return NameQuery(text, birth_date=other), name, rule
    if rule == "namesake other region":
        other = rng.choice([r.code[:2] for r in REGIONS if r.code[:2] != sid[:2]])
        return NameQuery(name, region=other), name, rule
    if rule == "one character more":  # 李娜 is not 李娜娜
        return NameQuery(name), name + m.rng.choice(m.given_chars), rule
    sur, giv = _romanised(surname, given)
    if rule == "pinyin of another, same initial":  # Zhang Wen is not 张伟
        for _ in range(50):
            other = _romanised(surname, _other_given(m, given))[1]
            if other[0] == giv[0]:
                return NameQuery(f"{sur} {other}"), name, rule
        return None
    return NameQuery(f"{sur} {_romanised(surname, _other_given(m, given))[1]}"), name, rule


def _org_parts(name: str) -> tuple[str, str, str, str] | None:
    """(region, trade, industry, form) of a demo enterprise name, or None for one it cannot take apart."""
    for form in ("集团有限公司", "股份有限公司", "有限责任公司", "有限公司"):
        if name.endswith(form):
            body = name[: -len(form)]
            break
    else:
        return None
    if "（" in body:
        trade, rest = body.split("（", 1)
        region, industry = rest.split("）", 1)
        return region, trade, industry, form
    for r in sorted({r.city for r in REGIONS}, key=len, reverse=True):
        if body.startswith(r):
            rest = body[len(r) :]
            for industry in sorted(_INDUSTRY_EN, key=len, reverse=True):
                if rest.endswith(industry):
                    return r, rest[: -len(industry)], industry, form
    return None


def _org_positive(m: _Maker, name: str) -> tuple[NameQuery, str] | None:
    parts = _org_parts(name)
    if parts is None:
        return None
    region, trade, industry, form = parts
    rng = m.rng
    pin_region, pin_trade = _title(lazy_pinyin(region)), _title(lazy_pinyin(trade))
    en_form = {"有限公司": "Co., Ltd.", "有限责任公司": "Co., Ltd.", "股份有限公司": "Co., Ltd.",
               "集团有限公司": "Group Co., Ltd."}[form]  # fmt: skip
    rule = rng.choice(["exact", "traditional", "region in brackets", "region with 市", "no region",
                       "limited liability", "english", "english caps, region in brackets", "pinyin",
                       "english, no region"])  # fmt: skip
    limited = {"有限公司": "有限责任公司", "有限责任公司": "有限公司"}.get(form, form)
    text = {
        "exact": name,
        "traditional": _S2T.convert(name),
        "region in brackets": f"{trade}（{region}）{industry}{form}",
        "region with 市": f"{region}市{trade}{industry}{form}",
        "no region": f"{trade}{industry}{form}",
        "limited liability": f"{region}{trade}{industry}{limited}",
        "english": f"{pin_region} {pin_trade} {_INDUSTRY_EN[industry]} {en_form}",
        "english caps, region in brackets": f"{pin_trade} {_INDUSTRY_EN[industry]} ({pin_region}) {en_form}".upper(),
        "pinyin": f"{pin_region} {pin_trade} {_title(lazy_pinyin(industry))} Youxian Gongsi",
        "english, no region": f"{pin_trade} {_INDUSTRY_EN[industry]} Co., Ltd.",
    }[rule]
    return NameQuery(text, "organisation" if rng.random() < 0.5 else None), rule


def _org_negative(m: _Maker, name: str) -> tuple[NameQuery, str, str] | None:
    parts = _org_parts(name)
    if parts is None:
        return None
    region, trade, industry, form = parts
    rng = m.rng
    rule = rng.choice(["same trade name, other city", "same trade name, other trade", "other trade name",
                       "english of another", "homophone trade name", "english, other trade"])  # fmt: skip
    other_city = rng.choice(sorted({r.city for r in REGIONS} - {region}))
    other_industry = rng.choice(sorted(set(_INDUSTRY_EN) - {industry}))
    other_trade = trade
    while other_trade == trade or lazy_pinyin(other_trade) == lazy_pinyin(trade):
        other_trade = "".join(
            rng.sample("华鑫恒泰盛昌隆兴宏达信诚嘉禾瑞丰源安康顺远通联创新锦程天宇中汇佳美", len(trade))
        )
    if rule == "same trade name, other city":
        return NameQuery(name), f"{other_city}{trade}{industry}{form}", rule
    if rule == "same trade name, other trade":
        return NameQuery(name), f"{region}{trade}{other_industry}{form}", rule
    if rule == "other trade name":
        return NameQuery(name), f"{region}{other_trade}{industry}{form}", rule
    if rule == "english, other trade":  # Beijing Xintai Trading is not 北京鑫泰科技
        text = f"{_title(lazy_pinyin(region))} {_title(lazy_pinyin(trade))} {_INDUSTRY_EN[other_industry]} Co., Ltd."
        return NameQuery(text), name, rule
    if rule == "english of another":
        text = f"{_title(lazy_pinyin(region))} {_title(lazy_pinyin(other_trade))} {_INDUSTRY_EN[industry]} Co., Ltd."
        return NameQuery(text), name, rule
    sound = _SOUND_ALIKE
    spots = [i for i, c in enumerate(trade) if c in sound]
    if not spots:
        return None
    i = rng.choice(spots)
    return NameQuery(name), f"{region}{trade[:i]}{sound[trade[i]]}{trade[i + 1 :]}{industry}{form}", rule


def evaluation_set(persons: int = 1_000, organisations: int = 500, seed: int = SEED) -> list[Pair]:
    """About ``2 * (persons + organisations)`` labelled pairs: one true match and one hard non-match made
    from each generated subject (fewer where a rule does not apply)."""
    m = _Maker(seed)
    pairs: list[Pair] = []
    for _ in range(persons):
        sid, name, born = m.person()
        query, rule = _person_positive(m, sid, name, born)
        pairs.append(Pair(query, sid, name, "person", True, rule))
        got = _person_negative(m, name, born, sid)
        if got is not None:
            query, other_name, rule = got
            if other_name == name:  # the same name: another subject, told apart by date or region
                other_sid = sid
            else:
                other_sid = m.person(other_name)[0]
            pairs.append(Pair(query, other_sid, other_name, "person", False, rule))
    for _ in range(organisations):
        sid, name, _code = m.organisation()
        pos = _org_positive(m, name)
        if pos is not None:
            pairs.append(Pair(pos[0], sid, name, "organisation", True, pos[1]))
        neg = _org_negative(m, name)
        if neg is not None:
            other_sid = sid if neg[1] == name else m.organisation()[0]
            pairs.append(Pair(neg[0], other_sid, neg[1], "organisation", False, neg[2]))
    return pairs


def rule_counts(pairs: list[Pair]) -> Counter[tuple[bool, str]]:
    return Counter((p.label, p.rule) for p in pairs)
