"""A subject's grade and its explanation (docs/grading.md): for a registrar, with a purpose, and for the subject
itself. The grade is computed from all the subject's records whoever asks; the explanation names the record of a
point only where the key may see that record (docs/decisions/1002). Checkpoints get no grade: no measure of the
shipped catalogue makes a grade the condition of an action."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import Connection, select
from starlette.concurrency import run_in_threadpool

from ... import audit
from ...audit import AuditEntry
from ...grading import GradingRefused, ScoringModel, UnknownModel, choose_model
from ...grading.conditions import in_scope, reasons
from ...grading.explain import grade_states
from ...grading.history import grade_history
from ...identifiers import IdentifierError, SubjectId, parse
from ...keys import ApiKey
from ...registry.projection import states_for_subject
from ...store.tables import subjects
from ...timefmt import for_json
from ..deps import ReaderKey, StateDep, XPurpose, purpose_for, require, utcnow
from ..errors import Forbidden, Invalid, NotFoundProblem, field_error, responses
from ..inputs import PlainText, instant
from ..state import AppState
from .subjects import SubjectPath

__all__ = ["router"]

router = APIRouter(prefix="/v1/subjects", tags=["grades"])

ModelQuery = Annotated[
    PlainText | None,
    Query(
        max_length=64,
        description="Model code from the catalogue (default: the first model of the subject's kind).",
        examples=["samr_risk"],
    ),
]
InstantQuery = Annotated[
    str | None, Query(max_length=64, description="ISO 8601 date or date-time.", examples=["2026-01-15"])
]


class GradePoint(BaseModel):
    record_id: int | None = Field(description="The record that scored; null for another authority's record.")
    category: str
    rule: str
    base: int
    decay: float
    points: float
    legal_basis: str
    status: str
    effective_from: str
    valid_until: str | None


class GradeToRaise(BaseModel):
    record_id: int | None = Field(description="As in points: null for another authority's record.")
    action: str = Field(description='"ends" or "repairable".')
    on: str
    grade_after: str
    how: str


class GradeThreshold(BaseModel):
    grade: str
    min: int | None


class GradeMeasure(BaseModel):
    """A measure that makes the grade the condition of an action the checkpoint checks (decision 1003)."""

    memorandum: str
    document_no: str | None
    measure: str
    title: str
    title_zh: str | None
    department: str
    effect: str
    legal_basis: str
    actions: list[str] = Field(description="The measure's actions within the key's scope.")
    grades: list[str] = Field(description="The grades on which the measure applies.")
    applies: bool = Field(description="Whether the subject's grade is one of them.")


class CheckpointGradeOut(BaseModel):
    """What a checkpoint is told: the letter and the measures that make it the condition of an action in its
    scope, never the points or records (it is not the file)."""

    subject: str
    model: str
    model_title: str
    as_of: str
    known_at: str
    grade: str
    measures: list[GradeMeasure]
    catalogue_version: str


class GradeOut(BaseModel):
    """What ``socialcredit grade --json`` prints (docs/grading.md)."""

    subject: str
    model: str
    model_title: str
    as_of: str
    known_at: str
    start: int
    points: list[GradePoint]
    score: float
    grade: str
    thresholds: list[GradeThreshold]
    to_raise: list[GradeToRaise]
    catalogue_version: str


def _subject_and_model(
    state: AppState, key: ApiKey, raw: str, model: str | None
) -> tuple[SubjectId, ScoringModel]:
    """The subject's identifier and the model to grade it under, for the single grade and the history alike."""
    try:
        sid = parse(raw, state.settings.allowlisted_codes())
    except IdentifierError as exc:
        raise Invalid(str(exc), [field_error(["path", "subject_id"], raw, exc.reason)]) from None
    if key.role == "subject" and sid.canonical != key.subject:
        raise Forbidden("a subject key reads only its own grade")
    if key.role == "checkpoint" and model is None:
        # A checkpoint is graded under the model its scope's measures use, when they use one only.
        used = {
            g.measure.grade_condition.model
            for g in in_scope(state.catalogue, key.actions)
            if g.measure.grade_condition
        }
        model = used.pop() if len(used) == 1 else None
    try:
        chosen = choose_model(state.catalogue, model, sid.kind)
    except UnknownModel as exc:
        raise Invalid(
            str(exc.args[0]), [field_error(["query", "model"], model, "not in the catalogue")]
        ) from None
    except GradingRefused as exc:
        # Refused for what the identifier says (its kind), before the store is read: no oracle of existence.
        raise Invalid(str(exc), [field_error(["query", "model"], model, str(exc))]) from None
    if key.role == "checkpoint" and not in_scope(state.catalogue, key.actions, chosen.code):
        raise Forbidden(
            f"no measure of this key's scope ({', '.join(key.actions)}) makes a grade of model "
            f"{chosen.code!r} the condition of an action: a checkpoint sees a grade only through such a measure"
        )
    return sid, chosen


def _known(conn: Connection, subject_id: str, known: dt.datetime | None) -> bool:
    q = select(subjects.c.id).where(subjects.c.id == subject_id)
    if known is not None:
        q = q.where(subjects.c.created_at <= known)
    return conn.execute(q).first() is not None


