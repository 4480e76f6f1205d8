"""The subject table behind check_many: it vouches only for exact keys, and the batch stays check()'s answer
whatever the table's hash does (collisions, overflow chains), through growth and compaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factories import org_id, person_id
from socialcredit.catalogue import Catalogue
from socialcredit.engine import Checker
from socialcredit.engine.rules import compile_rules
from socialcredit.engine.table import SubjectTable
from socialcredit.identifiers import IdentifierError
from socialcredit.store import Database
from test_engine_support import file

ID_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
keys = st.text(ID_CHARS, min_size=1, max_size=30)


def _variants(key: str) -> list[str]:
    """Spellings that must never be taken for ``key``."""
    return [key + "\x00", key[:-1], key + "0", "0" + key, key.lower(), key + " ", key[:-1] + "\x00"]


def _found(table: SubjectTable, queries: list[str]) -> dict[str, str | None]:
    rows, _ = table.lookup(queries)
    return {q: (table.subject(int(r)) if r else None) for q, r in zip(queries, rows, strict=True)}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(known=st.sets(keys, max_size=60), strangers=st.lists(keys, max_size=20))
def test_vouches_only_for_exact_keys(catalogue: Catalogue, known: set[str], strangers: list[str]) -> None:
    table = SubjectTable(compile_rules(catalogue), {}, known)
    queries = sorted(known) + strangers + [v for k in sorted(known) for v in _variants(k)]
    # Mixed lengths, and batches of one length (cut from one joined buffer), with separators and NULs inside.
    batches = [queries, *([k for k in queries if len(k) == n] for n in {len(k) for k in queries})]
    batches += [
        [k[:-1] + "\x01" for k in known if len(k) > 1],
        [k[:-1] + "\x00" for k in known if len(k) > 1],
    ]
    for batch in filter(None, batches):
        for query, subject in _found(table, batch).items():
            if subject is not None:
                assert subject == query
            if query in known:
                assert subject == query  # a 64-bit hash of a few keys: no collision to leave a key over
    assert table.lookup([])[0].size == 0
    # Anything but an ASCII str is for the caller to answer per query.
    with pytest.raises(UnicodeEncodeError):
        table.lookup(["张三"])
    with pytest.raises(TypeError):
        table.lookup([123])  # type: ignore[list-item]


class _WeakHash(SubjectTable):
    """Every key in one of two hash values: full buckets, overflow chains, equal hash bits for other keys."""

    def _hash(self, keys: npt.NDArray[np.bytes_]) -> npt.NDArray[np.int64]:
        words = keys.view(np.uint64).reshape(len(keys), keys.dtype.itemsize // 8)
        return (words[:, 0] & np.uint64(1)).astype(np.int64) << np.int64(40)


def test_collisions_never_answer_for_another_subject(catalogue: Catalogue) -> None:
    known = {person_id(i) for i in range(200)} | {org_id(i) for i in range(50)}
    table = _WeakHash(compile_rules(catalogue), {}, known)
    queries = sorted(known) + [person_id(i) for i in range(200, 260)]
    found = _found(table, queries)
    assert all(s is None or s == q for q, s in found.items())
    assert sum(s is not None for s in found.values()) > 0  # the first key of each chain at least
    # Growth and a wider key under the weak hash: every row found again is its own key.
    table.set({f"passport:CHN:E{i:08d}": None for i in range(300)})
    found = _found(table, [*queries, *(f"passport:CHN:E{i:08d}" for i in range(300))])
    assert all(s is None or s == q for q, s in found.items())


def test_check_many_equals_check_under_a_weak_hash(
    db: Database, catalogue: Catalogue, now: dt.datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Queries the table cannot vouch for go the way check() goes: the batch is the same."""
    monkeypatch.setattr(SubjectTable, "_hash", _WeakHash._hash)
    for i in range(30):
        file(db.engine, catalogue, now, external_id=f"J{i}", subject_id=person_id(i), subject_name="某")
    file(
        db.engine,
        catalogue,
        now,
        external_id="O",
        subject_id=org_id(1),
        subject_name="某公司",
        legal_representative_id=person_id(40),
        legal_representative_name="某",
    )
    checker = Checker(db.engine, catalogue)
    at = now + dt.timedelta(seconds=1)
    acts = ("transport.air.ticket", "government.procurement.bid", "customs.green_channel")
    queries = [(s, a) for s in [*map(person_id, range(45)), org_id(1), org_id(2)] for a in acts]
    batch = checker.check_many(queries, as_of=at)
    assert batch.to_list() == [checker.check(s, a, as_of=at) for s, a in queries]
    assert sum(not a for a in batch.allowed) >= 31 * 2


