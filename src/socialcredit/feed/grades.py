"""``grade.changed``: a subject's grade letter moved because of a record event (decision 1011).

A feed step, not the registry writer, makes them: the import files 20,000+ records a second and grading each
inside its transaction would cost more than the filing itself. The :class:`Grader` follows the outbox with its
own cursor (``feed_cursors`` row ``grades``) and, for each record event about a subject that a model of the
catalogue may grade (organisations; persons only under reward-only models, as grading rules), compares the
grade just before the event with the grade just after it, both at the event's recorded instant and from the
record states as of the events before and including it (by sequence number, so two records filed in one batch
at one instant are two causes, not one). Where the letter differs it appends a ``grade.changed`` row to the
outbox, after its cause, with its body stored: the bytes are fixed when the event is made, so every delivery
and replay sends the same ones even after the catalogue's models change.

The event's id is ``grade:<record event seq>:<model>``: a string, so it never equals a record event's number,
and a function of its cause, so a grader that runs again over the same events makes the same ids (a unique
index refuses a second copy).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..catalogue import Catalogue
from ..grading.explain import grade_states
from ..grading.model import ScoringModel
from ..grading.rules import rule_for
from ..registry.state import RecordState
from ..registry.writer import write_lock
from ..store.tables import feed_cursors, outbox, record_events, records, subjects

__all__ = ["CURSOR_NAME", "GRADE_CHANGED", "GradeEvent", "Grader", "event_key", "grade_events", "models_for"]

GRADE_CHANGED = "grade.changed"
CURSOR_NAME = "grades"


def _encode(body: dict[str, Any]) -> str:
    """Sorted keys, as a record event's payload is written (registry.writer.event_payload)."""
    return json.dumps(body, ensure_ascii=False, sort_keys=True)


def event_key(cause_seq: int, model: str) -> str:
    """The id of the grade change ``cause_seq`` made under ``model``: never a record event's number."""
    return f"grade:{cause_seq}:{model}"


def models_for(catalogue: Catalogue, kind: str) -> list[ScoringModel]:
    """The models that may grade a subject of ``kind`` (decision 1002): a person only under a reward-only one."""
    return [
        m
        for _, m in sorted(catalogue.models.items())
        if m.kind == kind and (kind != "person" or m.reward_only)
    ]


@dataclass(frozen=True, slots=True)
class GradeEvent:
    key: str
    cause_seq: int
    record_id: int
    subject_id: str
    body: str


def _utc(at: dt.datetime) -> dt.datetime:
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def _body(
    catalogue: Catalogue,
    model: ScoringModel,
    subject: str,
    cause: tuple[int, str, dt.datetime, RecordState],
    old: Any,
    new: Any,
) -> str:
    seq, type_, at, st = cause
    cat = catalogue.categories.get(st.category)
    rule = rule_for(model, cat) if cat is not None and model.kind in cat.subject_kinds else None
    body = {
        "type": GRADE_CHANGED,
        "event_id": event_key(seq, model.code),
        "subject_id": subject,
        "model": model.code,
        "model_title": model.title,
        "old_grade": old.grade,
        "new_grade": new.grade,
        "old_score": float(old.score),
        "new_score": float(new.score),
        "cause": {
            "event_id": seq,
            "type": type_,
            "record_id": st.id,
            "authority": st.authority,
            "category": st.category,
        },
        # The rule that scores the cause's record, and the law it cites; the model's own source beside it.
        "rule": rule.code if rule is not None else None,
        "legal_basis": rule.legal_basis if rule is not None else None,
        "model_source": model.source,
        "recorded_at": at.isoformat(),
        "catalogue_version": catalogue.version,
    }
    return _encode(body)


@dataclass(frozen=True, slots=True)
class _Read:
    """What grading a batch of causes needs from the store, read first so no transaction stays open while it
    grades (on SQLite every transaction holds the write lock: store.database)."""

    about: dict[int, str]  # cause seq -> its record's subject
    graded: dict[str, list[ScoringModel]]  # subject -> the models that may grade it
    wanted: list[int]  # the causes about a graded subject, in order
    history: list[Any]  # (seq, type, recorded_at, state) of every event of their records up to the last cause


def grade_events(conn: Connection, catalogue: Catalogue, causes: Sequence[Any]) -> list[GradeEvent]:
    """The grade changes the record events ``causes`` (rows with ``event_seq``, in order) made, in their order."""
    read = _read(conn, catalogue, causes)
    return _changes(catalogue, read) if read is not None else []


def _read(conn: Connection, catalogue: Catalogue, causes: Sequence[Any]) -> _Read | None:
    seqs = [int(r.event_seq) for r in causes]
    if not seqs or not catalogue.models:
        return None
    about: dict[int, str] = {}
    for seq, state in conn.execute(
        select(record_events.c.seq, record_events.c.state).where(record_events.c.seq.in_(seqs))
    ):
        about[int(seq)] = orjson.loads(state)["subject_id"]
    kinds = dict(
        conn.execute(
            select(subjects.c.id, subjects.c.kind).where(subjects.c.id.in_(set(about.values())))
        ).all()
    )
    graded = {s: ms for s, k in kinds.items() if (ms := models_for(catalogue, str(k)))}
    wanted = [s for s in seqs if about.get(s) in graded]
    if not wanted:
        return None
    subjects_of, want = {about[s] for s in wanted}, set(wanted)
    # Every record about these subjects now, and the causes' own (a record moved to another subject since).
    rids = set(conn.execute(select(records.c.id).where(records.c.subject_id.in_(subjects_of))).scalars()) | {
        int(r.record_id) for r in causes if int(r.event_seq) in want
    }
    history = conn.execute(
        select(record_events.c.seq, record_events.c.type, record_events.c.recorded_at, record_events.c.state)
        .where(record_events.c.record_id.in_(rids), record_events.c.seq <= max(wanted))
        .order_by(record_events.c.seq)
    ).all()
    return _Read(about, graded, wanted, list(history))


