"""Names for demo organisations, shaped as registered names are (企业名称登记管理规定): region, trade name
(字号), industry, organisational form; individual businesses and farmers' cooperatives as they are named.
"""

from __future__ import annotations

import random
from typing import Literal

from .identities import Region

__all__ = ["OrgKind", "organisation_name", "pick_org_kind"]

OrgKind = Literal["91", "92", "93"]  # enterprise, individual business (个体工商户), farmers' cooperative

_TRADE = "华鑫恒泰盛昌隆兴宏达信诚嘉禾瑞丰源安康顺远通联创新锦程天宇中汇佳美金博万科海润祥和德宝永辉"
_INDUSTRY = (
    ("科技", 8),
    ("贸易", 8),
    ("建筑工程", 6),
    ("房地产开发", 4),
    ("食品", 4),
    ("医药", 3),
    ("物流", 4),
    ("电子", 3),
    ("机械设备", 3),
    ("投资管理", 3),
    ("餐饮管理", 3),
    ("服装", 2),
    ("化工", 2),
    ("装饰工程", 3),
    ("信息技术", 4),
    ("汽车销售", 2),
    ("环保科技", 2),
    ("文化传媒", 2),
    ("农业开发", 2),
    ("劳务派遣", 2),
)
_FORM = (("有限公司", 70), ("有限责任公司", 15), ("股份有限公司", 8), ("集团有限公司", 2))
_SHOP = (
    "餐馆",
    "便利店",
    "五金店",
    "服装店",
    "美发店",
    "水果店",
    "建材经营部",
    "汽车修理部",
    "小吃店",
    "烟酒店",
)
_COOP = ("种植", "养殖", "果蔬", "茶叶", "农机")


def pick_org_kind(rng: random.Random) -> OrgKind:
    return rng.choices(("91", "92", "93"), weights=(85, 12, 3))[0]


def _trade_name(rng: random.Random, size: int = 2) -> str:
    return "".join(rng.sample(_TRADE, size))


def organisation_name(
    rng: random.Random, kind: OrgKind, region: Region, owner_surname: str, longer: bool = False
) -> str:
    """A registered name: ``北京鑫泰科技有限公司``, ``朝阳区张记餐馆``, ``义乌市恒丰果蔬专业合作社``.

    ``longer`` draws from a far larger set (three-character trade names), for when the usual names are taken.
    """
    size = 3 if longer else 2
    if kind == "92":
        if longer:
            return f"{region.county}{_trade_name(rng, size)}{rng.choice(_SHOP)}"
        return f"{region.county}{owner_surname}记{rng.choice(_SHOP)}"
    if kind == "93":
        return f"{region.county}{_trade_name(rng, size)}{rng.choice(_COOP)}专业合作社"
    industry = rng.choices([i for i, _ in _INDUSTRY], weights=[w for _, w in _INDUSTRY])[0]
    form = rng.choices([f for f, _ in _FORM], weights=[w for _, w in _FORM])[0]
    if rng.random() < 0.25:  # the region may also follow the trade name: 鑫泰（北京）科技有限公司
        return f"{_trade_name(rng, size)}（{region.city}）{industry}{form}"
    return f"{region.city}{_trade_name(rng, size)}{industry}{form}"
