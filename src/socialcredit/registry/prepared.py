"""Filings prepared for storage: every text and row built ahead, but for the record id and event number.

A :data:`Prepared` tuple holds a new record's event state and projection row with holes where the record id and
sequence number go; the writer, holding the lock, fills the holes by concatenation. The import builds these in
worker processes (:mod:`.checks`), so the one writer spends its time writing. The state's text equals
``RecordState.to_json()`` of the same record exactly (tested). For PostgreSQL they come in binary COPY's
terms (see :func:`for_copy`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import Any

from ..catalogue import Catalogue
from . import copybinary
from .bulk import sqlite_date, sqlite_dt
from .rows import Filing, check_row
from .state import _iso, term_bounds

__all__ = ["SOURCE", "Prepared", "for_copy", "for_sqlite", "prepare", "record_values", "refile"]

# (authority, external_id, content_hash, subjects, state_head, state_tail, subject_ids_json, record_row, source):
#  subjects are (id, kind, name, region_code, region, allowlisted as 0 or 1); record_row is (which columns are
#  null, the other values) as :func:`for_sqlite` gives it; source is the input row (from a worker, its line's
#  byte offset in the file), checked again on amendment. PostgreSQL's form is binary COPY's (see
#  :func:`for_copy`). (The feed's payload is not stored: it is derived from the event, see
#  ``writer.feed_payload``.)
Prepared = tuple[Any, ...]
SOURCE = 8  # where a Prepared tuple keeps its source

_QUOTE: Callable[[str], str] = encode_basestring  # a JSON string, as ensure_ascii=False writes it


def _key(name: str, value: str | None) -> str:
    """``"name":value,`` of a state's optional text, or nothing where it is null (``RecordState.to_json``)."""
    return "" if value is None else f'"{name}":{_QUOTE(value)},'


class _Times:
    """The texts and storage values of the instants a file repeats (day boundaries, the import's now).

    Formatting an aware datetime costs more than the rest of a row's JSON; a file holds a few thousand
    distinct instants, so each is formatted once. Keyed by instant and zone (both texts are UTC's, so the zone
    only keeps apart keys that ``datetime`` equality would merge across zones; it costs nothing).
    """

    def __init__(self) -> None:
        self.seen: dict[tuple[dt.datetime, Any], tuple[str, Any]] = {}

    def __call__(self, v: dt.datetime) -> tuple[str, Any]:
        """(the UTC ISO text as a state quotes it, the stored text: naive UTC)."""
        key = (v, v.tzinfo)
        hit = self.seen.get(key)
        if hit is None:
            if len(self.seen) > 50_000:
                self.seen.clear()
            hit = self.seen[key] = (_QUOTE(_iso(v) or ""), sqlite_dt(v))
        return hit


_TIMES = _Times()


def _term(days: int | None) -> str:
    """The state text's last key, ``term_days``, when there is one (keys in sorted order, as ``to_json``)."""
    return "" if days is None else f',"term_days":{days}'


