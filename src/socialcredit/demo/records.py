"""What demo records look like: how often each category occurs, and the numbers and words of a decision.

Categories are taken from the catalogue generically, so a category added later is covered without a change
here: a weight is found by keyword in the category code (then by filing authority), else a small default.
The weights follow the shape of the real lists (DOMAIN.md): the court's defaulter and consumption-restriction
lists dwarf every sector list; sector blacklists come next; watch lists are small.
"""

from __future__ import annotations

import random

from ..catalogue import Catalogue, Category

__all__ = ["category_weight", "decision_numbers", "summary_for", "typical_days"]

# First matching keyword in the category code wins.
_CODE_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("judgment_defaulter_conduct", 6),
    ("judgment_defaulter", 40),
    ("consumption", 28),
    ("a_grade", 6),
    ("tax", 5),
    ("food", 3),
    ("drug", 3),
    ("procurement", 2),
    ("flight", 4),
    ("aviation", 4),
    ("air", 3),
    ("rail", 4),
    ("train", 4),
    ("wage", 2),
    ("safety", 2),
    ("environment", 1.5),
    ("customs", 1.5),
    ("construction", 1.5),
    ("bid", 1.5),
)
_AUTHORITY_WEIGHTS = {"court": 4, "sta": 4, "caac": 4, "railway": 4, "nmpa": 3, "samr": 3, "mof": 2}
_DEFAULT_WEIGHT = 1.0

# The character that names the kind of decision in its number, by authority (税稽罚: tax inspection penalty).
_LABELS = {
    "sta": "税稽罚",
    "samr": "市监罚",
    "nmpa": "药监罚",
    "mof": "财库罚",
    "caac": "民航限乘",
    "railway": "铁限乘",
    "ndrc": "发改信用",
    "gacc": "关缉违",
    "mohurd": "建罚",
}

_DEFAULTER_GROUNDS = (
    "有履行能力而拒不履行生效法律文书确定的义务",
    "以伪造证据、暴力、威胁等方法妨碍、抗拒执行",
    "以虚假诉讼、虚假仲裁或者以隐匿、转移财产等方法规避执行",
    "违反财产报告制度",
    "违反限制消费令",
    "无正当理由拒不履行执行和解协议",
)
_FLIGHT = (
    "在民用航空器上吸烟且拒不改正",
    "编造、故意传播涉及民航空防安全虚假信息",
    "强占座位、行李架，扰乱客舱秩序",
    "在机场冲闯安检通道",
)
_RAIL = ("在动车组列车上吸烟", "持伪造、无效车票乘车", "冲闯进站检票口", "霸占他人座位，扰乱站车秩序")
_TAX = ("虚开增值税专用发票", "逃避缴纳税款", "骗取出口退税", "逃避追缴欠税")
_FOOD = ("生产经营不符合食品安全标准的食品", "生产销售假药", "生产销售劣药", "未按规定召回不安全食品")
_PROCUREMENT = ("提供虚假材料谋取中标、成交", "与其他供应商恶意串通", "向采购人行贿")


def category_weight(cat: Category, catalogue: Catalogue) -> float:
    """How common a record of ``cat`` is relative to others of its list."""
    weight = next((w for key, w in _CODE_WEIGHTS if key in cat.code), None)
    if weight is None:
        weight = next(
            (_AUTHORITY_WEIGHTS[a] for a in cat.authorities if a in _AUTHORITY_WEIGHTS), _DEFAULT_WEIGHT
        )
    if cat.list == "watch":
        weight = min(weight, 2.0)
    return weight


def typical_days(cat: Category) -> int:
    """How long a record of ``cat`` runs, for spreading decision dates so that some have expired."""
    return cat.duration_days or cat.max_duration_days or 730


def decision_numbers(
    rng: random.Random,
    authority: str,
    province: str,
    region: str,
    year: int,
    serial: int,
    list_: str = "black",
) -> tuple[str, str]:
    """(external_id, decision_no): a court's enforcement case number and the judgment it enforces, or an
    administrative decision's own number (which is then both)."""
    if authority == "court":
        case = f"({year}){province}{region[2:6]}执{serial}号"
        basis = f"({year - rng.randint(1, 2)}){province}{region[2:6]}民初{rng.randint(100, 9999)}号"
        return case, basis
    label = "信用评价" if list_ == "red" else _LABELS.get(authority, authority.upper())
    number = f"{province}{label}〔{year}〕{serial}号"
    return number, number


def _amount(rng: random.Random) -> str:
    return f"{round(10 ** rng.uniform(3.5, 7.2), -2):,.0f}"


def summary_for(rng: random.Random, cat: Category, catalogue: Catalogue, year: int) -> str:
    """One sentence on the conduct, in the words such decisions use."""
    code = cat.code
    if "judgment_defaulter" in code:  # SPC provisions art. 1: ground 1 refusal, grounds 2-6 conduct
        grounds = _DEFAULTER_GROUNDS[1:] if "conduct" in code else _DEFAULTER_GROUNDS[:1]
        return f"{rng.choice(grounds)}，未履行金额{_amount(rng)}元"
    if "consumption" in code:
        return f"未按执行通知书指定的期间履行给付义务（执行标的{_amount(rng)}元），依法限制消费"
    if cat.list == "red":
        if "tax" in code or "a_grade" in code:
            return f"{year - 1}年度纳税信用评价为A级"
        return f"{cat.title}（{year - 1}年度）"
    if "flight" in code or "aviation" in code or "caac" in cat.authorities:
        return rng.choice(_FLIGHT)
    if "rail" in code or "train" in code or "railway" in cat.authorities:
        return rng.choice(_RAIL)
    if "tax" in code or "sta" in cat.authorities:
        return f"{rng.choice(_TAX)}{_amount(rng)}元，构成重大税收违法失信案件"
    if "food" in code or "drug" in code or "nmpa" in cat.authorities:
        return f"{rng.choice(_FOOD)}，受到{_amount(rng)}元罚款并被责令停产停业"
    if "procurement" in code or "mof" in cat.authorities:
        return f"{rng.choice(_PROCUREMENT)}，禁止参加政府采购活动"
    authority = catalogue.authorities.get(cat.authorities[0])
    by = f"，{authority.name}认定" if authority is not None else ""
    return f"{cat.title}{by}"
