"""Valid identifiers for demo subjects: resident identity numbers and unified social credit codes.

Division codes are a curated list of real, current GB/T 2260 county-level codes (each checked against
python-stdnum's ``cn/loc`` table by the tests), weighted roughly by the economic weight of the city, so the
demo registry looks like a national one rather than one district.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from dataclasses import dataclass
from typing import Literal

from stdnum.cn import ric, uscc

__all__ = [
    "PROVINCE_ABBR",
    "REGIONS",
    "Region",
    "organisation_code",
    "pick_region",
    "resident_id",
    "unified_code",
]


@dataclass(frozen=True, slots=True)
class Region:
    code: str  # GB/T 2260 county-level division code
    city: str  # the short city name a company name starts with
    county: str  # the county or district name, as in stdnum's cn/loc table
    weight: float


_R = Region
REGIONS: tuple[Region, ...] = (
    _R("110101", "北京", "东城区", 2),
    _R("110102", "北京", "西城区", 2),
    _R("110105", "北京", "朝阳区", 4),
    _R("110106", "北京", "丰台区", 2),
    _R("110108", "北京", "海淀区", 4),
    _R("110112", "北京", "通州区", 2),
    _R("110114", "北京", "昌平区", 2),
    _R("120101", "天津", "和平区", 1),
    _R("120104", "天津", "南开区", 2),
    _R("120116", "天津", "滨海新区", 3),
    _R("130102", "石家庄", "长安区", 2),
    _R("130202", "唐山", "路南区", 1),
    _R("130602", "保定", "竞秀区", 1),
    _R("130681", "涿州", "涿州市", 1),
    _R("140105", "太原", "小店区", 2),
    _R("150102", "呼和浩特", "新城区", 1),
    _R("210102", "沈阳", "和平区", 2),
    _R("210202", "大连", "中山区", 2),
    _R("220102", "长春", "南关区", 1),
    _R("230102", "哈尔滨", "道里区", 2),
    _R("310101", "上海", "黄浦区", 2),
    _R("310104", "上海", "徐汇区", 2),
    _R("310105", "上海", "长宁区", 2),
    _R("310112", "上海", "闵行区", 3),
    _R("310115", "上海", "浦东新区", 5),
    _R("320102", "南京", "玄武区", 2),
    _R("320106", "南京", "鼓楼区", 2),
    _R("320214", "无锡", "新吴区", 2),
    _R("320282", "宜兴", "宜兴市", 1),
    _R("320505", "苏州", "虎丘区", 2),
    _R("320506", "苏州", "吴中区", 2),
    _R("330106", "杭州", "西湖区", 3),
    _R("330108", "杭州", "滨江区", 2),
    _R("330203", "宁波", "海曙区", 2),
    _R("330302", "温州", "鹿城区", 2),
    _R("330782", "义乌", "义乌市", 2),
    _R("340104", "合肥", "蜀山区", 2),
    _R("350102", "福州", "鼓楼区", 2),
    _R("350203", "厦门", "思明区", 2),
    _R("350582", "晋江", "晋江市", 1),
    _R("360102", "南昌", "东湖区", 2),
    _R("370102", "济南", "历下区", 2),
    _R("370202", "青岛", "市南区", 2),
    _R("370602", "烟台", "芝罘区", 1),
    _R("370702", "潍坊", "潍城区", 1),
    _R("410105", "郑州", "金水区", 3),
    _R("410302", "洛阳", "老城区", 1),
    _R("420102", "武汉", "江岸区", 2),
    _R("420106", "武汉", "武昌区", 2),
    _R("430102", "长沙", "芙蓉区", 2),
    _R("430104", "长沙", "岳麓区", 2),
    _R("440103", "广州", "荔湾区", 2),
    _R("440106", "广州", "天河区", 4),
    _R("440304", "深圳", "福田区", 3),
    _R("440305", "深圳", "南山区", 4),
    _R("440306", "深圳", "宝安区", 3),
    _R("440604", "佛山", "禅城区", 2),
    _R("441900", "东莞", "东莞市", 3),
    _R("442000", "中山", "中山市", 2),
    _R("450103", "南宁", "青秀区", 2),
    _R("460105", "海口", "秀英区", 1),
    _R("500103", "重庆", "渝中区", 2),
    _R("500112", "重庆", "渝北区", 3),
    _R("510104", "成都", "锦江区", 2),
    _R("510107", "成都", "武侯区", 3),
    _R("510108", "成都", "成华区", 2),
    _R("520102", "贵阳", "南明区", 1),
    _R("530102", "昆明", "五华区", 2),
    _R("540102", "拉萨", "城关区", 0.5),
    _R("610103", "西安", "碑林区", 2),
    _R("610113", "西安", "雁塔区", 3),
    _R("620102", "兰州", "城关区", 1),
    _R("630102", "西宁", "城东区", 0.5),
    _R("640104", "银川", "兴庆区", 0.5),
    _R("650102", "乌鲁木齐", "天山区", 1),
)
_CUM = tuple(itertools.accumulate(r.weight for r in REGIONS))

# The one-character abbreviation of each province, by the first two digits of a division code (case numbers
# and decision numbers start with it).
PROVINCE_ABBR = {
    "11": "京",
    "12": "津",
    "13": "冀",
    "14": "晋",
    "15": "蒙",
    "21": "辽",
    "22": "吉",
    "23": "黑",
    "31": "沪",
    "32": "苏",
    "33": "浙",
    "34": "皖",
    "35": "闽",
    "36": "赣",
    "37": "鲁",
    "41": "豫",
    "42": "鄂",
    "43": "湘",
    "44": "粤",
    "45": "桂",
    "46": "琼",
    "50": "渝",
    "51": "川",
    "52": "贵",
    "53": "云",
    "54": "藏",
    "61": "陕",
    "62": "甘",
    "63": "青",
    "64": "宁",
    "65": "新",
}

_ORG_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
# Characters allowed in a unified code (GB 32100-2015: no I, O, S, V, Z).
_USCC_LETTERS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def pick_region(rng: random.Random) -> Region:
    return rng.choices(REGIONS, cum_weights=_CUM)[0]


def resident_id(region: str, birth: dt.date, sequence: int) -> str:
    """A valid resident identity number (GB 11643-1999); an odd ``sequence`` (1-999) is a man."""
    body = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return body + str(
        ric.calc_check_digit(body + "0")
    )  # stdnum reads a full number and ignores its last char


def organisation_code(body: str) -> str:
    """A GB 11714 organisation code: eight characters and their check character."""
    total = sum(_ORG_ALPHABET.index(c) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def unified_code(rng: random.Random, region: str, prefix: Literal["91", "92", "93"]) -> str:
    """A valid unified social credit code: authority and category ``prefix``, division, organisation code.

    Since 2015 most new codes carry an organisation code beginning ``MA`` (issued with the unified code);
    older firms keep an all-digit one.
    """
    if rng.random() < 0.6:
        body = "MA" + "".join(rng.choices(_USCC_LETTERS, k=6))
    else:
        body = f"{rng.randrange(10**8):08d}"
    code = prefix + region + organisation_code(body)
    return code + str(uscc.calc_check_digit(code))
