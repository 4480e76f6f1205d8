"""The demo generator: a pure function of (subjects, seed, catalogue, anchor) giving subjects, import rows
with the instant the registry learned each, and later lifecycle changes (fulfilled, repaired, revoked).

Nothing here reads the clock or the database. The history runs up to the anchor day (default 1 Nov 2026, or
today if earlier), so the same seed gives the same rows byte for byte on any day after the anchor.

Subjects #1 to #8 are fixed, whatever the seed, so documentation can cite them (see ``FIXED``); the rest are
drawn from ``random.Random(seed)``.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from stdnum.cn import uscc

from ..catalogue import Catalogue, Category
from ..registry import day_start
from .identities import (
    PROVINCE_ABBR,
    REGIONS,
    Region,
    organisation_code,
    pick_region,
    resident_id,
    unified_code,
)
from .names import person_name, surname_of
from .organisations import OrgKind, organisation_name, pick_org_kind
from .records import category_weight, decision_numbers, summary_for, typical_days

__all__ = [
    "ANCHOR",
    "FIXED",
    "Change",
    "ChangeType",
    "DemoData",
    "Filed",
    "Organisation",
    "Person",
    "Subject",
    "default_anchor",
    "generate",
]

ANCHOR = dt.date(2026, 11, 1)
_LISTED = (
    0.20  # share of subjects on some black or watch list (the real lists: a few percent; a demo wants more)
)
_RED_ORG = 0.05  # share of organisations on a red list
_RED_THEN_BLACK = 0.04  # a red-listed organisation also blacklisted: rare, but "benefits withheld" needs some
_FULFILLED, _REPAIRED, _REVOKED = 0.20, 0.25, 0.01
_FILED_HOUR, _CHANGE_HOUR = 10, 15  # local time of day: filings in the morning, changes in the afternoon


def default_anchor(today: dt.date | None = None) -> dt.date:
    """The demo's "today": a fixed day, so output is reproducible, but never after the real today."""
    return min(ANCHOR, today or dt.date.today())


@dataclass(frozen=True, slots=True)
class Person:
    number: int  # position in the demo population, from 1
    id: str
    name: str
    sex: Literal["male", "female"]
    birth_date: dt.date
    region: Region


@dataclass(frozen=True, slots=True)
class Organisation:
    number: int
    id: str
    name: str
    kind: OrgKind
    region: Region
    legal_representative: Person
    actual_controller: Person | None = None


Subject = Person | Organisation
ChangeType = Literal["fulfilled", "repaired", "revoked"]
_REASONS: dict[ChangeType, str] = {
    "fulfilled": "被执行人已履行全部义务，依法删除失信信息",
    "repaired": "已纠正失信行为、履行相关义务并作出信用承诺，准予信用修复",
    "revoked": "据以认定的决定被依法撤销",
}


@dataclass(frozen=True, slots=True)
class Filed:
    """An import row and the instant it is filed."""

    at: dt.datetime
    row: dict[str, str]


@dataclass(frozen=True, slots=True)
class Change:
    """A lifecycle change to the record keyed (authority, external_id), at an instant after its filing."""

    at: dt.datetime
    authority: str
    external_id: str
    type: ChangeType
    reason: str


@dataclass
class DemoData:
    seed: int
    anchor: dt.date
    subjects: list[Subject]
    filings: list[Filed] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    def rows(self) -> list[dict[str, str]]:
        return [f.row for f in self.filings]

    def category_counts(self) -> Counter[str]:
        return Counter(f.row["category"] for f in self.filings)


def _region(code: str) -> Region:
    return next(r for r in REGIONS if r.code == code)


def _fixed_person(
    number: int, name: str, sex: Literal["male", "female"], birth: str, region: str, sequence: int
) -> Person:
    born = dt.date.fromisoformat(birth)
    return Person(number, resident_id(region, born, sequence), name, sex, born, _region(region))


def _fixed_org(
    number: int, name: str, region: str, body: str, rep: Person, ctl: Person | None = None
) -> Organisation:
    code = "91" + region + organisation_code(body)
    return Organisation(
        number, code + str(uscc.calc_check_digit(code)), name, "91", _region(region), rep, ctl
    )