def _changes(catalogue: Catalogue, read: _Read) -> list[GradeEvent]:
    about, graded, wanted, history = read.about, read.graded, read.wanted, read.history
    subjects_of = {about[s] for s in wanted}
    want = set(wanted)
    current: dict[str, dict[int, RecordState]] = {s: {} for s in subjects_of}
    owner: dict[int, str] = {}  # record id -> the subject its newest state so far names

    def apply(st: RecordState) -> None:
        """A record's state replaces its previous one, whichever subject that named."""
        was = owner.pop(st.id, None)
        if was is not None:
            del current[was][st.id]
        if st.subject_id in current:
            current[st.subject_id][st.id] = st
            owner[st.id] = st.subject_id

    made: list[GradeEvent] = []
    for seq, type_, at, text in history:
        st = RecordState.from_json(text)
        seq = int(seq)
        if seq not in want:  # an earlier event (or one about a subject no model grades): its state only
            apply(st)
            continue
        subject = about[seq]
        at = _utc(at)
        before = list(current[subject].values())
        apply(st)
        after = list(current[subject].values())
        for model in graded[subject]:
            old = grade_states(model, catalogue, subject, before, at)
            new = grade_states(model, catalogue, subject, after, at)
            if old.grade != new.grade:
                body = _body(catalogue, model, subject, (seq, str(type_), at, st), old, new)
                made.append(GradeEvent(event_key(seq, model.code), seq, st.id, subject, body))
    return made


class Grader:
    """The feed step that appends ``grade.changed`` rows to the outbox after their causes (decision 1011)."""

    def __init__(self, catalogue: Catalogue, *, batch: int = 500) -> None:
        self.catalogue, self.batch = catalogue, batch

    def _cursor(self, conn: Connection) -> int | None:
        return conn.execute(
            select(feed_cursors.c.seq).where(feed_cursors.c.name == CURSOR_NAME)
        ).scalar_one_or_none()

    def step(self, engine: Engine) -> int:
        """Grade the record events after the cursor (up to ``batch``); returns how many grade changes it made."""
        with engine.connect() as conn:
            cursor = self._cursor(conn)
            rows = conn.execute(
                select(outbox.c.seq, outbox.c.event_seq, outbox.c.record_id)
                .where(outbox.c.seq > (cursor or 0), outbox.c.event_key.is_(None))
                .order_by(outbox.c.seq)
                .limit(self.batch)
            ).all()
            if not rows:
                return 0
            read = _read(conn, self.catalogue, rows)
        # Graded with no transaction open (on SQLite a reader holds the write lock too): registry writers wait
        # only for the reads above and the few rows appended below.
        made = _changes(self.catalogue, read) if read is not None else []
        now = dt.datetime.now(dt.UTC)
        try:
            with engine.begin() as conn:
                # Outbox seqs are allocated under the writers' lock (commit order = seq order); it also makes
                # two graders take turns, and the cursor read again under it tells whether another came first.
                write_lock(conn)
                if self._cursor(conn) != cursor:
                    return 0
                if made:
                    conn.execute(
                        insert(outbox),
                        [
                            {
                                "event_seq": g.cause_seq,
                                "record_id": g.record_id,
                                "type": GRADE_CHANGED,
                                "subject_ids": json.dumps([g.subject_id]),
                                "created_at": now,
                                "event_key": g.key,
                                "body": g.body,
                            }
                            for g in made
                        ],
                    )
                last = int(rows[-1].seq)
                if cursor is None:
                    conn.execute(insert(feed_cursors).values(name=CURSOR_NAME, seq=last, updated_at=now))
                else:
                    conn.execute(
                        update(feed_cursors)
                        .where(feed_cursors.c.name == CURSOR_NAME)
                        .values(seq=last, updated_at=now)
                    )
        except IntegrityError:  # another grader made the cursor row or these events first: nothing lost
            return 0
        return len(made)

    def run_until_idle(self, engine: Engine) -> int:
        """Steps until the cursor reaches the outbox's head; the grade changes made."""
        total = 0
        while True:
            with engine.connect() as conn:
                before = self._cursor(conn)
            total += self.step(engine)
            with engine.connect() as conn:
                if self._cursor(conn) == before:
                    return total


@dataclass(frozen=True, slots=True)
class RegistrarView:
    """What a registrar's feed read and subscription get (decision 1011): grade changes only, each as stored
    except the cause's record id, given only for the registrar's own authority's records (decision 1002)."""

    authority: str | None

    def keeps(self, type_: str) -> bool:
        return type_ == GRADE_CHANGED

    def form(self, payload: str) -> dict[str, Any]:
        body: dict[str, Any] = orjson.loads(payload)
        cause = body.get("cause")
        if isinstance(cause, dict) and cause.get("authority") != self.authority:
            cause["record_id"] = None
        return body

    def body(self, payload: str) -> bytes:
        """The delivered bytes: a function of the stored body and the key, so the same on every delivery."""
        return _encode(self.form(payload)).encode()