def _grade(
    state: AppState,
    key: ApiKey,
    raw: str,
    model: str | None,
    at: str | None,
    known_at: str | None,
    purpose: str | None,
) -> dict[str, Any]:
    sid, chosen = _subject_and_model(state, key, raw, model)
    now = utcnow()
    as_of = instant(at, ["query", "at"]) or now
    known = instant(known_at, ["query", "known_at"])
    with state.db.engine.begin() as conn:
        found = _known(conn, sid.canonical, known)
        # Every record counts, whoever asks: a grade that changed with the reader would be wrong (1002).
        states = states_for_subject(conn, sid.canonical, known_at=known, linked=False) if found else []
        g = grade_states(chosen, state.catalogue, sid.canonical, states, as_of, known) if found else None
        outcome = f"graded {g.model}: {g.grade}" if g is not None else "refused: 404"
        entry = AuditEntry(key.id, key.role, "grades.single", f"subject:{sid.canonical}", outcome, purpose)
        audit.append(conn, [entry], now)
    if g is None:
        raise NotFoundProblem(f"no subject {sid.canonical} in the registry")
    out = g.to_dict()
    out["known_at"] = for_json(known or now)
    if key.role == "checkpoint":
        # The letter and the measures that make it a condition, nothing of the file (decision 1003).
        measures = reasons(in_scope(state.catalogue, key.actions, g.model), g.grade)
        keep = ("subject", "model", "model_title", "as_of", "known_at", "grade", "catalogue_version")
        return {**{k: out[k] for k in keep}, "measures": measures}
    if key.role == "registrar":
        # Other authorities' records count, but are not named: the registrar sees them as a checkpoint does.
        theirs = {s.id for s in states if s.authority != key.authority}
        for item in (*out["points"], *out["to_raise"]):
            if item["record_id"] in theirs:
                item["record_id"] = None
    return out


GraderKey = Annotated[ApiKey, Depends(require("registrar", "subject", "checkpoint"))]


@router.get(
    "/{subject_id}/grade",
    response_model=GradeOut | CheckpointGradeOut,
    responses=responses(401, 403, 404, 422),
)
async def get_grade(
    subject_id: SubjectPath,
    key: GraderKey,
    state: StateDep,
    model: ModelQuery = None,
    at: InstantQuery = None,
    known_at: InstantQuery = None,
    x_purpose: XPurpose = None,
) -> Any:
    """The subject's grade under a model, each point with its rule, legal basis and (where this key may see the
    record) the record; and what would raise it. A checkpoint gets the letter only, under a model that a
    measure of its scope makes the condition of an action, with those measures as the reason (decision 1003).
    A registrar or checkpoint states a purpose. Audited (`grades.single`)."""
    purpose = purpose_for(key, x_purpose)
    return await run_in_threadpool(_grade, state, key, subject_id, model, at, known_at, purpose)


class GradeChangeOut(BaseModel):
    at: str
    old_grade: str | None
    new_grade: str
    old_score: float | None
    new_score: float
    record_id: int | None = Field(
        description="The record whose event or date changed the grade; null for another authority's record."
    )
    cause: str = Field(description="Event type or date kind (starts, ends, suspended, resumed).")


class GradeHistoryOut(BaseModel):
    subject: str
    model: str
    known_at: str
    changes: list[GradeChangeOut]


def _history(
    state: AppState,
    key: ApiKey,
    raw: str,
    model: str | None,
    frm: str | None,
    to: str | None,
    known_at: str | None,
    purpose: str | None,
) -> dict[str, Any]:
    sid, chosen = _subject_and_model(state, key, raw, model)
    now = utcnow()
    start = instant(frm, ["query", "from"])
    end = instant(to, ["query", "to"]) or now
    known = instant(known_at, ["query", "known_at"])
    with state.db.engine.begin() as conn:
        found = _known(conn, sid.canonical, known)
        changes = (
            grade_history(conn, chosen, state.catalogue, sid.canonical, start, end, known) if found else []
        )
        outcome = f"history {chosen.code}: {len(changes)} changes" if found else "refused: 404"
        entry = AuditEntry(key.id, key.role, "grades.history", f"subject:{sid.canonical}", outcome, purpose)
        audit.append(conn, [entry], now)
    if not found:
        raise NotFoundProblem(f"no subject {sid.canonical} in the registry")
    rows = []
    for c in changes:
        rid = c.record_id
        if key.role == "registrar" and c.authority != key.authority:
            rid = None
        rows.append(
            {
                "at": for_json(c.at),
                "old_grade": c.old_grade,
                "new_grade": c.new_grade,
                "old_score": c.old_score,
                "new_score": c.new_score,
                "record_id": rid,
                "cause": c.cause,
            }
        )
    return {
        "subject": sid.canonical,
        "model": chosen.code,
        "known_at": for_json(known or now),
        "changes": rows,
    }


@router.get("/{subject_id}/grades", response_model=GradeHistoryOut, responses=responses(401, 403, 404, 422))
async def get_grade_history(
    subject_id: SubjectPath,
    key: ReaderKey,
    state: StateDep,
    model: ModelQuery = None,
    from_: Annotated[InstantQuery, Query(alias="from")] = None,
    to: InstantQuery = None,
    known_at: InstantQuery = None,
    x_purpose: XPurpose = None,
) -> Any:
    """The subject's grade history under a model: an entry at each instant where its grade changed, with the
    old and new grade and score and the cause (record and event or date kind; the record named only where this
    key may see it). Same access as the single grade. Audited (`grades.history`)."""
    purpose = purpose_for(key, x_purpose)
    return await run_in_threadpool(_history, state, key, subject_id, model, from_, to, known_at, purpose)
