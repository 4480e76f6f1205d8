"""Subject identifiers: parse, canonicalise, derive and mask.

Three forms are accepted (DESIGN.md section 3):

* an 18-character unified social credit code (GB 32100-2015) for organisations;
* an 18-character resident identity number (GB 11643-1999) for persons;
* ``passport:<ISO 3166 alpha-3>:<number>`` for persons without a resident number.

Check characters are computed by python-stdnum. A real pilot-era USCC that fails its check is accepted only
when the operator lists it explicitly (``allowlist``); it is then marked ``allowlisted`` so it is never silent.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from stdnum import numdb
from stdnum.cn import ric, uscc
from stdnum.exceptions import InvalidChecksum, ValidationError

__all__ = ["IdentifierError", "SubjectId", "SubjectKind", "kind_of", "mask", "parse"]

SubjectKind = Literal["person", "organisation"]

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_PASSPORT = re.compile(r"^passport:([A-Za-z]{3}):([A-Za-z0-9]{5,20})$")
_RIC_BODY = re.compile(r"^[0-9]{17}[0-9X]$")


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


def _region(code: str) -> tuple[str | None, str | None]:
    """Province and county names for a GB/T 2260 division code, from stdnum's bundled table."""
    parts = numdb.get("cn/loc").info(code)
    names = [v for _, info in parts for v in info.values() if v]
    if not names or len(parts) < 2:
        return code, None
    return code, "".join(dict.fromkeys(names))


def _uscc_expected(code: str) -> str:
    return str(uscc.calc_check_digit(code[:17]))


def _parse_uscc(raw: str, allowlist: frozenset[str]) -> SubjectId:
    bad = [(i + 1, ch) for i, ch in enumerate(raw) if ch not in _USCC_ALPHABET]
    if bad:
        pos, ch = bad[0]
        raise IdentifierError(raw, f"character {ch!r} at position {pos} is not allowed in a unified social credit code")
    try:
        uscc.validate(raw)
    except InvalidChecksum:
        if raw in allowlist:
            code, name = _region(raw[2:8])
            return SubjectId(raw, "organisation", "uscc", code, name, allowlisted=True)
        raise IdentifierError(
            raw,
            f"check character: expected {_uscc_expected(raw)!r}, found {raw[17]!r} "
            "(a pilot-era code that is real must be added to the operator allowlist)",
        ) from None
    except ValidationError as exc:
        raise IdentifierError(raw, f"invalid unified social credit code: {exc}") from None
    code, name = _region(raw[2:8])
    return SubjectId(raw, "organisation", "uscc", code, name)


def _parse_ric(raw: str) -> SubjectId:
    if not _RIC_BODY.match(raw):
        pos = next(i for i, ch in enumerate(raw) if not (ch.isdigit() or (i == 17 and ch == "X")))
        raise IdentifierError(raw, f"character {raw[pos]!r} at position {pos + 1} is not allowed in a resident ID")
    try:
        birth = dt.date(int(raw[6:10]), int(raw[10:12]), int(raw[12:14]))
    except ValueError:
        raise IdentifierError(raw, f"birth date {raw[6:14]!r} (positions 7-14) is not a real date") from None
    expected = str(ric.calc_check_digit(raw))  # stdnum wants the full number, check included
    if raw[17] != expected:
        raise IdentifierError(raw, f"check character: expected {expected!r}, found {raw[17]!r}")
    if birth > dt.date.today():
        raise IdentifierError(raw, f"birth date {birth.isoformat()} is in the future")
    code, name = _region(raw[:6])
    sex: Literal["male", "female"] = "male" if int(raw[16]) % 2 else "female"
    return SubjectId(raw, "person", "ric", code, name, birth, sex)


def _looks_like_ric(raw: str) -> bool:
    if not _RIC_BODY.match(raw):
        return False
    try:
        dt.date(int(raw[6:10]), int(raw[10:12]), int(raw[12:14]))
    except ValueError:
        return False
    return True


def parse(
    value: str, allowlist: frozenset[str] | set[str] = frozenset(), kind: SubjectKind | None = None
) -> SubjectId:
    """Parse any accepted identifier into its canonical form, or raise :class:`IdentifierError`.

    An 18-character value shaped like a resident ID (17 digits, a real birth date) is read as one; anything else
    as a USCC. ``kind`` settles the rare value that is valid as both.
    """
    if not isinstance(value, str):
        raise IdentifierError(repr(value), "an identifier must be a string")
    raw = value.strip()
    if not raw:
        raise IdentifierError(value, "empty identifier")
    if raw.lower().startswith("passport:"):
        m = _PASSPORT.match(raw)
        if not m:
            raise IdentifierError(value, "passport form is passport:<ISO 3166 alpha-3>:<5-20 letters or digits>")
        return SubjectId(f"passport:{m.group(1).upper()}:{m.group(2).upper()}", "person", "passport")
    raw = raw.replace(" ", "").upper()
    if len(raw) != 18:
        raise IdentifierError(
            value, f"length {len(raw)}: a unified social credit code or resident ID has 18 characters"
        )
    allow = frozenset(allowlist)
    if kind == "organisation" or raw in allow:
        return _parse_uscc(raw, allow)
    digits = raw[:17].isdigit()
    if kind == "person" or _looks_like_ric(raw) or (digits and not uscc.is_valid(raw)):
        if kind is None and not ric.is_valid(raw) and uscc.is_valid(raw):
            return _parse_uscc(raw, allow)
        return _parse_ric(raw)
    return _parse_uscc(raw, allow)


def kind_of(value: str) -> SubjectKind:
    """The kind of an already canonical identifier, judged by shape alone (no check-character test)."""
    return "person" if value.startswith("passport:") or _looks_like_ric(value) else "organisation"


def mask(value: str) -> str:
    """The identifier as the public may see it.

    A resident ID keeps only its region (positions 1-6) and check character: birth date and sequence are hidden.
    A passport keeps its country and last two characters. An organisation's code is public under the
    publication rule (SPC provisions art. 6) and stays whole. ``value`` is a canonical identifier already stored.
    """
    if value.startswith("passport:"):
        _, country, number = value.split(":", 2)
        return f"passport:{country}:" + "*" * max(len(number) - 2, 0) + number[-2:]
    if kind_of(value) == "person":
        return value[:6] + "*" * 11 + value[17:]
    return value
