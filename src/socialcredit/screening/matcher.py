"""Matching by name: an inverted index of name keys, and scores in [0, 1] explained feature by feature.

The score is the sum of its features (decision 0900). The name gives the base: an exact folded name 0.90, a
pinyin match between Han and Latin 0.80 (less 0.02 for a character's less usual reading or an unmarked
surname-last order), a variant romanisation of the surname (Chang, Cheung, Wong, Lee) 0.72, a given name
written as initials 0.66, a near match at most 0.60. Then what the input gives beside the name: a birth
date that agrees +0.06 or differs -0.30, a region that agrees +0.02 or differs -0.25 (the region of a
resident ID never changes), a kind that differs -0.50; for organisations a region named in both names that
differs -0.25, a legal form that differs -0.05. Nothing reaches 1.0, which an exact identifier alone scores
(``screening.by_id``).
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from .. import identifiers
from .names import MAX_NAME, PersonName, person_keys, read_person
from .orgnames import OrgName, organisation_keys, read_organisation

__all__ = [
    "HIT",
    "POSSIBLE",
    "NameIndex",
    "NameMatch",
    "NameQuery",
    "listed_keys",
    "lookup_keys",
    "score_pair",
]

HIT = 0.70
POSSIBLE = 0.50

EXACT, PINYIN, INITIALS, NEAR = 0.90, 0.80, 0.66, 0.60
MISSING_INDUSTRY = 0.04  # an organisation name that names no industry, against one that does
BIRTH_AGREES, BIRTH_DIFFERS = 0.06, -0.30
REGION_AGREES, REGION_DIFFERS = 0.02, -0.25
KIND_DIFFERS, FORM_DIFFERS = -0.50, -0.05
_NEAR_FLOOR = 75.0  # rapidfuzz ratio (0-100) below which two names are not near
_BUCKET_CAP = 2_000  # names scanned for near matches in one key's bucket
_KINDS = ("person", "organisation")


@dataclass(frozen=True, slots=True)
class NameQuery:
    name: str
    kind: str | None = None  # "person" | "organisation" | None
    birth_date: dt.date | None = None
    region: str | None = None  # a 2-, 4- or 6-digit administrative code prefix

    def __post_init__(self) -> None:
        # Refuse what cannot be a name, naming the field; an empty or all-punctuation name is accepted and
        # simply matches nothing.
        if not isinstance(self.name, str):
            raise ValueError(f"name: must be text, got {type(self.name).__name__}")
        if len(self.name) > MAX_NAME:
            raise ValueError(f"name: {len(self.name)} characters, at most {MAX_NAME}")
        if self.kind is not None and self.kind not in _KINDS:
            raise ValueError(f"kind: {self.kind!r} is neither 'person' nor 'organisation'")
        if self.birth_date is not None and not isinstance(self.birth_date, dt.date):
            raise ValueError(f"birth_date: {self.birth_date!r} is not a date")
        if self.region is not None and (
            not isinstance(self.region, str) or len(self.region) not in (2, 4, 6) or not self.region.isdigit()
        ):
            raise ValueError(f"region: {self.region!r} is not a 2-, 4- or 6-digit administrative code prefix")


@dataclass(frozen=True, slots=True)
class NameMatch:
    subject_id: str
    name: str
    kind: str
    score: float  # in [0, 1], never saturating
    features: dict[str, float]  # feature -> contribution to the score (the explanation)
    explanation: str


_Scored = tuple[float, dict[str, float], list[str]]


def _ratio(a: str, b: str) -> float:
    return float(fuzz.ratio(a, b))


def _score_persons(q: PersonName, s: PersonName) -> _Scored:
    if not q.folded or not s.folded:
        return 0.0, {}, ["no name to compare"]
    if q.folded == s.folded or (q.han is not None and q.han == s.han):
        return EXACT, {"name.exact": EXACT}, [f"name {s.folded} = {q.folded}"]
    if q.han is not None and s.han is not None:
        # Two Han names that differ: never more than near, even when they sound alike (张伟, 张玮).
        same_sound = {(r.surname, r.given) for r in q.readings} & {(r.surname, r.given) for r in s.readings}
        if same_sound:
            return NEAR, {"name.homophone": NEAR}, [f"{q.han} sounds as {s.han} but is written otherwise"]
    best: _Scored = (0.0, {}, [])
    for qr in q.readings:
        for sr in s.readings:
            if qr.surname != sr.surname:
                continue
            cost = qr.cost + sr.cost
            if not qr.abbreviated and not sr.abbreviated and qr.given == sr.given:
                how = sr.how if sr.cost >= qr.cost else qr.how
                feats = {"name.pinyin": PINYIN}
                if cost:
                    feats[f"reading.{how.replace(' ', '_')}"] = -cost
                value = PINYIN - cost
                why = [f"pinyin {qr.surname} {qr.given} = {s.folded} ({sr.surname} {sr.given}, {how})"]
            elif (
                (qr.abbreviated or sr.abbreviated) and qr.initials and sr.initials.startswith(qr.initials)
            ) or (sr.abbreviated and qr.initials.startswith(sr.initials) and sr.initials):
                feats = {"name.initials": INITIALS}
                if cost:
                    feats["reading.cost"] = -cost
                value = INITIALS - cost
                why = [f"surname {qr.surname} and initials {qr.initials} fit {s.folded}"]
            else:
                continue
            if value > best[0]:
                best = (value, feats, why)
    if best[0]:
        return best
    ratio = max(
        (_ratio(qr.surname + qr.given, sr.surname + sr.given) for qr in q.readings for sr in s.readings),
        default=_ratio(q.folded, s.folded),
    )
    if q.han is not None and s.han is not None:
        ratio = max(ratio * 0.9, _ratio(q.han, s.han)) if len(q.han) > 2 else ratio * 0.9
    if ratio < _NEAR_FLOOR:
        return 0.0, {}, [f"name {s.folded} differs from {q.folded}"]
    value = round(NEAR * ratio / 100, 4)
    return value, {"name.near": value}, [f"name {s.folded} is near {q.folded} ({ratio:.0f}%)"]


def _score_orgs(q: OrgName, s: OrgName) -> _Scored:
    if not q.folded or not s.folded:
        return 0.0, {}, ["no name to compare"]
    feats: dict[str, float] = {}
    why: list[str] = []
    if q.region and s.region and q.region != s.region and "中国" not in (q.region, s.region):
        feats["region_in_name.differs"] = REGION_DIFFERS
        why.append(f"region {q.region} in the query, {s.region} in the listing")
    if q.form and s.form and q.form != s.form and "company" not in (q.form, s.form):
        feats["legal_form.differs"] = FORM_DIFFERS
        why.append(f"legal form {q.form} against {s.form}")
    same_industry = q.industry == s.industry
    if q.folded == s.folded or (q.han and s.han and q.distinctive == s.distinctive):
        feats["name.exact"] = EXACT
        same = q.folded == s.folded
        why.insert(
            0, f"name {s.folded} = {q.folded}" if same else f"trade name and industry {s.distinctive} agree"
        )
    elif (
        (q.han != s.han or not q.han)
        and set(q.trade_pinyin) & set(s.trade_pinyin)
        and (same_industry or not q.industry or not s.industry)
    ):
        feats["name.pinyin"] = PINYIN
        if not same_industry:
            feats["industry.missing"] = -MISSING_INDUSTRY
        why.insert(0, f"trade name {q.trade} = {s.trade} in pinyin, industry {s.industry or 'not named'}")
    elif q.han and s.han and q.trade == s.trade and (not q.industry or not s.industry):
        # A registered Chinese name always names its industry: without it, 鑫泰公司 is an abbreviation that
        # firms of other trades share. An English name often drops it (above), a translator's choice.
        feats["name.trade_only"] = INITIALS
        why.insert(0, f"trade name {q.trade} alone, industry {q.industry or s.industry} on one side only")
    else:
        ratio = _ratio(q.distinctive, s.distinctive)
        if q.han != s.han or not q.han:
            ratio = max((_ratio(a, b) for a in q.trade_pinyin for b in s.trade_pinyin), default=0.0) * (
                1.0 if same_industry else 0.85
            )
        if ratio < _NEAR_FLOOR:
            return 0.0, {}, [f"name {s.folded} differs from {q.folded}"]
        feats["name.near"] = round(NEAR * ratio / 100, 4)
        why.insert(0, f"name {s.folded} is near {q.folded} ({ratio:.0f}%)")
    return sum(feats.values()), feats, why


def _score_names(query: NameQuery, name: str, kind: str) -> _Scored:
    if kind == "organisation":
        return _score_orgs(read_organisation(query.name), read_organisation(name))
    return _score_persons(read_person(query.name), read_person(name))


_Facts = tuple[str | None, dt.date | None]


def _facts(subject_id: str, kind: str) -> _Facts:
    """Region code and birth date of a listed subject, read off its canonical identifier (a resident ID's
    positions 1-6 and 7-14, a unified code's 3-8) as ``identifiers.parse`` reads them; listed identifiers
    were validated when filed, so they are not checked again here (that would cost the stdnum tables)."""
    if subject_id.startswith("passport:") or len(subject_id) != 18:
        return None, None
    if kind == "organisation" or identifiers.kind_of(subject_id) == "organisation":
        return (subject_id[2:8] if subject_id[2:8].isdigit() else None), None
    try:
        born = dt.date(int(subject_id[6:10]), int(subject_id[10:12]), int(subject_id[12:14]))
    except ValueError:
        return subject_id[:6], None
    return subject_id[:6], born


def _finish(
    query: NameQuery, subject_id: str, name: str, kind: str, scored: _Scored, facts: _Facts
) -> NameMatch:
    _, name_feats, why = scored
    feats = dict(name_feats)
    why = list(why)
    region, born = facts
    if query.kind is not None and query.kind != kind:
        feats["kind.differs"] = KIND_DIFFERS
        why.append(f"a {query.kind} was asked for, this is an {kind}")
    if query.birth_date is not None and born is not None:
        if born == query.birth_date:
            feats["birth_date.agrees"] = BIRTH_AGREES
            why.append("birth date agrees")
        else:
            feats["birth_date.differs"] = BIRTH_DIFFERS
            why.append(f"born {born.isoformat()}, not {query.birth_date.isoformat()}")
    if query.region is not None and region is not None:
        if region.startswith(query.region):
            feats["region.agrees"] = REGION_AGREES
            why.append("region agrees")
        else:
            feats["region.differs"] = REGION_DIFFERS
            why.append(f"region {region}, not {query.region}")
    score = round(min(max(sum(feats.values()), 0.0), 0.99), 4)
    return NameMatch(subject_id, name, kind, score, feats, "; ".join(why))


def score_pair(query: NameQuery, subject_id: str, name: str, kind: str) -> NameMatch:
    """The score of one listed subject against a query, with its explanation (the evaluation set's unit)."""
    scored = _score_names(query, name, kind)
    facts = _facts(subject_id, kind) if query.birth_date or query.region else (None, None)
    return _finish(query, subject_id, name, kind, scored, facts)


class NameIndex:
    """Listed subjects by the keys of their names. Names are read once per distinct name; a query scores
    only the names that share a key with it (and, when none does, the nearest few of its surname bucket)."""

    def __init__(self) -> None:
        self._ids: list[str] = []
        self._name_ids: dict[tuple[str, str], int] = {}
        self._names: list[tuple[str, str]] = []  # name id -> (name, kind)
        self._subjects: list[list[int]] = []  # name id -> subject numbers
        self._keys: dict[str, list[int]] = {}  # key -> name ids
        self._facts: dict[int, _Facts] = {}

    @classmethod
    def build(cls, subjects: Iterable[tuple[str, str, str]]) -> NameIndex:
        """An index of ``(canonical id, name, kind)`` rows; rows without a name are left out."""
        index = cls()
        # Building makes millions of small objects and no cycles: the cyclic collector would only rescan the
        # growing index again and again (about 40% of the build at 10^6 subjects), so it waits until the end.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            for subject_id, name, kind in subjects:
                index._add(subject_id, name, kind)
        finally:
            if was_enabled:
                gc.enable()
        return index

    def _add(self, subject_id: str, name: str, kind: str) -> None:
        if not isinstance(name, str) or not name.strip():
            return
        name = name[:MAX_NAME]
        number = len(self._ids)
        self._ids.append(subject_id)
        key = (name, kind)
        name_id = self._name_ids.get(key)
        if name_id is None:
            name_id = self._name_ids[key] = len(self._names)
            self._names.append(key)
            self._subjects.append([number])
            for k in _keys_of(name, kind):
                self._keys.setdefault(k, []).append(name_id)
        else:
            self._subjects[name_id].append(number)

    def __len__(self) -> int:
        return len(self._ids)

    def _lookups(self, query: NameQuery) -> tuple[set[str], set[str], PersonName | None]:
        """The keys to look up at once and those only when they find no hit (near matches). A pinyin key
        (``P`` from a Han name, ``Q`` from a Latin one; ``T``/``U`` for trade names) is a match between Han
        and Latin but only a homophone between two Han names, so a Han query asks Han names by it late."""
        kinds = _KINDS if query.kind is None else (query.kind,)
        person = read_person(query.name) if "person" in kinds else None
        abbreviated = person is not None and any(r.abbreviated for r in person.readings)
        strong: set[str] = set()
        near: set[str] = set()
        for kind in kinds:
            for k in _keys_of(query.name, kind):
                tag, rest = k[0], k[1:]
                if tag in "HFO":
                    strong.add(k)
                elif tag in "PQ":
                    strong.add("Q" + rest)
                    (near if tag == "P" else strong).add("P" + rest)
                elif tag in "TU":
                    strong.add("U" + rest)
                    (near if tag == "T" else strong).add("T" + rest)
                elif tag == "M" or (tag == "I" and abbreviated):
                    (strong if tag == "I" else near).add(k)
        return strong, near, person

    def _found(self, keys: set[str]) -> set[int]:
        found: set[int] = set()
        for k in keys:
            bucket = self._keys.get(k)
            if bucket is not None and (len(bucket) <= _BUCKET_CAP or k[0] == "H" or k[0] == "F"):
                found.update(bucket)
            elif bucket is not None and k[0] in "IPQ":
                found.update(bucket[:_BUCKET_CAP])  # a key this common (a masked character...) tells little
        return found

    def _near_in_surname(self, person: PersonName) -> set[int]:
        """A Latin name that shares no key: the closest names of its surname and first initial (a typo)."""
        out: set[int] = set()
        for r in person.readings:
            if not r.initials:
                continue
            bucket = self._keys.get(f"I{r.surname}:{r.initials[0]}", [])[:_BUCKET_CAP]
            choices = {i: _joined(self._names[i][0]) for i in bucket if self._names[i][1] == "person"}
            got = process.extract(
                r.surname + r.given, choices, scorer=fuzz.ratio, score_cutoff=_NEAR_FLOOR, limit=20
            )
            out.update(int(i) for _, _, i in got)
        return out

    def match(self, query: NameQuery, limit: int = 5, threshold: float = POSSIBLE) -> list[NameMatch]:
        """The best ``limit`` listed subjects scoring at least ``threshold``, best first (ties by id)."""
        if limit <= 0:
            return []
        strong, near, person = self._lookups(query)
        seen = self._found(strong)
        out = self._scored(query, seen, limit, threshold)
        if not out or out[0].score < HIT:  # no hit: look further, for near matches and homophones
            more = self._found(near) - seen
            if not more and not seen and person is not None and person.han is None:
                more = self._near_in_surname(person)
            out = sorted(out + self._scored(query, more, limit, threshold), key=_order)
        return out[:limit]

    def _scored(self, query: NameQuery, name_ids: set[int], limit: int, threshold: float) -> list[NameMatch]:
        bonus = BIRTH_AGREES * (query.birth_date is not None) + REGION_AGREES * (query.region is not None)
        needs_facts = query.birth_date is not None or query.region is not None
        out: list[NameMatch] = []
        for name_id in name_ids:
            name, kind = self._names[name_id]
            scored = _score_names(query, name, kind)
            if scored[0] + bonus < threshold:
                continue
            numbers = self._subjects[name_id] if needs_facts else self._subjects[name_id][:limit]
            for number in numbers:
                facts = self._facts.get(number)
                if facts is None and needs_facts:
                    facts = self._facts[number] = _facts(self._ids[number], kind)
                got = _finish(query, self._ids[number], name, kind, scored, facts or (None, None))
                if got.score >= threshold:
                    out.append(got)
        out.sort(key=_order)
        return out[:limit]


def lookup_keys(query: NameQuery) -> set[str]:
    """Every listed-name key a query may look up (at once, for near matches, and its surname bucket): a listed
    subject whose name has none of these keys cannot be among the query's matches (the reverse index of a
    saved screening, screening/watch.py)."""
    strong, near, person = NameIndex()._lookups(query)
    out = strong | near
    if person is not None and person.han is None:
        out.update(f"I{r.surname}:{r.initials[0]}" for r in person.readings if r.initials)
    return out


def listed_keys(name: str, kind: str) -> set[str]:
    """The keys a listed subject's name is indexed under."""
    if not isinstance(name, str) or not name.strip():
        return set()
    return _keys_of(name[:MAX_NAME], kind)


def _order(m: NameMatch) -> tuple[float, str]:
    return -m.score, m.subject_id


def _keys_of(name: str, kind: str) -> set[str]:
    return organisation_keys(name) if kind == "organisation" else person_keys(name)


def _joined(name: str) -> str:
    readings = read_person(name).readings
    return readings[0].surname + readings[0].given if readings else ""
