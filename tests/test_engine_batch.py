"""check_many's columnar answer: verdict columns computed at once, each Decision built on access, exactly."""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Sequence
from pathlib import Path

import pytest

from factories import org_id, person_id
from socialcredit.api.views import checkpoint_decisions
from socialcredit.catalogue import Catalogue
from socialcredit.engine import Checker, Decision, Decisions, UnknownAction
from socialcredit.identifiers import IdentifierError
from socialcredit.registry import apply_event, revoke
from socialcredit.store import Database
from test_engine_support import file, red_catalogue, reference

US = dt.timedelta(microseconds=1)


def _registry(db: Database, cat: Catalogue, now: dt.datetime) -> list[str]:
    """Records covering every path of a batch; returns the subjects to ask about, as a client may spell them."""
    # An organisation denied, reaching its legal representative and actual controller.
    file(
        db.engine,
        cat,
        now,
        external_id="J1",
        subject_id=org_id(1),
        subject_name="某公司",
        legal_representative_id=person_id(3),
        legal_representative_name="张三",
        actual_controller_id=person_id(5),
        actual_controller_name="李四",
    )
    file(db.engine, cat, now, external_id="J2", subject_id=person_id(7), subject_name="王五")
    # A red-list organisation (expedite), and one on both lists (its rewards withheld, with a note).
    for ext, org in (("R1", org_id(8)), ("R2", org_id(9))):
        file(
            db.engine,
            cat,
            now,
            external_id=ext,
            authority="sta",
            category="tax.a_grade",
            subject_id=org,
            subject_name="好公司",
            decided_on="2026-01-05",
        )
    file(db.engine, cat, now, external_id="B9", subject_id=org_id(9), subject_name="好公司")
    # The legal representative of org 1 also listed in their own right: several entries.
    file(db.engine, cat, now, external_id="J3", subject_id=person_id(3), subject_name="张三")
    # Not in force yet; and suspended now.
    file(
        db.engine,
        cat,
        now,
        external_id="J4",
        subject_id=person_id(13),
        subject_name="赵六",
        effective_from=(now + dt.timedelta(days=30)).date().isoformat(),
    )
    paused = file(db.engine, cat, now, external_id="J5", subject_id=person_id(15), subject_name="孙七")
    with db.engine.begin() as conn:
        apply_event(
            conn,
            paused.id,
            "suspended",
            lambda s: s.with_(suspensions=((now - dt.timedelta(days=1), now + dt.timedelta(days=1)),)),
            "test",
            now,
        )
    return [
        org_id(1),
        person_id(3),
        person_id(5),
        person_id(7),
        org_id(8),
        org_id(9),
        person_id(13),
        person_id(15),
        person_id(99),  # not in the registry
        " " + person_id(7).lower(),  # non-canonical spelling of a listed person
        org_id(1).lower(),
        person_id(98).lower(),  # non-canonical and unknown
    ]


def _assert_matches_check(
    checker: Checker, batch: Decisions, queries: Sequence[tuple[str, str]], as_of: dt.datetime
) -> list[Decision]:
    singles = [checker.check(s, a, as_of=as_of) for s, a in queries]
    assert len(batch) == len(queries)
    assert batch.subjects == [d.subject for d in singles]
    assert batch.actions == [d.action for d in singles]
    assert batch.allowed == [d.allowed for d in singles]
    assert batch.effects == [d.effects for d in singles]
    assert batch.known == [d.known for d in singles]
    assert batch.denied_count == sum(not d.allowed for d in singles)
    assert batch.denied() == [i for i, d in enumerate(singles) if not d.allowed]
    # Materialised one by one (out of order), then all at once: the same objects, equal to check()'s.
    for i in reversed(range(0, len(queries), 3)):
        assert batch[i] == singles[i], queries[i]
    assert batch.to_list() == singles
    assert [d.to_dict() for d in batch] == [d.to_dict() for d in singles]
    return singles


def test_columns_and_decisions_equal_check(db: Database, tmp_path: Path, now: dt.datetime) -> None:
    cat = red_catalogue(tmp_path)
    subjects = _registry(db, cat, now)
    checker = Checker(db.engine, cat)
    queries = [(s, a) for s in subjects for a in sorted(cat.actions)]
    batch = checker.check_many(queries, as_of=now)
    singles = _assert_matches_check(checker, batch, queries, now)
    # Every path was exercised: each effect, a linked person, withheld red-list benefits, strangers.
    assert {e for d in singles for e in d.effects} == {"deny", "restrict", "review", "expedite"}
    assert {r.via for d in singles for r in d.reasons} == {
        "subject",
        "legal_representative",
        "actual_controller",
    }
    assert any(d.notes and all(r.withheld for r in d.reasons) for d in singles)
    assert not all(batch.known) and all(
        batch.known[i] for i, (s, _) in enumerate(queries) if s == subjects[9]
    )
    assert {batch.subjects[i] for i, (s, _) in enumerate(queries) if s == subjects[9]} == {person_id(7)}
    assert batch.denied_count > 0 and not all(d.reasons for d in singles)
    # And check() itself agrees with the slow reference on the interesting ones.
    for i, (s, a) in enumerate(queries):
        if singles[i].notes or (singles[i].reasons and i % 7 == 0):
            want = reference(db.engine, cat, s, a, now)
            got = singles[i].to_dict()
            del got["as_of"]
            assert got == want
    # The current instant by default.
    before = dt.datetime.now(dt.UTC)
    fresh = checker.check_many(queries[:5])
    assert before <= fresh.as_of <= dt.datetime.now(dt.UTC) and all(d.as_of == fresh.as_of for d in fresh)


