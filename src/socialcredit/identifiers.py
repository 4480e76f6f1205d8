"""Subject identifiers: parse, canonicalise, derive and mask.

Three forms are accepted (DESIGN.md section 3):

* an 18-character unified social credit code (GB 32100-2015) for organisations;
* an 18-character resident identity number (GB 11643-1999) for persons;
* ``passport:<ISO 3166 alpha-3>:<number>`` for persons without a resident number.

Check characters are computed by python-stdnum. A real pilot-era USCC that fails its check is accepted
only when the operator lists it explicitly (``allowlist``); it is then marked ``allowlisted``, never silent.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from operator import mul
from typing import Literal, NamedTuple, NoReturn

from stdnum import numdb
from stdnum.cn import ric

__all__ = ["IdentifierError", "SubjectId", "SubjectKind", "kind_of", "mask", "parse"]

SubjectKind = Literal["person", "organisation"]

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_PASSPORT = re.compile(r"^passport:([A-Za-z]{3}):([A-Za-z0-9]{5,20})$")
_RIC_BODY = re.compile(r"^[0-9]{17}[0-9X]$")
_MIN_BIRTH_YEAR = 1850
# Birth dates before this day are never in the future, so the clock is read only for the rare later one.
_NOT_FUTURE_BEFORE = dt.date.today() - dt.timedelta(days=1)
# GB/T 2260 province-level codes: the first two digits of every resident ID.
_PROVINCES = frozenset(
    [str(n) for n in (*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55))]
    + [str(n) for n in (*range(61, 66), 71, 81, 82)]
)


class IdentifierError(ValueError):
    """An identifier that cannot be accepted; the message says what is wrong and where."""

    def __init__(self, value: str, reason: str) -> None:
        self.value = value
        self.reason = reason
        super().__init__(f"{value!r}: {reason}")


@dataclass(frozen=True, slots=True)
class SubjectId:
    canonical: str
    kind: SubjectKind
    scheme: Literal["uscc", "ric", "passport"]
    region_code: str | None = None
    region: str | None = None
    birth_date: dt.date | None = None
    sex: Literal["male", "female"] | None = None
    allowlisted: bool = False

    def __str__(self) -> str:
        return self.canonical


@lru_cache(maxsize=8192)
def _region(code: str) -> tuple[str | None, str | None]:
    """Province and county names for a GB/T 2260 division code, from stdnum's bundled table (cached: the
    table lookup is the slowest step of a parse, and a registry sees a few thousand codes at most)."""
    parts = numdb.get("cn/loc").info(code)
    names: list[str] = []
    for _, info in parts:
        for v in info.values():
            # stdnum marks renamed counties as "[start-end]name,[start-]name": keep the current (last) name.
            current = v.split(",")[-1]
            name = current.split("]", 1)[1] if current.startswith("[") else current
            if name and name not in names:
                names.append(name)
    if not names or len(parts) < 2:
        return code, None
    return code, "".join(names)


_USCC_VALUE = {ch: i for i, ch in enumerate(_USCC_ALPHABET)}
_USCC_SET = frozenset(_USCC_ALPHABET)
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # GB 32100-2015: weight 3^(i-1) mod 31


def _uscc_expected(code: str) -> str:
    """The USCC check character, as ``stdnum.cn.uscc.calc_check_digit`` computes it (a test asserts they
    agree); written out because stdnum's re-cleaning of the input dominated the import's profile."""
    total = sum(map(mul, map(_USCC_VALUE.__getitem__, code[:17]), _USCC_WEIGHTS))
    return _USCC_ALPHABET[(31 - total) % 31]


def _uscc_valid(raw: str) -> bool:
    """Equivalent to ``stdnum.cn.uscc.is_valid`` on an 18-character, upper-case value."""
    return raw[:8].isdigit() and _USCC_SET.issuperset(raw[8:]) and raw[17] == _uscc_expected(raw)


_USCC_SHAPE = re.compile(r"^[0-9]{8}[0-9A-HJ-NPQRTUW-Y]{10}$")


def _parse_uscc(raw: str, allowlist: frozenset[str]) -> SubjectId:
    if not _USCC_SHAPE.match(raw):
        _uscc_shape_error(raw)
    expected = _uscc_expected(raw)
    code, name = _region(raw[2:8])
    if raw[17] != expected:
        if raw in allowlist:
            return SubjectId(raw, "organisation", "uscc", code, name, allowlisted=True)
        raise IdentifierError(
            raw,
            f"check character: expected {expected!r}, found {raw[17]!r} "
            "(a pilot-era code that is real must be added to the operator allowlist)",
        )
    return SubjectId(raw, "organisation", "uscc", code, name)


def _uscc_shape_error(raw: str) -> NoReturn:
    """Raise the error naming the first character out of place in a 18-character value."""
    for i, ch in enumerate(raw):
        if ch not in _USCC_ALPHABET:
            raise IdentifierError(
                raw,
                f"character at position {i + 1}: expected one of {_USCC_ALPHABET} "
                f"(no I, O, S, V, Z) in a unified social credit code, found {ch!r}",
            )
    if not raw[:8].isdigit():
        pos = next(i for i, ch in enumerate(raw[:8]) if not ch.isdigit())
        raise IdentifierError(
            raw,
            f"character at position {pos + 1}: expected a digit (positions 1-8 are registration authority, "
            f"category and division code), found {raw[pos]!r}",
        )
    raise IdentifierError(raw, "not a unified social credit code")  # unreachable for 18 characters


def _parse_ric(raw: str, birth: dt.date | None = None, expected: str | None = None) -> SubjectId:
    """A resident ID; ``birth`` and ``expected`` when the caller already read them (``_ric_birth`` and the
    check character)."""
    if birth is None:
        birth = _ric_birth(raw)
        if birth is None:
            _ric_shape_error(raw)
    if expected is None:
        expected = str(ric.calc_check_digit(raw))  # stdnum wants the full number, check included
    if raw[17] != expected:
        raise IdentifierError(raw, f"check character: expected {expected!r}, found {raw[17]!r}")
    if birth >= _NOT_FUTURE_BEFORE and birth > dt.date.today():
        raise IdentifierError(raw, f"birth date {birth.isoformat()} is in the future")
    code, name = _region(raw[:6])
    return SubjectId(raw, "person", "ric", code, name, birth, "male" if int(raw[16]) % 2 else "female")


def _ric_shape_error(raw: str) -> NoReturn:
    """Raise the error of an 18-character value that ``_ric_birth`` refuses: the first of a character out of
    place, a date that does not exist, a birth year before 1850."""
    if not _RIC_BODY.match(raw):
        pos = next(i for i, ch in enumerate(raw) if not (ch.isdigit() or (i == 17 and ch == "X")))
        want = "a digit or X" if pos == 17 else "a digit"
        raise IdentifierError(
            raw, f"character at position {pos + 1}: expected {want} in a resident ID, found {raw[pos]!r}"
        )
    try:
        dt.date(int(raw[6:10]), int(raw[10:12]), int(raw[12:14]))
    except ValueError:
        raise IdentifierError(raw, f"birth date {raw[6:14]!r} (positions 7-14) is not a real date") from None
    raise IdentifierError(raw, f"birth year {raw[6:10]!r} (positions 7-10) is before {_MIN_BIRTH_YEAR}")


def _ric_birth(raw: str) -> dt.date | None:
    """The birth date of a value shaped like a resident ID (17 digits, a digit or X, a real date from 1850), else
    None."""
    if not _RIC_BODY.match(raw) or int(raw[6:10]) < _MIN_BIRTH_YEAR:
        return None
    try:
        return dt.date(int(raw[6:10]), int(raw[10:12]), int(raw[12:14]))
    except ValueError:
        return None


def parse(
    value: str, allowlist: frozenset[str] | set[str] = frozenset(), kind: SubjectKind | None = None
) -> SubjectId:
    """Parse any accepted identifier into its canonical form, or raise :class:`IdentifierError`.

    An 18-character value shaped like a resident ID (17 digits, a real birth date) is read as one, unless its
    check character fails as a resident ID and passes as a USCC; anything else is read as a USCC. ``kind``
    settles the rare value that is valid as both.
    """
    if not isinstance(value, str):
        raise IdentifierError(repr(value), "an identifier must be a string")
    allow = allowlist if isinstance(allowlist, frozenset) else frozenset(allowlist)
    return _parse(value, allow, kind)


@lru_cache(maxsize=65536)
def _parse(value: str, allow: frozenset[str], kind: SubjectKind | None) -> SubjectId:
    # Cached: the same persons recur (legal representatives, repeated checks); frozensets cache their hash.
    raw = value.strip()
    if not raw:
        raise IdentifierError(value, "empty identifier")
    if raw[:9].lower() == "passport:":
        m = _PASSPORT.match(raw)
        if not m:
            raise IdentifierError(
                value, "passport form is passport:<ISO 3166 alpha-3>:<5-20 letters or digits>"
            )
        country = m.group(1).upper()
        if country not in _alpha3():
            raise IdentifierError(
                value, f"passport country {m.group(1)!r} is not an ISO 3166-1 alpha-3 country code"
            )
        return SubjectId(f"passport:{country}:{m.group(2).upper()}", "person", "passport")
    raw = raw.replace(" ", "").upper()
    if len(raw) != 18:
        raise IdentifierError(
            value,
            f"length: expected 18 characters (unified social credit code or resident ID), found {len(raw)}",
        )
    if kind == "organisation" or raw in allow:
        return _parse_uscc(raw, allow)
    if kind == "person":
        return _parse_ric(raw)
    birth = _ric_birth(raw)
    if birth is not None:
        # An all-digit USCC can look like a resident ID; a valid USCC wins when the resident-ID check fails or
        # the first two digits are no province (USCCs start 91, 92, 93... for enterprises).
        expected = str(ric.calc_check_digit(raw))
        if (raw[17] != expected or raw[:2] not in _PROVINCES) and _uscc_valid(raw):
            return _parse_uscc(raw, allow)
        return _parse_ric(raw, birth, expected)  # the shape, date and check character read once
    if _ric_like(raw) and not _uscc_valid(raw):
        # Digits with an impossible birth date, or with one letter in them: say so, as a resident ID.
        return _parse_ric(raw)
    return _parse_uscc(raw, allow)


def _ric_like(raw: str) -> bool:
    """An 18-character value a person meant as a resident ID: a province code in front, a digit or X last, and
    the 17 before all digits or all but one (one mistyped character, as in ``11010519800101A012``)."""
    return (
        raw[:2] in _PROVINCES and raw[17] in "0123456789X" and sum(not ch.isdigit() for ch in raw[:17]) <= 1
    )


@lru_cache(maxsize=1)
def _alpha3() -> frozenset[str]:
    """ISO 3166-1 alpha-3 codes, from pycountry's copy of the standard (loaded on the first passport)."""
    import pycountry

    return frozenset(c.alpha_3 for c in pycountry.countries)