def prepare(f: Filing, catalogue: Catalogue, now: dt.datetime, dialect: str, source: Any = None) -> Prepared:
    """The storage texts of ``f`` as a new record filed at ``now`` (id and sequence number left open).

    The state's JSON text is written from templates (keys in sorted order, the separators and the left-out
    null keys of ``RecordState.to_json``): a test holds it equal to what that writes.
    """
    times = _TIMES
    cat = catalogue.categories[f.category]
    start = f.effective_from
    notice = None if cat.takes_effect_at_once else (cat.notice_days, cat.notice_working_days)
    applies, until = term_bounds(start, f.effective_until, now, f.term_days, notice)
    rep = f.legal_representative.canonical if f.legal_representative else None
    ctl = f.actual_controller.canonical if f.actual_controller else None
    subject = f.subject.canonical
    s_start, db_start = times(start)
    s_applies, db_applies = (s_start, db_start) if applies is start else times(applies)
    if until is None:
        s_until, db_until = "", None
    else:
        s_text, db_until = times(until)
        s_until = f'"effective_until":{s_text},'
    s_now, db_now = times(now)
    authority, category, external_id = _QUOTE(f.authority), _QUOTE(f.category), _QUOTE(f.external_id)
    q_subject = _QUOTE(subject)
    s_head = (
        f"{{{_key('actual_controller_id', ctl)}{_key('actual_controller_name', f.actual_controller_name)}"
        f'"applies_from":{s_applies},"authority":{authority},"category":{category},'
        f'"content_hash":"{f.content_hash}","decided_on":"{f.decided_on.isoformat()}",'
        f'"decision_no":{_QUOTE(f.decision_no)},"effective_from":{s_start},{s_until}'
        f'"external_id":{external_id},"filed_at":{s_now},'
    )
    s_tail = (
        f',"legal_basis":{_QUOTE(f.legal_basis)},{_key("legal_representative_id", rep)}'
        f'{_key("legal_representative_name", f.legal_representative_name)}"status":"filed",'
        f'"subject_id":{q_subject},"subject_name":{_QUOTE(f.subject_name)},"summary":{_QUOTE(f.summary)}'
        f"{_term(f.term_days)}}}"
    )
    if rep or ctl:  # as json.dumps writes a list of texts: ", " between items
        ids = f"[{', '.join([q_subject, *(_QUOTE(x) for x in (rep, ctl) if x)])}]"
    else:
        ids = f"[{q_subject}]"
    record = (
        None, f.authority, f.external_id, f.category, subject, f.subject_name, f.decision_no,
        sqlite_date(f.decided_on), db_start, db_until, f.legal_basis,
        f.summary, rep, f.legal_representative_name, ctl, f.actual_controller_name, "filed", db_applies, None,
        "[]", None, f.content_hash, db_now, db_now,
    )  # fmt: skip
    subs = tuple(
        (sid.canonical, sid.kind, name or "", sid.region_code, sid.region, int(sid.allowlisted))
        for sid, name in (
            (f.subject, f.subject_name),
            (f.legal_representative, f.legal_representative_name),
            (f.actual_controller, f.actual_controller_name),
        )
        if sid is not None
    )
    texts = (s_head, s_tail, ids)
    if dialect == "postgresql":
        return for_copy(f.authority, f.external_id, f.content_hash, subs, texts, record, source)
    return (f.authority, f.external_id, f.content_hash, subs, *texts, for_sqlite(record), source)


def for_sqlite(record: tuple[Any, ...]) -> tuple[int, tuple[Any, ...]]:
    """SQLite's form of a record row: (a mask with bit i set where column i is null, the other values in order).

    The writer inserts each mask's rows with a statement that leaves its null columns out: binding a None costs
    SQLite's driver an adapter lookup (about a third of a microsecond), and a new record has five on average.
    The id and version (columns 0 and 20) are null here and filled in by the writer."""
    mask = 0
    values = []
    for i, v in enumerate(record):
        if v is None:
            mask |= 1 << i
        else:
            values.append(v)
    return mask, tuple(values)


def record_values(form: tuple[int, tuple[Any, ...]]) -> list[Any]:
    """The whole row (None where null) of a :func:`for_sqlite` form: as many columns as values and null bits."""
    mask, values = form
    rest = iter(values)
    return [None if mask >> i & 1 else next(rest) for i in range(len(values) + mask.bit_count())]


def for_copy(
    authority: str,
    external_id: str,
    content_hash: str,
    subs: Any,
    texts: tuple[str, ...],
    record: tuple[Any, ...],
    source: Any,
) -> Prepared:
    """The PostgreSQL form, in binary COPY's terms (:mod:`.copybinary`): the state's head and tail as UTF-8
    bytes, the subject ids as a field, the record row as its fields but the leading id and version, and each
    subject as (id, its row but for ``created_at``). The writer adds the numbers and the import's clock and
    sends whole batches to COPY, with no per-value conversion on its thread."""
    head, tail, ids = texts
    rows = tuple((sub[0], copybinary.subject_row(sub)) for sub in subs)
    fields = copybinary.record_fields(record)
    return (
        authority,
        external_id,
        content_hash,
        rows,
        head.encode(),
        tail.encode(),
        copybinary.text(ids),
        fields,
        source,
    )


def refile(
    catalogue: Catalogue, now: dt.datetime, allowlist: frozenset[str], row_of: Callable[[Any], Any]
) -> Callable[[Prepared], Filing]:
    """``filing_of`` for :func:`write_prepared`: check the item's source row (``row_of(source)``) again."""

    def filing_of(p: Prepared) -> Filing:
        return check_row(row_of(p[SOURCE]), catalogue, now, allowlist)

    return filing_of