def test_growth_keeps_rows_and_values(catalogue: Catalogue) -> None:
    table = SubjectTable(compile_rules(catalogue), {}, {person_id(1)})
    before, _ = table.lookup([person_id(1)])
    many = {org_id(i): None for i in range(2, 3000)}  # person_id repeats after 1,000
    many["passport:CHN:E12345678901"] = None  # wider than every key so far: every hash changes
    table.set(many)
    rows, vids = table.lookup([person_id(1), *many])
    assert rows[0] == before[0]
    assert all(rows) and not any(vids)
    assert [table.subject(int(r)) for r in rows] == [person_id(1), *many]


def test_compaction_keeps_what_a_batch_captured(catalogue: Catalogue) -> None:
    """A value id is never reused: a batch that captured ids reads its values after many updates."""
    subject = person_id(1)
    table = SubjectTable(compile_rules(catalogue), {}, {subject, person_id(2)})
    first: Any = ("first",)  # a tuple stands for several entries (the general path)
    table.set({subject: first})
    values, (_, vids) = table.values, table.lookup([subject])
    for i in range(5000):  # far more replaced values than rows: compacted on the way
        table.set({subject: (f"v{i}",)})
    assert table.values is not values  # compacted into a new list
    assert values[vids[0]] is first
    _, now_ids = table.lookup([subject])
    assert table.values[now_ids[0]] == ("v4999",)
    assert len(table.values) < 1100


def test_batch_of_unusual_spellings_equals_check(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    file(db.engine, catalogue, now, external_id="J", subject_id=person_id(3), subject_name="某")
    checker = Checker(db.engine, catalogue)
    act = "transport.air.ticket"
    at = now + dt.timedelta(seconds=1)
    for subject in ("张三", person_id(3) + "\x00", person_id(3)[:-1], " " + person_id(3) + " ", ""):
        try:
            expected: Any = checker.check(subject, act, as_of=at)
        except IdentifierError as e:
            with pytest.raises(IdentifierError) as batch_error:
                checker.check_many([(person_id(3), act), (subject, act)], as_of=at)
            assert str(batch_error.value) == str(e)
        else:
            got = checker.check_many([(person_id(3), act), (subject, act)], as_of=at)
            assert got[1] == expected and got[0] == checker.check(person_id(3), act, as_of=at)


def test_one_buffer_is_cut_only_where_every_separator_falls(catalogue: Catalogue) -> None:
    """Queries of different lengths whose total fits an even cut are not read as other keys."""
    table = SubjectTable(compile_rules(catalogue), {}, {"A", "CD", "AB", "BCDE"})
    assert _found(table, ["A", "BCD"]) == {"A": "A", "BCD": None}  # "A|BCD|" would cut as "A|B", "CD|"
    assert _found(table, ["AB", "C", "DE"]) == {"AB": "AB", "C": None, "DE": None}
    assert _found(table, ["CD", "AB"]) == {"CD": "CD", "AB": "AB"}
    assert _found(table, ["", "A"]) == {"": None, "A": "A"}  # an empty query matches nothing


def test_subjects_the_table_cannot_hold_are_left_to_the_dict_and_set(catalogue: Catalogue) -> None:
    odd = {"张三", "A\x00", "B" * 300}
    table = SubjectTable(compile_rules(catalogue), {"张三": ("entries",)}, {person_id(1), *odd})
    assert _found(table, [person_id(1), "B" * 300, "A"]) == {
        person_id(1): person_id(1),
        "B" * 300: None,
        "A": None,
    }
    table.set(dict.fromkeys(odd))  # not tabled, and no error
    assert _found(table, [person_id(1)]) == {person_id(1): person_id(1)}
