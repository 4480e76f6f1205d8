"""Name folding and the keys of a person's name.

``fold`` makes two spellings of one name one string: NFKC (full-width letters and digits to half-width),
control and format characters dropped, traditional characters to simplified (OpenCC ``t2s``), tone marks
dropped (``ü`` kept apart as ``v``, as pinyin keyboards write it), case folded, punctuation to spaces, and the
spaces inside Han text removed (``張 偉`` and ``张伟`` fold alike).

A person's name is read into :class:`Reading` s: a surname and a given name in toneless pinyin. A Han name
gives one reading per combination of its characters' readings (heteronyms), the surname in its reading as a
surname (单 Shàn, 曾 Zēng) and compound surnames (欧阳) kept whole. A Latin name gives one reading per
plausible order (surname first, surname last; a comma or a capitalised surname settles it) and, for a
non-pinyin surname (Chang, Cheung, Wong, Lee), one reading per pinyin surname it stands for, at a cost.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from functools import lru_cache
from typing import NamedTuple

import opencc
from pypinyin import Style, pinyin

from ..demo.names import SURNAMES
from .romanise import COMPOUND_SURNAMES, SURNAME_READINGS, VARIANT_SURNAMES

__all__ = [
    "MAX_NAME",
    "PersonName",
    "Reading",
    "fold",
    "han_readings",
    "is_han",
    "normalise",
    "person_keys",
    "read_person",
]

MAX_NAME = 1000  # characters of a name read; a registered name is far shorter (the longest run to ~60)
_MAX_READINGS = 8  # heteronym combinations kept per name: enough for real names, bounded for odd input
# Costs subtracted from a reading's score: a character's less usual reading, the surname-last order when
# nothing says it, a non-pinyin surname spelling.
HETERONYM_COST = 0.02
ORDER_COST = 0.02
VARIANT_COST = 0.08

_T2S = opencc.OpenCC("t2s")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_BETWEEN_HAN = re.compile(
    r"(?<=[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f])\s+"
    r"(?=[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f])"
)
_NOT_WORD = re.compile(r"[\W_]+")
_LATIN_TOKEN = re.compile(r"[^\W\d_]+|\d+")


def is_han(ch: str) -> bool:
    o = ord(ch)
    return 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x3134F


_PLAIN_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")  # nothing NFKC, case or punctuation would change
_ACCENTED = re.compile(r"[\u0080-\u024f\u0300-\u036f\u1e00-\u1eff]")


@lru_cache(maxsize=262_144)
def normalise(text: str) -> str:
    """NFKC, controls dropped, simplified, tone marks dropped, case folded; punctuation kept."""
    text = text[:MAX_NAME]
    if _PLAIN_HAN.fullmatch(text):  # the common registered name: only simplification can change it
        return str(_T2S.convert(text))
    text = unicodedata.normalize("NFKC", text)
    if not text.isprintable():
        text = "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in text)
    if _HAN.search(text):
        text = _T2S.convert(text)
    if _ACCENTED.search(text):
        # Tone marks off; ü (ǚ, ǜ...) is v, as pinyin keyboards and passports (LV, LYU) write it.
        text = unicodedata.normalize("NFKD", text).replace("u\u0308", "v").replace("U\u0308", "V")
        text = unicodedata.normalize("NFC", "".join(c for c in text if not unicodedata.combining(c)))
    return text.casefold()


@lru_cache(maxsize=262_144)
def fold(text: str) -> str:
    """The folded form of a name: equal for spellings that differ only in script width, traditional or
    simplified characters, case, tone marks, punctuation or spacing."""
    if _PLAIN_HAN.fullmatch(text):
        return normalise(text)
    text = " ".join(_NOT_WORD.sub(" ", normalise(text)).split())
    return _BETWEEN_HAN.sub("", text)


@lru_cache(maxsize=65_536)
def han_readings(ch: str) -> tuple[str, ...]:
    """Toneless pinyin readings of one character, the usual first (at most three); the character itself
    when it has none (a letter or digit inside a Han name)."""
    if not is_han(ch):
        return (ch,)
    got = pinyin(ch, style=Style.NORMAL, heteronym=True, errors="default")[0]
    out = tuple(dict.fromkeys(r for r in got if r.isascii() and r.isalpha()))[:3]
    return out or (ch,)


class Reading(NamedTuple):
    surname: str  # toneless pinyin, syllables joined: "zhang", "ouyang"
    given: str  # joined: "weiming"; initials only when ``abbreviated``
    initials: str  # first letter of each given syllable or token: "wm"
    abbreviated: bool  # the given name is written as initials (Zhang W.)
    cost: float  # 0 for the usual reading; see HETERONYM_COST, ORDER_COST, VARIANT_COST
    how: str  # "pinyin", "heteronym", "surname last", "variant spelling"


class PersonName(NamedTuple):
    folded: str
    han: str | None  # the folded Han name when the name is written in Han
    surname_han: str | None
    readings: tuple[Reading, ...]


def _split_han(han: str) -> tuple[str, str]:
    if han[:2] in COMPOUND_SURNAMES or han[:2] in SURNAME_READINGS:
        return han[:2], han[2:]
    return han[:1], han[1:]


@lru_cache(maxsize=8_192)
def _surname_readings(surname: str) -> tuple[tuple[str, float], ...]:
    """A surname's readings as a surname: the table's, else its characters' usual readings (陆 is Lu as a
    surname, never Liu; the exceptions are in SURNAME_READINGS)."""
    special = SURNAME_READINGS.get(surname)
    if special is not None:
        return ((special[0], 0.0), *((r, HETERONYM_COST) for r in special[1:]))
    return (("".join(han_readings(c)[0] for c in surname), 0.0),)


@lru_cache(maxsize=65_536)
def _given_readings(given: str) -> tuple[tuple[str, str, float], ...]:
    """(joined syllables, initials, cost) per combination of the characters' readings, the usual first."""
    combos = itertools.islice(itertools.product(*(han_readings(c) for c in given)), _MAX_READINGS)
    return tuple(
        ("".join(g), "".join(x[0] for x in g), 0.0 if i == 0 else HETERONYM_COST)
        for i, g in enumerate(combos)
    )