def test_each_element_built_once(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    file(db.engine, catalogue, now)
    checker = Checker(db.engine, catalogue)
    queries = [(person_id(11), "transport.air.ticket"), (person_id(99), "transport.air.ticket")] * 3
    batch = checker.check_many(queries, as_of=now)
    first = batch[1]
    assert batch[1] is first and batch[-5] is first
    assert batch[0] is not batch[2] and batch[0] == batch[2]
    everything = list(batch)
    assert everything[1] is first and everything == batch.to_list()
    assert all(a is b for a, b in zip(batch, everything, strict=True))
    assert batch.to_list() is not batch.to_list()  # a new list each time, of the same decisions
    assert gc.isenabled()


def test_exact_across_a_refresh(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    """A refresh between check_many and reading a decision changes nothing the batch answers."""
    listed = file(db.engine, catalogue, now, external_id="A", subject_id=person_id(11), subject_name="甲")
    checker = Checker(db.engine, catalogue)
    act = "transport.air.ticket"
    queries = [(person_id(11), act), (person_id(12), act), (person_id(13), act), (org_id(4), act)]
    assert checker.check(person_id(12), act).known is False
    at = now + 2 * US  # after the changes below take effect
    batch = checker.check_many(queries, as_of=at)
    then = [checker.check(s, a, as_of=at) for s, a in queries]
    # Then: person 11's record is revoked, 12 and org 4 are listed (org 4 with 13 as legal representative).
    with db.engine.begin() as conn:
        revoke(conn, listed.id, "performed", "test", now + US)
    file(db.engine, catalogue, now + US, external_id="B", subject_id=person_id(12), subject_name="乙")
    file(
        db.engine,
        catalogue,
        now + US,
        external_id="C",
        subject_id=org_id(4),
        subject_name="丙公司",
        legal_representative_id=person_id(13),
        legal_representative_name="丁",
    )
    assert checker.refresh() == 3
    later = [checker.check(s, a, as_of=at) for s, a in queries]
    assert [d.allowed for d in later] == [True, False, False, False]
    assert [d.allowed for d in then] == [False, True, True, True]
    assert [d.known for d in then] == [True, False, False, False]
    # The batch still answers for its instant, as computed before the refresh: columns and decisions.
    assert batch.allowed == [False, True, True, True]
    assert batch.known == [True, False, False, False]
    assert batch[0] == then[0] and batch[0].reasons and batch[0].reasons[0].record_id == listed.id
    assert batch[1] == then[1] and not batch[1].known
    assert batch.to_list() == then
    assert batch != later


def test_sequence_protocol(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    file(db.engine, catalogue, now)
    checker = Checker(db.engine, catalogue)
    acts = ["transport.air.ticket", "government.procurement.bid", "legal"]
    queries = [(s, a) for s in (person_id(11), person_id(99), person_id(11).lower()) for a in acts]
    batch = checker.check_many(queries, as_of=now)
    singles = [checker.check(s, a, as_of=now) for s, a in queries]
    assert isinstance(batch, Sequence) and len(batch) == 9
    assert batch[-1] == singles[-1] and batch[0] == singles[0]
    with pytest.raises(IndexError):
        batch[9]
    with pytest.raises(TypeError):
        batch["0"]  # type: ignore[call-overload]
    # Slices are batches of their own: columns sliced, decisions equal (shared where already built).
    built = batch[4]
    for sl in (slice(2, 6), slice(None, None, 2), slice(None, None, -1), slice(5, 5), slice(-3, None)):
        part = batch[sl]
        assert isinstance(part, Decisions) and len(part) == len(singles[sl])
        assert part == singles[sl] and part.to_list() == singles[sl]
        assert part.allowed == batch.allowed[sl] and part.subjects == batch.subjects[sl]
        assert part.effects == batch.effects[sl] and part.known == batch.known[sl]
    assert batch[4:5][0] is built
    # Equality is element-wise against any sequence of decisions, either way round.
    assert batch == singles and singles == batch and batch == tuple(singles)
    assert batch == checker.check_many(queries, as_of=now)
    assert batch != singles[:-1] and batch != [*singles[:-1], singles[0]]
    assert batch != checker.check_many(queries, as_of=now + US)  # as_of differs
    assert (batch == 3) is False and batch != "abc"
    assert singles[3] in batch and batch.index(singles[3]) == 3 and batch.count(singles[0]) == 2
    assert list(reversed(batch)) == singles[::-1]
    with pytest.raises(TypeError):
        hash(batch)
    assert "9 checks" in repr(batch) and f"{batch.denied_count} denied" in repr(batch)
    # The empty batch.
    empty = checker.check_many([])
    assert empty == [] and [] == empty and len(empty) == 0 and not empty  # noqa: SIM300 (both ways round)
    assert (empty.allowed, empty.subjects, empty.effects, empty.known, empty.to_list()) == (
        [],
        [],
        [],
        [],
        [],
    )
    assert empty.denied_count == 0 and empty.denied() == [] and list(empty) == []


def test_errors_before_anything(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    file(db.engine, catalogue, now)
    checker = Checker(db.engine, catalogue)
    # An unknown action is reported first, even after a malformed identifier or with a bad instant.
    with pytest.raises(UnknownAction, match=r"transport\.teleport"):
        checker.check_many([("not-an-id", "transport.air.ticket"), (person_id(11), "transport.teleport")])
    with pytest.raises(UnknownAction):
        checker.check_many([(person_id(11), "nope")], as_of=dt.datetime(2026, 1, 1))
    with pytest.raises(IdentifierError):
        checker.check_many([(person_id(11), "transport.air.ticket"), ("not-an-id", "transport.air.ticket")])
    with pytest.raises(ValueError, match="as_of"):
        checker.check_many([(person_id(11), "transport.air.ticket")], as_of=dt.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="known_at"):
        checker.check_many([(person_id(11), "transport.air.ticket")], known_at=dt.datetime(2026, 1, 1))


def test_store_answers_are_a_batch_too(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    """known_at, and an as_of before the cutoff, answer from the store: the same columns and decisions."""
    st = file(db.engine, catalogue, now, effective_from="2025-07-01", effective_until="2025-12-31")
    act = "transport.air.ticket"
    queries = [(person_id(11), act), (person_id(99), act), (person_id(11).lower(), "legal")]
    forgetful = Checker(db.engine, catalogue, history=dt.timedelta(0))
    old = forgetful.check_many(queries, as_of=st.applies_from)
    assert isinstance(old, Decisions) and old.allowed == [False, True, True]
    _assert_matches_check(forgetful, old, queries, st.applies_from)
    checker = Checker(db.engine, catalogue, history=None)
    known_then = checker.check_many(queries, as_of=st.applies_from, known_at=now)
    singles = [checker.check(s, a, as_of=st.applies_from, known_at=now) for s, a in queries]
    assert known_then == singles
    assert known_then.allowed == [d.allowed for d in singles] == [False, True, True]
    assert known_then.known == [True, False, True]
    assert known_then.subjects == [person_id(11), person_id(99), person_id(11)]
    assert known_then[0:2] == singles[0:2] and known_then[0] is known_then.to_list()[0]
    before = checker.check_many(queries, as_of=st.applies_from, known_at=now - US)
    assert before.allowed == [True, True, True] and before.known == [False, False, False]


def test_checkpoint_views_of_a_batch_equal_those_of_its_decisions(
    db: Database, tmp_path: Path, now: dt.datetime
) -> None:
    """The checkpoint view of a batch is made from its columns and ``reason_sources`` (decision 1110), and
    builds a Decision only where ``decide`` takes its general path (several entries, withheld benefits): the
    same answer as from check()'s decisions, on every path (in force, not yet, suspended, linked, several
    records, withheld, strangers, non-canonical spellings), at instants where records have ended, and from
    the store."""
    cat = red_catalogue(tmp_path)
    subjects = _registry(db, cat, now)
    checker = Checker(db.engine, cat)
    queries = [(s, a) for s in subjects for a in sorted(cat.actions)] * 2
    sent = [s for s, _ in queries]
    for at in (now, now + dt.timedelta(days=45), now + dt.timedelta(days=4000)):
        batch = checker.check_many(queries, as_of=at)
        sources = batch.reason_sources()
        shared = [s for s in sources if isinstance(s, tuple)]
        assert None in sources and (shared or at > now)  # queries that build nothing
        assert len({id(s) for s in shared}) == len({(id(s[0]), s[1]) for s in shared})  # one tuple per kind
        singles = [checker.check(s, a, as_of=at) for s, a in queries]
        assert checkpoint_decisions(batch, sent, 7) == checkpoint_decisions(singles, sent, 7)
    old = Checker(db.engine, cat, history=None).check_many(queries, as_of=now, known_at=now)
    assert all(isinstance(s, Decision) for s in old.reason_sources())
    assert checkpoint_decisions(old, sent, None) == checkpoint_decisions(list(old), sent, None)
    with pytest.raises(ValueError, match="subjects sent"):
        checkpoint_decisions(batch, sent[:-1], None)