class Ident(NamedTuple):
    """What :func:`parse_plain` reads of an identifier: the fields an import stores, as :class:`SubjectId` has them."""

    canonical: str
    kind: SubjectKind
    region_code: str | None
    region: str | None
    birth_date: dt.date | None
    allowlisted: bool = False


_BIRTHS: dict[str, dt.date | None] = {}  # positions 7-14 of a resident ID -> the birth date, None if none


def _birth(digits: str) -> dt.date | None:
    hit = _BIRTHS.get(digits, False)
    if hit is False:
        if len(_BIRTHS) > 50_000:
            _BIRTHS.clear()
        hit = _BIRTHS[digits] = _ric_birth(f"000000{digits}0000")
    return hit  # type: ignore[return-value]


def parse_plain(raw: str, allowlist: frozenset[str]) -> Ident | None:
    """The common identifier of an import, read faster than :func:`parse` reads it, with the same result: a
    valid resident ID, or a valid unified social credit code that is not 17 digits after a province code (so
    :func:`parse` cannot read it as a resident ID), canonical as given. Anything else, or an allowlisted value,
    gives None: call :func:`parse`, which reads it or words its error (a test holds the two equal)."""
    if len(raw) != 18 or not raw.isascii() or raw in allowlist:
        return None
    if raw[:17].isdigit() and raw[:2] in _PROVINCES:
        birth = _birth(raw[6:14])
        if (
            birth is None
            or birth >= _NOT_FUTURE_BEFORE
            or raw[17] != ric.calc_check_digit(raw)  # stdnum wants the full number, check included
        ):
            return None
        code, name = _region(raw[:6])
        return Ident(raw, "person", code, name, birth)
    if not _USCC_SHAPE.match(raw) or raw[17] != _uscc_expected(raw):
        return None
    code, name = _region(raw[2:8])
    return Ident(raw, "organisation", code, name, None)


def trim_parse_cache(limit: int) -> None:
    """Forget remembered parses once there are more than ``limit``: for a process that sees mostly new
    identifiers (an import's workers), where the full cache would cost tens of MB and save little."""
    if _parse.cache_info().currsize > limit:
        _parse.cache_clear()


def kind_of(value: str) -> SubjectKind:
    """The kind of an already canonical identifier, judged by shape alone (no check-character test)."""
    return "person" if value.startswith("passport:") or _ric_birth(value) is not None else "organisation"


def mask(value: str) -> str:
    """The identifier as the public may see it.

    A resident ID keeps only its region (positions 1-6) and check character: birth date and sequence are
    hidden. A passport keeps its country and last two characters. An organisation's code is public under the
    publication rule (SPC provisions art. 6) and stays whole. ``value`` is a canonical stored identifier.
    """
    if value.startswith("passport:"):
        _, country, number = value.split(":", 2)
        return f"passport:{country}:" + "*" * max(len(number) - 2, 0) + number[-2:]
    if kind_of(value) == "person":
        return value[:6] + "*" * 11 + value[17:]
    return value