def _readings_of_han(han: str) -> tuple[Reading, ...]:
    surname, given = _split_han(han)
    out = [
        Reading(s, g, initials, False, s_cost + g_cost, "pinyin" if s_cost + g_cost == 0 else "heteronym")
        for s, s_cost in _surname_readings(surname)
        for g, initials, g_cost in _given_readings(given)
    ]
    return tuple(out[:_MAX_READINGS])


@lru_cache(maxsize=1)
def _surname_pinyin() -> frozenset[str]:
    known = {r for s, _ in SURNAMES for r in ("".join(han_readings(c)[0] for c in s),)}
    known |= {r[0] for r in SURNAME_READINGS.values()}
    known |= {"".join(han_readings(c)[0] for c in s) for s in COMPOUND_SURNAMES}
    return frozenset(known)


def _surname_spellings(token: str) -> list[tuple[str, float, str]]:
    out = [(token, 0.0, "pinyin")]
    out += [(p, VARIANT_COST, "variant spelling") for p in VARIANT_SURNAMES.get(token, ()) if p != token]
    return out


def _latin_reading(surname: str, given: list[str], cost: float, how: str) -> list[Reading]:
    abbreviated = bool(given) and all(len(t) == 1 for t in given)
    initials = "".join(t[0] for t in given)
    out = []
    for s, s_cost, s_how in _surname_spellings(surname):
        out.append(Reading(s, "".join(given), initials, abbreviated, cost + s_cost, s_how if s_cost else how))
    return out


def _readings_of_latin(raw: str, folded: str) -> tuple[Reading, ...]:
    base = normalise(raw)
    # A comma says "surname, given"; a token in capitals among others is the surname (ZHANG Wei, Wei ZHANG).
    if "," in base:
        head, _, tail = base.partition(",")
        s_tokens, g_tokens = _LATIN_TOKEN.findall(head), _LATIN_TOKEN.findall(tail)
        if s_tokens:
            return tuple(_latin_reading("".join(s_tokens), g_tokens, 0.0, "pinyin"))
    raw_tokens = _LATIN_TOKEN.findall(unicodedata.normalize("NFKC", raw[:MAX_NAME]))
    tokens = [t for t in (fold(t) for t in raw_tokens) if t]
    if not tokens:
        return ()
    caps = [i for i, t in enumerate(raw_tokens) if len(t) > 1 and t.isupper()]
    out: list[Reading] = []
    if len(tokens) == 1:
        token = tokens[0]
        # "zhangwei": a known surname at the start.
        for cut in (2, 3, 4, 5, 6):
            if token[:cut] in _surname_pinyin() and len(token) > cut:
                out += _latin_reading(token[:cut], [token[cut:]], ORDER_COST, "pinyin")
        return tuple(out) or tuple(_latin_reading(token, [], 0.0, "pinyin"))
    if len(caps) == 1 and len(tokens) == len(raw_tokens) and len(tokens) > 1:
        i = caps[0]
        return tuple(_latin_reading(tokens[i], tokens[:i] + tokens[i + 1 :], 0.0, "pinyin"))
    out += _latin_reading(tokens[0], tokens[1:], 0.0, "pinyin")
    if len(tokens[-1]) > 1:  # "Zhang W.": an initial is no surname
        out += _latin_reading(tokens[-1], tokens[:-1], ORDER_COST, "surname last")
    if len(tokens) > 2 and tokens[0] + tokens[1] in _surname_pinyin():
        out += _latin_reading(tokens[0] + tokens[1], tokens[2:], ORDER_COST, "pinyin")
    return tuple(out)


@lru_cache(maxsize=262_144)
def read_person(name: str) -> PersonName:
    """The readings of a person's name, Han or Latin (cached: a register repeats names)."""
    folded = fold(name)
    if not folded:
        return PersonName("", None, None, ())
    han_chars = sum(1 for c in folded if is_han(c))
    if han_chars and han_chars >= len(folded.replace(" ", "")) / 2:
        han = folded.replace(" ", "")
        return PersonName(folded, han, _split_han(han)[0], _readings_of_han(han))
    return PersonName(folded, None, None, _readings_of_latin(name, folded))


def person_keys(name: str) -> set[str]:
    """Index keys of a person's name: ``H`` the folded Han name; ``P`` surname and given name in pinyin, one
    per reading (``Q`` when the name is written in Latin letters); ``I`` surname and first initial (for
    Zhang W.); ``M`` a Han name of three to six characters with one character masked (near matches)."""
    person = read_person(name)
    keys: set[str] = set()
    if person.han is not None:
        keys.add("H" + person.han)
        if 3 <= len(person.han) <= 6:  # a longer "person name" is no name: no near keys for it
            keys.update(f"M{person.han[:i]}_{person.han[i + 1 :]}" for i in range(len(person.han)))
    tag = "P" if person.han is not None else "Q"
    for r in person.readings:
        if not r.abbreviated:
            keys.add(f"{tag}{r.surname}:{r.given}")
        if r.initials:
            keys.add(f"I{r.surname}:{r.initials[0]}")
    return keys
