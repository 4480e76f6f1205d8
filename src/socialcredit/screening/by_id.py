"""Screening by identifier, a chunk of rows at a time, in whole-column steps.

1. **Canonical forms** (Polars): each value stripped, spaces dropped and upper-cased (a passport keeps its
   ``passport:`` prefix and upper-cases country and number): what :func:`~socialcredit.identifiers.parse`
   makes of every valid identifier.
2. **Listed** (Polars ``is_in`` against the subjects the index reaches with a record in force at the instant:
   the subject of a record, and a company's legal representative and actual controller where a measure of the
   record's category reaches them, exactly as checks reach them: the index's entries are the checks' own).
3. **Known** (the engine's subject table, engine/table.py, one array lookup for the chunk; the index's set for
   what the table does not vouch for): a subject the registry holds was parsed when it was stored, so its
   identifier is valid.
4. Only the values left (neither listed nor known) are parsed one by one, once per distinct value, to tell a
   valid identifier the registry does not hold (clear) from an invalid one (invalid, with parse's reason).

Matches (the reasons, and with an action the decision) are built only for listed rows; with an action the
decisions come from ``Checker.check_many`` for the chunk's listed rows at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine, and_, or_, select, union

from ..catalogue import Catalogue
from ..engine import Checker
from ..engine.index import Entry, as_tuple
from ..identifiers import IdentifierError, SubjectKind, parse
from ..store.tables import records, subjects

__all__ = ["Listed", "Resolved", "canonical_guess", "entry_reason", "resolve"]


_IN_BATCH = 2000
_ISO: dict[float, str | None] = {float("inf"): None}


def _iso(ts: float) -> str | None:
    """An end instant as text; ends are few (mostly day boundaries), so they are kept."""
    hit = _ISO.get(ts, "")
    if hit == "":
        if len(_ISO) > 100_000:
            _ISO.clear()
            _ISO[float("inf")] = None
        hit = _ISO[ts] = dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()
    return hit


def entry_reason(e: Entry) -> dict[str, Any]:
    """What a listing is, without an action: the record, its category, how it reaches the subject, its end."""
    return {
        "record_id": e.record_id,
        "category": e.rule.category,
        "via": e.rule.via,
        "via_subject": e.via_subject,
        "valid_until": _iso(e.until),
    }


class Listed:
    """The subjects the index reaches with at least one record in force at ``t``, with their names."""

    def __init__(self, checker: Checker, t: float) -> None:
        self.checker = checker
        live: dict[str, Entry | tuple[Entry, ...]] = {}
        for sid, value in checker.index.entries.items():
            if type(value) is Entry:  # the common case, tested inline (Entry.applies, without its any())
                if value.start <= t < value.until and (not value.pauses or value.applies(t)):
                    live[sid] = value
                continue
            applying = tuple(e for e in as_tuple(value) if e.applies(t))
            if applying:
                live[sid] = applying
        self.entries = live
        self.series = pl.Series("id", list(live), dtype=pl.String)
        self._at = dt.datetime.fromtimestamp(t, dt.UTC)
        self.names: dict[str, tuple[str, str]] = {}  # name and kind, fetched for the subjects matched
        self._matches: dict[str, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def keep_public(self, catalogue: Catalogue) -> None:
        """Keep only public categories' listings (a screener's view: what the public sees)."""
        public = {c for c, cat in catalogue.categories.items() if cat.public}
        kept: dict[str, Entry | tuple[Entry, ...]] = {}
        for sid, value in self.entries.items():
            es = tuple(e for e in as_tuple(value) if e.rule.category in public)
            if es:
                kept[sid] = es[0] if len(es) == 1 else es
        self.entries = kept
        self.series = pl.Series("id", list(kept), dtype=pl.String)

    def subjects(self) -> list[tuple[str, str, str]]:
        """(canonical id, name, kind) of every listed subject: what the name index is built over."""
        names = _names(self.checker.engine, self.entries, self._at)
        return [(sid, name, kind) for sid, (name, kind) in names.items()]

    def fetch_names(self, sids: list[str]) -> None:
        """Read the names of ``sids`` not read yet, by primary key (a chunk's hits)."""
        names = self.names
        missing = [sid for sid in set(sids) if sid not in names]
        if not missing:
            return
        if len(names) + len(missing) > 200_000:  # bounded: most subjects of a file come once
            names.clear()
        with self.checker.engine.connect() as conn:
            # The driver's own statement: SQLAlchemy's expanding IN costs more than the lookups at 10^5 ids.
            mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
            for i in range(0, len(missing), _IN_BATCH):
                part = tuple(missing[i : i + _IN_BATCH])
                sql = f"SELECT id, name, kind FROM subjects WHERE id IN ({', '.join([mark] * len(part))})"
                for sid, name, kind in conn.exec_driver_sql(sql, part):
                    names[sid] = (name, kind)

    def match(self, sid: str) -> dict[str, Any]:
        """The match of a listed subject by identifier, without an action (kept: subjects recur)."""
        hit = self._matches.get(sid)
        if hit is None:
            name, kind = self.names.get(sid, (None, None))
            hit = {
                "subject_id": sid,
                "name": name,
                "kind": kind,
                "score": 1.0,
                "matched_by": "subject_id",
                "reasons": [entry_reason(e) for e in as_tuple(self.entries[sid])],
            }
            if len(self._matches) < 20_000:  # legal representatives recur; most subjects come once
                self._matches[sid] = hit
        return hit


def _names(engine: Engine, live: dict[str, Any], at: dt.datetime) -> dict[str, tuple[str, str]]:
    """Name and kind of the listed subjects: the subjects of the records that may be in force at ``at`` (and
    their linked persons), joined to the subjects table by its key, filtered by ``live``."""
    r, s = records.c, subjects.c
    may = and_(
        or_(r.ended_at.is_(None), r.ended_at > at), or_(r.effective_until.is_(None), r.effective_until > at)
    )
    q = union(
        *(
            select(s.id, s.name, s.kind).select_from(records.join(subjects, s.id == link)).where(may)
            for link in (r.subject_id, r.legal_representative_id, r.actual_controller_id)
        )
    )
    out: dict[str, tuple[str, str]] = {}
    with engine.connect() as conn:
        for sid, name, kind in conn.execution_options(yield_per=20_000).execute(q):
            if sid in live:
                out[sid] = (name, kind)
    return out


def canonical_guess(raw: pl.Series) -> pl.Series:
    """The canonical form every valid identifier among ``raw`` has (an invalid one gets some string)."""
    s = raw.str.strip_chars()
    frame = pl.DataFrame({"s": s})
    passport = pl.col("s").str.slice(0, 9).str.to_lowercase() == "passport:"
    return frame.select(
        pl.when(passport)
        .then(pl.lit("passport:") + pl.col("s").str.slice(9).str.to_uppercase())
        .otherwise(pl.col("s").str.replace_all(" ", "", literal=True).str.to_uppercase())
        .alias("canonical")
    ).to_series()


@dataclass
class Resolved:
    """Per row of the chunk: the canonical identifier (None if absent or invalid), the reason it is invalid,
    and whether it is listed."""

    canonical: list[str | None]
    errors: list[str | None]
    listed: list[bool]


def _known(checker: Checker, ids: list[str]) -> list[bool]:
    index = checker.index
    table = index.table
    found: list[bool]
    if table is not None and ids:
        try:
            with table.lock:
                rows, _ = table.lookup(ids)
            found = (rows != 0).tolist()
        except (TypeError, ValueError):  # non-ASCII text: the set answers
            found = [False] * len(ids)
    else:
        found = [False] * len(ids)
    misses = [i for i, f in enumerate(found) if not f]
    for i, hit in zip(misses, map(index.known.__contains__, [ids[i] for i in misses]), strict=True):
        found[i] = hit
    return found


def resolve(raw: list[str | None], kinds: list[str | None], checker: Checker, listed: Listed) -> Resolved:
    n = len(raw)
    guess = canonical_guess(pl.Series("raw", raw, dtype=pl.String))
    # implode: polars 1.28+ deprecates is_in on a Series of the same type (it wants the list made explicit).
    is_listed = guess.is_in(listed.series.implode()).fill_null(False)
    canon: list[str | None] = guess.to_list()
    listed_col: list[bool] = is_listed.to_list()
    errors: list[str | None] = [None] * n
    rest = np.flatnonzero(~is_listed.to_numpy() & guess.is_not_null().to_numpy()).tolist()
    known = _known(checker, [canon[i] for i in rest])  # type: ignore[misc]
    unsure = [i for i, k in zip(rest, known, strict=True) if not k]
    parsed: dict[tuple[str, str | None], str | IdentifierError] = {}
    allow = checker.allowlist
    for i in unsure:
        value = raw[i]
        assert value is not None
        kind = kinds[i] if kinds[i] in ("person", "organisation") else None
        key = (value, kind)
        got = parsed.get(key)
        if got is None:
            try:
                got = parse(value, allow, kind=_kind(kind)).canonical
            except IdentifierError as exc:
                got = exc
            parsed[key] = got
        if isinstance(got, IdentifierError):
            canon[i] = None
            errors[i] = f"subject_id: {got}"
        else:
            canon[i] = got
            listed_col[i] = got in listed.entries
    return Resolved(canon, errors, listed_col)


def _kind(kind: str | None) -> SubjectKind | None:
    if kind == "person":
        return "person"
    if kind == "organisation":
        return "organisation"
    return None