# The fixed, well-known subjects (any seed): see the module docstring and docs/decisions/0500.
_P2 = _fixed_person(2, "张伟", "male", "1978-03-15", "110105", 231)
_P4 = _fixed_person(4, "李娜", "female", "1985-11-02", "440305", 126)
_P5 = _fixed_person(5, "王磊", "male", "1972-08-09", "110108", 57)
_P6 = _fixed_person(6, "陈静", "female", "1980-06-21", "310115", 342)
_P8 = _fixed_person(8, "刘洋", "male", "1990-01-20", "510107", 415)
FIXED: tuple[Subject, ...] = (
    _fixed_org(1, "北京恒信泰达科技有限公司", "110105", "MA01H8K3", _P2, _P5),
    _P2,
    _fixed_org(3, "上海瑞丰源贸易股份有限公司", "310115", "MA1FP4T2", _P6),
    _P4,
    _P5,
    _P6,
    _fixed_org(7, "深圳嘉禾新锦电子有限公司", "440305", "MA5DRW6Q", _P6),
    _P8,
)


class _Builder:
    """Holds the state of one generation run: the random stream, used identifiers, serial numbers."""

    def __init__(self, n: int, seed: int, catalogue: Catalogue, anchor: dt.date) -> None:
        self.rng = random.Random(seed)
        self.catalogue = catalogue
        self.anchor = anchor
        self.n = n
        self.ids: set[str] = {s.id for s in FIXED}
        self.org_names: set[str] = {s.name for s in FIXED if isinstance(s, Organisation)}
        self.serials: Counter[str] = Counter()
        self.filings: list[Filed] = []
        self.changes: list[Change] = []
        self.used: dict[str, set[str]] = {}  # category -> subject ids with a record of it
        cats = sorted(catalogue.categories.values(), key=lambda c: c.code)
        self.black = {
            k: [c for c in cats if c.list != "red" and k in c.subject_kinds]
            for k in ("person", "organisation")
        }
        self.red = {
            k: [c for c in cats if c.list == "red" and k in c.subject_kinds]
            for k in ("person", "organisation")
        }
        self.weights = {c.code: category_weight(c, catalogue) for c in cats}

    # -- population --

    def person(self, number: int) -> Person:
        rng = self.rng
        sex: Literal["male", "female"] = (
            "male" if rng.random() < 0.62 else "female"
        )  # most defaulters are men
        while True:
            region = pick_region(rng)
            born = self.anchor - dt.timedelta(days=rng.randint(24 * 366, 75 * 365))
            seq = 2 * rng.randrange(500) + 1 if sex == "male" else 2 * rng.randrange(499) + 2
            pid = resident_id(region.code, born, seq)
            if pid not in self.ids:
                self.ids.add(pid)
                return Person(number, pid, person_name(rng, sex), sex, born, region)

    def organisation(self, number: int, people: list[Person]) -> Organisation:
        rng = self.rng
        kind = pick_org_kind(rng)
        region = pick_region(rng)
        rep = rng.choice(people)
        ctl = None
        if kind == "91" and rng.random() < 0.15:
            ctl = rng.choice(people)
            ctl = None if ctl is rep else ctl
        while True:
            code = unified_code(rng, region.code, kind)
            if code not in self.ids:
                self.ids.add(code)
                break
        name = organisation_name(rng, kind, region, surname_of(rep.name))
        tries = 0
        while name in self.org_names:  # registered names are unique; a second firm gets another trade name
            tries += 1
            name = organisation_name(rng, kind, region, surname_of(rep.name), longer=tries > 5)
        self.org_names.add(name)
        return Organisation(number, code, name, kind, region, rep, ctl)

    def population(self) -> list[Subject]:
        fixed = list(FIXED[: self.n])
        kinds = ["organisation" if self.rng.random() < 0.3 else "person" for _ in range(len(fixed), self.n)]
        people: list[Person] = []
        made: dict[int, Subject] = {}
        for i, kind in enumerate(kinds, start=len(fixed) + 1):
            if kind == "person":
                p = self.person(i)
                made[i] = p
                people.append(p)
        if not people:  # a tiny demo: the fixed persons stand in (otherwise they keep only their own roles)
            people = [s for s in FIXED if isinstance(s, Person)]
        for i, kind in enumerate(kinds, start=len(fixed) + 1):
            if kind == "organisation":
                made[i] = self.organisation(i, people)
        return fixed + [made[i] for i in sorted(made)]

    # -- records --

    def record(
        self,
        subject: Subject,
        cat: Category,
        *,
        age_days: int | None = None,
        change: ChangeType | Literal["random", "none"] = "random",
    ) -> None:
        """Add one record of ``cat`` about ``subject``, decided ``age_days`` before the anchor (random if
        None), and maybe a later lifecycle change."""
        rng = self.rng
        days = typical_days(cat)
        if age_days is None:
            age_days = rng.randint(0, min(int(days * 1.2), 6 * 365))
        decided = self.anchor - dt.timedelta(days=age_days)
        filed_day = min(decided + dt.timedelta(days=rng.randint(0, 3)), self.anchor)
        authority = cat.authorities[0]
        province = PROVINCE_ABBR[subject.region.code[:2]]
        # Numbers run per year and per issuing court (courts) or province (others), as real ones do.
        key = f"{authority}/{subject.region.code if authority == 'court' else province}/{decided.year}"
        self.serials[key] += 1
        external_id, decision_no = decision_numbers(
            rng, authority, province, subject.region.code, decided.year, self.serials[key], cat.list
        )
        row = {
            "external_id": external_id,
            "authority": authority,
            "category": cat.code,
            "subject_id": subject.id,
            "subject_name": subject.name,
            "decision_no": decision_no,
            "decided_on": decided.isoformat(),
            "summary": summary_for(rng, cat, self.catalogue, decided.year),
        }
        until = None
        if cat.duration_days or cat.max_duration_days:
            until = decided + dt.timedelta(days=days - 1)
        if isinstance(subject, Organisation):
            row["legal_representative_id"] = subject.legal_representative.id
            row["legal_representative_name"] = subject.legal_representative.name
            if subject.actual_controller is not None:
                row["actual_controller_id"] = subject.actual_controller.id
                row["actual_controller_name"] = subject.actual_controller.name
        self.filings.append(Filed(day_start(filed_day) + dt.timedelta(hours=_FILED_HOUR), row))
        self.used.setdefault(cat.code, set()).add(subject.id)
        if cat.list != "red" and change != "none":
            self._maybe_change(cat, row, decided, filed_day, until, change)

    def _maybe_change(
        self,
        cat: Category,
        row: dict[str, str],
        decided: dt.date,
        filed_day: dt.date,
        until: dt.date | None,
        wanted: ChangeType | Literal["random"],
    ) -> None:
        rng = self.rng
        change: ChangeType | None
        if wanted == "random":
            draw = rng.random()
            if draw < _REVOKED:
                change = "revoked"
            elif cat.ends_by_fulfilment:
                change = "fulfilled" if draw < _REVOKED + _FULFILLED else None
            else:
                change = "repaired" if draw < _REVOKED + _REPAIRED else None
        else:
            change = wanted
        if change is None:
            return
        first = filed_day + dt.timedelta(days=1)
        if change == "repaired" and cat.publication is not None:
            first = max(first, decided + dt.timedelta(days=cat.publication.min_days))
        last = min(self.anchor, until - dt.timedelta(days=1)) if until else self.anchor
        if first > last:
            return  # expired or too recent for this change: it stays as filed
        day = first + dt.timedelta(days=rng.randint(0, (last - first).days))
        self.changes.append(
            Change(
                day_start(day) + dt.timedelta(hours=_CHANGE_HOUR),
                row["authority"],
                row["external_id"],
                change,
                _REASONS[change],
            )
        )

    def pick(self, kind: str, red: bool) -> Category | None:
        pool = (self.red if red else self.black)[kind]
        if not pool:
            return None
        return self.rng.choices(pool, weights=[self.weights[c.code] for c in pool])[0]

    def find(
        self, kind: str, *, red: bool = False, keys: tuple[str, ...] = (), authorities: tuple[str, ...] = ()
    ) -> Category | None:
        """The first category of the pool matching a code keyword or authority, for the fixed subjects."""
        pool = (self.red if red else self.black)[kind]
        for key in keys:
            hit = next((c for c in pool if key in c.code), None)
            if hit is not None:
                return hit
        return next((c for c in pool if set(c.authorities) & set(authorities)), None)

    def listings(self, subject: Subject) -> None:
        rng = self.rng
        kind = "organisation" if isinstance(subject, Organisation) else "person"
        red = False
        if self.red[kind] and rng.random() < (_RED_ORG if kind == "organisation" else _RED_ORG / 10):
            cat = self.pick(kind, red=True)
            assert cat is not None
            self.record(subject, cat, age_days=rng.randint(0, typical_days(cat)))
            red = True
        if rng.random() >= (_RED_THEN_BLACK if red else _LISTED):
            return
        count = rng.choices((1, 2, 3), weights=(65, 25, 10))[0]
        chosen: list[Category] = []
        for _ in range(count):
            cat = self.pick(kind, red=False)
            if cat is None:
                return
            if (
                cat in chosen and cat.authorities[0] != "court"
            ):  # only courts list one debtor in several cases
                continue
            chosen.append(cat)
            if "judgment_defaulter" in cat.code:  # a listed debtor shall also be restricted (SPC provisions)
                paired = self.find(kind, keys=("consumption",))
                if paired is not None and paired not in chosen and rng.random() < 0.8:
                    chosen.append(paired)
        for cat in chosen:
            self.record(subject, cat)

    def fixed_records(self) -> None:
        """Records of the fixed subjects, from their own random stream so they read the same for any seed."""
        seeded, self.rng = self.rng, random.Random("fixed subjects")
        try:
            self._fixed_records()
        finally:
            self.rng = seeded

    def _fixed_records(self) -> None:
        by_number = {s.number: s for s in FIXED[: self.n]}
        org, person = "organisation", "person"
        defaulter = ("judgment_defaulter",)
        if 1 in by_number:
            for cat in (self.find(org, keys=defaulter), self.find(org, keys=("consumption",))):
                if cat is not None:
                    self.record(by_number[1], cat, age_days=120, change="none")
        red_org = self.find(org, red=True, keys=("a_grade", "tax")) or next(iter(self.red[org]), None)
        if 3 in by_number and red_org is not None:
            self.record(by_number[3], red_org, age_days=200)
        if 4 in by_number:
            ban = self.find(person, keys=("flight", "aviation"), authorities=("caac",)) or self.find(
                person, keys=("consumption", *defaulter)
            )
            if ban is not None:
                self.record(by_number[4], ban, age_days=60, change="none")
        if 7 in by_number:
            tax = self.find(org, keys=("tax",), authorities=("sta",))
            for cat in (red_org, tax):
                if cat is not None:
                    self.record(by_number[7], cat, age_days=90, change="none")
        if 8 in by_number:
            cat = self.find(person, keys=defaulter)
            if cat is not None:
                self.record(by_number[8], cat, age_days=400, change="fulfilled")

    def cover_every_category(self, population: list[Subject]) -> None:
        """Give every category at least one record, so a new catalogue category shows up in the demo."""
        for code in sorted(self.catalogue.categories):
            if code in self.used:
                continue
            cat = self.catalogue.categories[code]
            fits = [
                s
                for s in population[len(FIXED) :]
                if ("organisation" if isinstance(s, Organisation) else "person") in cat.subject_kinds
            ]
            if fits:
                self.record(self.rng.choice(fits), cat)


def generate(n: int, seed: int, catalogue: Catalogue, anchor: dt.date | None = None) -> DemoData:
    """``n`` subjects (persons and organisations, #1-#8 fixed), about a fifth of them with records in every
    category of ``catalogue``, and lifecycle changes; deterministic for (n, seed, catalogue, anchor)."""
    if n < 1:
        raise ValueError(f"subjects: {n}: must be at least 1")
    b = _Builder(n, seed, catalogue, anchor or default_anchor())
    population = b.population()
    b.fixed_records()
    for subject in population[len(FIXED) :]:
        b.listings(subject)
    b.cover_every_category(population)
    order = sorted(range(len(b.filings)), key=lambda i: b.filings[i].at)  # stable: ties keep generation order
    changes = sorted(b.changes, key=lambda c: c.at)
    return DemoData(seed, b.anchor, population, [b.filings[i] for i in order], changes)
