"""The forms the registry stores a record in, held to what ``RecordState`` writes: the state's JSON text (null keys
left out, the earlier form still read), and the import's prepared forms for SQLite and PostgreSQL (binary COPY),
for any text.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factories import org_id, person_id, registry_catalogue, samr
from socialcredit.catalogue import Catalogue
from socialcredit.registry import RecordState, check_row
from socialcredit.registry.bulk import sqlite_dt
from socialcredit.registry.copybinary import decode_fields
from socialcredit.registry.prepared import prepare, record_values
from socialcredit.registry.writer import _state


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    return registry_catalogue()


def test_state_text_leaves_out_null_keys_and_reads_the_older_form(cat: Catalogue, now: dt.datetime) -> None:
    """A stored state has no key whose value is null and no empty ``suspensions``; an absent key reads back as
    none, and a state stored in the earlier form (every key written, nulls included) reads back the same."""
    person = _state(check_row(samr(), cat, now), 5, now, cat)
    body = json.loads(person.to_json())
    absent = {"actual_controller_id", "actual_controller_name", "legal_representative_id"}
    absent |= {"legal_representative_name", "ended_at", "suspensions"}
    assert absent.isdisjoint(body) and None not in body.values()
    assert RecordState.from_json(person.to_json()) == person
    older = {k: getattr(person, k) for k in absent if k != "suspensions"}
    earlier_form = json.dumps({**body, **older, "suspensions": []}, ensure_ascii=False, sort_keys=True)
    assert RecordState.from_json(earlier_form) == person
    f = check_row(
        samr(subject_id=org_id(2), legal_representative_id=person_id(3), legal_representative_name="李四"),
        cat,
        now,
    )
    ended = _state(f, 6, now, cat).with_(
        status="revoked", ended_at=now, suspensions=((now, None),), effective_until=None
    )
    body = json.loads(ended.to_json())
    assert body["legal_representative_id"] == person_id(3) and body["ended_at"] == now.isoformat()
    assert body["suspensions"] == [[now.isoformat(), None]] and "effective_until" not in body
    assert RecordState.from_json(ended.to_json()) == ended


_free_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\x0b\x0c\x7f"),
    min_size=1,
    max_size=30,
).filter(lambda s: s.strip() == s and not any("\x00" <= c < "\x20" and c not in "\t\n" for c in s))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    external_id=_free_text,
    name=_free_text,
    decision_no=_free_text,
    summary=st.one_of(st.none(), _free_text),
    basis=st.one_of(st.none(), _free_text),
    rep_name=st.one_of(st.none(), _free_text),
    ctl=st.booleans(),
    category=st.sampled_from(["test.fixed", "test.notice", "test.open"]),
    dialect=st.sampled_from(["sqlite", "postgresql"]),
    zone=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=8))]),
)
def test_prepared_texts_equal_the_record_state_for_any_text(
    cat: Catalogue,
    now: dt.datetime,
    external_id: str,
    name: str,
    decision_no: str,
    summary: str | None,
    basis: str | None,
    rep_name: str | None,
    ctl: bool,
    category: str,
    dialect: str,
    zone: dt.tzinfo,
) -> None:
    """The import's template-built texts equal RecordState.to_json and the writer's subject list, quotes, backslashes,
    tabs, newlines, line separators and CJK included; and in any zone the import's clock is given in."""
    fields: dict[str, Any] = {
        "external_id": external_id,
        "subject_id": org_id(4),
        "subject_name": name,
        "decision_no": decision_no,
        "summary": summary,
        "legal_basis": basis,
        "legal_representative_id": person_id(5),
        "legal_representative_name": rep_name,
    }
    if ctl:
        fields.update(actual_controller_id=person_id(6), actual_controller_name=name)
    f = check_row(samr(category=category, **fields), cat, now)
    at = now.astimezone(zone)
    p = prepare(f, cat, at, dialect)
    expected = _state(f, 41, at, cat)
    # PostgreSQL's form is binary COPY's: read back as PostgreSQL reads it, it gives the same texts and values.
    if dialect == "postgresql":
        texts = [p[4].decode(), p[5].decode(), *decode_fields(p[6], [bytes.decode])]
    else:
        texts = list(p[4:7])
    assert f'{texts[0]}"id":41{texts[1]}' == expected.to_json()
    linked = [expected.subject_id, *(s for s, _ in expected.linked())]
    assert texts[2] == json.dumps(linked, ensure_ascii=False)  # the text as the writer's encoder writes it
    if dialect == "postgresql":
        values = decode_fields(p[7], _BINARY_RECORD)
        row_ = [None, *values[:19], None, *values[19:]]
    else:
        row_ = record_values(p[7])
    assert len(row_) == 24
    assert (row_[5], row_[11], row_[13], row_[15]) == (
        expected.subject_name,
        expected.summary,
        expected.legal_representative_name,
        expected.actual_controller_name,
    )
    assert (row_[8], row_[9], row_[17], row_[22]) == (
        sqlite_dt(expected.effective_from),
        sqlite_dt(expected.effective_until),
        sqlite_dt(expected.applies_from),
        sqlite_dt(at),
    )
    # Every column, both forms: the binary row read back equals SQLite's (which binds the values as they are).
    assert row_ == record_values(prepare(f, cat, at, "sqlite")[7])


def _binary_instant(data: bytes) -> str | None:
    """A binary timestamp field (microseconds since 2000-01-01) as the stored text SQLite's form holds."""
    micros = int.from_bytes(data, "big", signed=True)
    return sqlite_dt(dt.datetime(2000, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=micros))


def _binary_day(data: bytes) -> str:
    return (dt.date(2000, 1, 1) + dt.timedelta(days=int.from_bytes(data, "big", signed=True))).isoformat()


# The 22 columns of a record row but the id and version, as the binary form holds them.
_t, _d, _s = bytes.decode, _binary_day, _binary_instant
_BINARY_RECORD = (_t, _t, _t, _t, _t, _t, _d, _s, _s, _t, _t, _t, _t, _t, _t, _t, _s, _s, _t, _t, _s, _s)
