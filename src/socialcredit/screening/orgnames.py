"""Organisation names: legal forms, region prefixes, industries and abbreviations, in Chinese and English.

A registered Chinese name is region + trade name (字号) + industry + organisational form
(企业名称登记管理规定): ``北京鑫泰科技有限公司``, or ``鑫泰（北京）科技有限公司``. :func:`read_organisation`
takes it apart so that names are compared on their distinctive part: the legal form is normalised
(有限公司 and 有限责任公司 are one form; "Co., Ltd." and "Limited" are it in English), the region is kept apart
(two firms of one trade name in two cities are two firms), the industry is named in Chinese whether written
as 科技, "Technology", "Tech" or "Keji", and the trade name is compared in pinyin, so "Beijing Xintai
Technology Co., Ltd." meets 北京鑫泰科技有限公司.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple

from pypinyin import lazy_pinyin

from ..demo.identities import REGIONS
from .names import fold, han_readings, is_han, normalise

__all__ = ["OrgName", "organisation_keys", "read_organisation"]

# Chinese legal forms, longest first, -> the form they are. "company" is the bare 公司, compatible with any.
_HAN_FORMS: tuple[tuple[str, str], ...] = (
    ("集团股份有限公司", "jsc"),
    ("股份有限公司", "jsc"),
    ("集团有限责任公司", "ltd"),
    ("集团有限公司", "ltd"),
    ("有限责任公司", "ltd"),
    ("有限公司", "ltd"),
    ("集团公司", "company"),
    ("股份公司", "jsc"),
    ("分公司", "branch"),
    ("公司", "company"),
    ("集团", "company"),
    ("专业合作社", "coop"),
    ("合作社", "coop"),
)
# English (and pinyin) legal-form words at the end of a name, as token tuples -> the form.
_LATIN_FORMS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("joint", "stock", "co", "ltd"), "jsc"),
    (("joint", "stock", "company", "limited"), "jsc"),
    (("joint", "stock", "company"), "jsc"),
    (("stock", "co", "ltd"), "jsc"),
    (("gufen", "youxian", "gongsi"), "jsc"),
    (("co", "ltd"), "ltd"),
    (("company", "limited"), "ltd"),
    (("limited", "liability", "company"), "ltd"),
    (("youxian", "zeren", "gongsi"), "ltd"),
    (("youxian", "gongsi"), "ltd"),
    (("ltd",), "ltd"),
    (("limited",), "ltd"),
    (("llc",), "ltd"),
    (("plc",), "jsc"),
    (("inc",), "company"),
    (("corp",), "company"),
    (("corporation",), "company"),
    (("company",), "company"),
    (("co",), "company"),
    (("gongsi",), "company"),
    (("group",), "company"),
    (("holdings",), "company"),
    (("branch",), "branch"),
    (("cooperative",), "coop"),
)
_LATIN_FORMS_LONGEST = sorted(_LATIN_FORMS, key=lambda wv: -len(wv[0]))
_ABBREVIATIONS = {
    "tech": "technology",
    "technologies": "technology",
    "sci": "science",
    "intl": "international",
    "int'l": "international",
    "mfg": "manufacturing",
    "dev": "development",
    "devt": "development",
    "mgmt": "management",
    "eng": "engineering",
    "engg": "engineering",
    "imp": "import",
    "exp": "export",
    "grp": "group",
    "hldgs": "holdings",
    "&": "and",
}
# Industries (行业) as the demo registry and real names use them; the English words that name each.
_INDUSTRIES: dict[str, tuple[str, ...]] = {
    "科技": ("technology", "science and technology", "sci tech"),
    "贸易": ("trading", "trade", "import and export"),
    "建筑工程": ("construction engineering", "construction"),
    "房地产开发": ("real estate development", "property development", "real estate"),
    "食品": ("food", "foods", "foodstuff"),
    "医药": ("pharmaceutical", "pharmaceuticals", "medicine"),
    "物流": ("logistics",),
    "电子": ("electronics", "electronic"),
    "机械设备": ("machinery equipment", "machinery"),
    "投资管理": ("investment management", "investment"),
    "餐饮管理": ("catering management", "catering"),
    "服装": ("garments", "garment", "clothing", "apparel"),
    "化工": ("chemical", "chemicals", "chemical industry"),
    "装饰工程": ("decoration engineering", "decoration"),
    "信息技术": ("information technology",),
    "汽车销售": ("automobile sales", "auto sales", "car sales"),
    "环保科技": ("environmental technology", "environmental protection technology"),
    "文化传媒": ("culture media", "cultural media", "media"),
    "农业开发": ("agricultural development", "agriculture development"),
    "劳务派遣": ("labour dispatch", "labor dispatch", "human resources"),
    "实业": ("industrial", "industry", "industries"),
    "发展": ("development",),
    "电器": ("electrical appliances", "electric"),
    "能源": ("energy",),
    "咨询": ("consulting",),
    "国际贸易": ("international trading", "international trade"),
    "种植专业": ("planting",),
    "养殖专业": ("breeding",),
}
_PROVINCES = [
    "河北",
    "山西",
    "内蒙古",
    "辽宁",
    "吉林",
    "黑龙江",
    "江苏",
    "浙江",
    "安徽",
    "福建",
    "江西",
    "山东",
    "河南",
    "湖北",
    "湖南",
    "广东",
    "广西",
    "海南",
    "四川",
    "贵州",
    "云南",
    "西藏",
    "陕西",
    "甘肃",
    "青海",
    "宁夏",
    "新疆",
    "北京",
    "天津",
    "上海",
    "重庆",
    "香港",
    "澳门",
    "台湾",
]
_PROVINCE_SET = frozenset((*_PROVINCES, "中国"))
_REGION_SUFFIXES = ("省", "市", "自治区", "特别行政区", "区", "县")


@lru_cache(maxsize=65_536)
def _pinyin_of(han: str) -> str:
    """The usual pinyin of a word, read as a phrase (都 in 成都 is du, not dou)."""
    return "".join(lazy_pinyin(han, errors="ignore"))


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, str], dict[tuple[str, ...], str], list[tuple[tuple[str, ...], str]]]:
    """Han region names (with and without 省/市/区) -> the region; Latin region token tuples -> the region;
    Latin industry token tuples -> the Chinese industry. Built once, from the data above and the demo's
    divisions."""
    han: dict[str, str] = {"中国": "中国"}
    for base in (*_PROVINCES, *(r.city for r in REGIONS)):
        han[base] = base
        for suffix in _REGION_SUFFIXES[:4]:
            han[base + suffix] = base
    for r in REGIONS:  # 义乌市 is the county-level city 义乌
        han[r.county] = r.county[:-1] if r.county.endswith("市") and r.county[:-1] in han else r.county
    latin_regions: dict[tuple[str, ...], str] = {
        (_pinyin_of(base),): base for base in (*_PROVINCES, *(r.city for r in REGIONS))
    }
    latin_regions |= {
        ("china",): "中国",
        ("zhongguo",): "中国",
        ("hong", "kong"): "香港",
        ("hongkong",): "香港",
    }
    latin_regions |= {("inner", "mongolia"): "内蒙古", ("chongqing",): "重庆", ("xian",): "西安"}
    industries: dict[tuple[str, ...], str] = {}
    for zh, words in _INDUSTRIES.items():
        industries[(_pinyin_of(zh),)] = zh
        for w in words:
            industries[tuple(w.split())] = zh
    return han, latin_regions, sorted(industries.items(), key=lambda wv: -len(wv[0]))


class OrgName(NamedTuple):
    folded: str
    han: bool  # written in Han
    region: str | None  # the region named in the name, as a Han name: 北京
    form: str | None  # "ltd", "jsc", "company", "branch", "coop"
    industry: str | None  # in Chinese: 科技
    trade: str  # the trade name: 鑫泰 (Han) or xintai (Latin)
    trade_pinyin: tuple[str, ...]  # its readings in toneless pinyin, syllables joined

    @property
    def distinctive(self) -> str:
        return self.trade + (self.industry or "")


_PAREN = re.compile(r"[(（\[【]([^)）\]】]*)[)）\]】]")
_HAN_INDUSTRIES = sorted(_INDUSTRIES, key=len, reverse=True)


def _read_han(folded_text: str, text: str) -> OrgName:
    han_regions = _tables()[0]
    region: str | None = None
    # A region in brackets anywhere (鑫泰（北京）科技) is the region; other bracketed words stay in the name.
    for inner in _PAREN.findall(text):
        got = han_regions.get(inner.strip())
        if got is not None:
            region = region or got
            text = text.replace(f"({inner})", " ").replace(f"（{inner}）", " ")
    body = "".join(c for c in text if is_han(c) or c.isalnum())
    form: str | None = None
    for suffix, kind in _HAN_FORMS:
        if body.endswith(suffix) and len(body) > len(suffix):
            body, form = body[: -len(suffix)], kind
            break
    stripped = True
    while stripped:  # 广东省深圳市...: every leading region, the last (most specific) kept
        stripped = False
        for size in range(min(8, len(body) - 1), 1, -1):
            got = han_regions.get(body[:size])
            if got is not None:
                region, body, stripped = (region if got == "中国" and region else got), body[size:], True
                break
    industry: str | None = None
    for zh in _HAN_INDUSTRIES:
        if body.endswith(zh) and len(body) > len(zh):
            body, industry = body[: -len(zh)], zh
            break
    # A trade name in its characters' usual readings only: a firm's English name follows them, and the rarer
    # readings would only add false matches (盛安 is Sheng'an, not Cheng'an).
    reading = "".join(han_readings(c)[0] for c in body[:30])
    return OrgName(folded_text, True, region, form, industry, body, (reading,))


def _take_suffix(tokens: list[str], table: Iterable[tuple[tuple[str, ...], str]]) -> str | None:
    for words, value in table:  # longest first
        n = len(words)
        if len(tokens) > n and tuple(tokens[-n:]) == words:
            del tokens[-n:]
            return value
    return None


def _region_at(tokens: list[str], at: int) -> tuple[str | None, int]:
    """The region named by the one or two tokens at ``at`` (a negative ``at`` counts from the end)."""
    latin_regions = _tables()[1]
    for size in (2, 1):
        words = tuple(tokens[at : at + size] if at >= 0 else tokens[at - size + 1 : len(tokens) + at + 1])
        if len(words) == size and len(tokens) > size and words in latin_regions:
            return latin_regions[words], size
    return None, 0


def _read_latin(folded_text: str, text: str) -> OrgName:
    _, latin_regions, industries = _tables()
    region: str | None = None
    for inner in _PAREN.findall(text):  # "Xintai Technology (Beijing) Co., Ltd."
        got = latin_regions.get(tuple(inner.split()))
        if got is not None:
            region = region or got
            text = text.replace(f"({inner})", " ")
    tokens = [_ABBREVIATIONS.get(t, t) for t in re.findall(r"[a-z0-9&']+", text)]
    tokens = [t for t in tokens if t not in ("the", "and")]
    form = _take_suffix(tokens, _LATIN_FORMS_LONGEST)
    while _take_suffix(tokens, _LATIN_FORMS_LONGEST):  # "Group Co., Ltd.": the most specific form is kept
        pass
    # Regions lead the name or close it ("Guangdong Shenzhen Xintai", "Xintai Technology Beijing"); a
    # region's name inside the name is a trade name (Yiwu Taiyuan Trading: 太原 is also a city).
    while True:  # a province or China may precede the city; a city is the last region that leads
        got, size = _region_at(tokens, 0)
        if got is None:
            break
        region, tokens = got, tokens[size:]
        if got not in _PROVINCE_SET:
            break
    got, size = _region_at(tokens, -1)
    if got is not None:
        region, tokens = region or got, tokens[:-size]
    industry = _take_suffix(tokens, industries)
    trade = "".join(tokens)
    return OrgName(folded_text, False, region, form, industry, trade, (trade,))


@lru_cache(maxsize=262_144)
def read_organisation(name: str) -> OrgName:
    """An organisation's name taken apart (cached)."""
    folded = fold(name)
    if not folded:
        return OrgName("", False, None, None, None, "", ())
    text = normalise(name)
    if any(is_han(c) for c in folded):
        return _read_han(folded, text)
    return _read_latin(folded, text)


def organisation_keys(name: str) -> set[str]:
    """Index keys of an organisation's name: ``F`` the folded name; ``O`` the distinctive part (trade name
    and industry, without region or legal form); ``T`` the trade name in pinyin (``U`` when the name is
    written in Latin letters)."""
    org = read_organisation(name)
    if not org.folded:
        return set()
    keys = {"F" + org.folded.replace(" ", "")}
    if org.trade:
        keys.add("O" + org.distinctive)
        tag = "T" if org.han else "U"
        keys.update(tag + t for t in org.trade_pinyin if t)
    return keys
