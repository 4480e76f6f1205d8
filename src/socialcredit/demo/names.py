"""Chinese personal names for demo persons: surnames weighted by frequency, given names from character lists.

Surname weights are the approximate shares (per mille) of the most common surnames in the 2020 census
publication of the Ministry of Public Security (王 李 张 刘 陈 lead with about 5-7% each); the long tail is
folded into small equal weights. Given names are one character (about a fifth) or two, drawn from characters
common in male, female or either names.
"""

from __future__ import annotations

import itertools
import random
from typing import Literal

__all__ = ["SURNAMES", "person_name", "surname_of"]

# (surname, approximate share per mille)
SURNAMES: tuple[tuple[str, float], ...] = (
    ("王", 71),
    ("李", 70),
    ("张", 68),
    ("刘", 54),
    ("陈", 45),
    ("杨", 31),
    ("黄", 23),
    ("赵", 22),
    ("吴", 20),
    ("周", 19),
    ("徐", 13),
    ("孙", 12),
    ("马", 12),
    ("朱", 11),
    ("胡", 11),
    ("郭", 11),
    ("何", 10),
    ("林", 10),
    ("高", 10),
    ("罗", 9),
    ("郑", 9),
    ("梁", 8),
    ("谢", 7),
    ("宋", 7),
    ("唐", 7),
    ("许", 6),
    ("韩", 6),
    ("冯", 6),
    ("邓", 6),
    ("曹", 6),
    ("彭", 5),
    ("曾", 5),
    ("肖", 5),
    ("田", 5),
    ("董", 5),
    ("袁", 5),
    ("潘", 4),
    ("于", 4),
    ("蒋", 4),
    ("蔡", 4),
    ("余", 4),
    ("杜", 4),
    ("叶", 4),
    ("程", 4),
    ("苏", 4),
    ("魏", 4),
    ("吕", 4),
    ("丁", 3),
    ("任", 3),
    ("沈", 3),
    ("姚", 3),
    ("卢", 3),
    ("姜", 3),
    ("崔", 3),
    ("钟", 3),
    ("谭", 3),
    ("陆", 3),
    ("汪", 3),
    ("范", 3),
    ("金", 3),
    ("石", 3),
    ("廖", 3),
    ("贾", 3),
    ("夏", 3),
    ("韦", 3),
    ("付", 3),
    ("方", 3),
    ("白", 2),
    ("邹", 2),
    ("孟", 2),
    ("熊", 2),
    ("秦", 2),
    ("邱", 2),
    ("江", 2),
    ("尹", 2),
    ("薛", 2),
    ("闫", 2),
    ("段", 2),
    ("雷", 2),
    ("侯", 2),
    ("龙", 2),
    ("史", 2),
    ("陶", 2),
    ("黎", 2),
    ("贺", 2),
    ("顾", 2),
    ("毛", 2),
    ("郝", 2),
    ("龚", 2),
    ("邵", 2),
    ("万", 2),
    ("钱", 2),
    ("严", 2),
    ("覃", 2),
    ("武", 2),
    ("戴", 2),
    ("莫", 2),
    ("孔", 2),
    ("向", 2),
    ("欧阳", 0.5),
    ("司马", 0.1),
    ("诸葛", 0.1),
    ("上官", 0.1),
)

_MALE = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林峰建国志永海东亮成晨阳博文昊天宏振"
_FEMALE = "芳娜敏静丽艳娟霞秀玲桂英慧颖琳婷雪梅洁燕红兰琴云莉倩丹萍月欣怡佳悦妍瑶璐晶蕾薇婧"
_EITHER = "子晓思雨一可嘉心诗新春秋永明玉金立小海安乐辰宇佳文家"

_COMPOUND = frozenset(s for s, _ in SURNAMES if len(s) == 2)
_SURNAME_LIST = tuple(s for s, _ in SURNAMES)
_SURNAME_CUM = tuple(itertools.accumulate(w for _, w in SURNAMES))


def person_name(rng: random.Random, sex: Literal["male", "female"]) -> str:
    """A plausible full name for a person of ``sex``: surname then a one- or two-character given name."""
    surname = rng.choices(_SURNAME_LIST, cum_weights=_SURNAME_CUM)[0]
    own = _MALE if sex == "male" else _FEMALE
    if rng.random() < 0.2:
        return surname + rng.choice(own)
    first = rng.choice(own) if rng.random() < 0.6 else rng.choice(_EITHER)
    second = rng.choice(own)
    if second == first:
        second = rng.choice(_EITHER)
    return surname + first + second


def surname_of(name: str) -> str:
    """The surname of a name made by :func:`person_name` (compound surnames have two characters)."""
    return name[:2] if name[:2] in _COMPOUND else name[:1]
