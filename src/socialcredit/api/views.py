"""What each audience sees of a record or a decision: the data-minimisation rules, in one place.

* registrar and subject: the whole record (the registrar only its own authority's, the subject only its own);
* registrar's decision: reasons from its own authority's records whole, reasons from other authorities'
  records in the checkpoint's form (docs/decisions/0310);
* checkpoint: the decision, and per reason only memorandum, measure, department, effect, legal basis and valid
  until; never a record id, decision number, summary, other subject, or identity detail (docs/decisions/0301);
* public: records in force of public categories only, with the fields the SPC provisions (art. 6) publish, and
  identity numbers masked (docs/decisions/0302).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from ..catalogue import Catalogue
from ..engine import Decision, Decisions, Reason
from ..engine.rules import MeasureRef
from ..keys import ApiKey
from ..registry import RecordState, display_status
from ..registry.state import local_date

__all__ = [
    "checkpoint_decisions",
    "checkpoint_reason",
    "full_decision",
    "public_record",
    "record_out",
    "record_visible",
    "registrar_decision",
    "row_of",
]


def _iso(v: dt.datetime | None) -> str | None:
    return None if v is None else v.astimezone(dt.UTC).isoformat()


def _last_day(until: dt.datetime | None) -> str | None:
    # effective_until is stored as the instant after the last day in force; rows name the last day itself.
    return None if until is None else (local_date(until) - dt.timedelta(days=1)).isoformat()


def _filed_fields(s: RecordState) -> dict[str, Any]:
    """The record's fields as an import row names them (dates as the last local day in force)."""
    return {
        "external_id": s.external_id,
        "authority": s.authority,
        "category": s.category,
        "subject_id": s.subject_id,
        "subject_name": s.subject_name,
        "decision_no": s.decision_no,
        "decided_on": s.decided_on.isoformat(),
        "effective_from": local_date(s.effective_from).isoformat(),
        "effective_until": _last_day(s.effective_until),
        "legal_basis": s.legal_basis,
        "summary": s.summary,
        "legal_representative_id": s.legal_representative_id,
        "legal_representative_name": s.legal_representative_name,
        "actual_controller_id": s.actual_controller_id,
        "actual_controller_name": s.actual_controller_name,
    }


def record_out(s: RecordState, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": s.id,
        **_filed_fields(s),
        "status": s.status,
        "display_status": display_status(s, now),
        "applies_from": _iso(s.applies_from),
        "valid_until": _iso(s.valid_until),
        "ended_at": _iso(s.ended_at),
        "filed_at": _iso(s.filed_at),
    }


def row_of(s: RecordState) -> dict[str, Any]:
    """The import row that files this record as it stands (the base an amendment changes)."""
    row = _filed_fields(s)
    if s.term_days:  # a default term from the notice's end: left out, so the amendment computes it as filed
        row["effective_until"] = None
    return {k: v for k, v in row.items() if v not in (None, "")}


def record_visible(key: ApiKey, s: RecordState) -> bool:
    """A registrar sees its own authority's records; a subject the records about it or reaching it."""
    if key.role == "registrar":
        return s.authority == key.authority
    if key.role == "subject":
        return key.subject is not None and (
            key.subject == s.subject_id or key.subject in {p for p, _ in s.linked()}
        )
    return False


def checkpoint_decisions(
    decisions: Sequence[Decision], sent: list[str], reference: int | None
) -> list[dict[str, Any]]:
    """The checkpoint view of each decision: the decision, per reason only memorandum, measure, department,
    effect, legal basis and valid until. Equal reason views are shared (a batch repeats a few measures)."""
    shown = _Shown(reference)
    if isinstance(decisions, Decisions):
        return shown.batch(decisions, sent)
    return [shown.decision(d, s) for d, s in zip(decisions, sent, strict=True)]


class _Shown:
    """The checkpoint views of one answer, sharing equal reason views and instants between its decisions."""

    def __init__(self, reference: int | None) -> None:
        self.reference = reference
        self.reasons: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.stamps: dict[dt.datetime, str | None] = {}

    def decision(self, d: Decision, s: str) -> dict[str, Any]:
        views = []
        for r in d.reasons:
            if r.grade is not None and r.withheld:  # a withheld grade reward is no reason for a checkpoint
                continue
            k = (r.memorandum, r.measure, r.department, r.effect, r.legal_basis, r.valid_until, r.grade)
            v = self.reasons.get(k)
            if v is None:
                v = self.reasons[k] = checkpoint_reason(r)
            views.append(v)
        as_of = self.stamps.get(d.as_of)
        if as_of is None:
            as_of = self.stamps[d.as_of] = _iso(d.as_of)
        return {
            "subject": s,
            "action": d.action,
            "as_of": as_of,
            "allowed": d.allowed,
            "effects": d.effects,
            "reasons": views,
            "catalogue_version": d.catalogue_version,
            "reference": self.reference,
        }

    def batch(self, batch: Decisions, sent: list[str]) -> list[dict[str, Any]]:
        """A batch from its columns: a query with no reasons, or with one entry's measures
        (``Decisions.reason_sources``), builds no Decision, and its reasons' views are shared by every query
        with the same measures and end (a batch of 10,000 builds a few dozen); any other query is shown from
        its Decision. The answers are the same as from the decisions (tests/test_engine_batch.py)."""
        if len(sent) != len(batch):
            raise ValueError(f"{len(sent)} subjects sent for {len(batch)} decisions")
        shared: dict[int, list[dict[str, Any]]] = {}  # by the id of the engine's shared (refs, until)
        as_of, version, reference = _iso(batch.as_of), batch.catalogue_version, self.reference
        actions, allowed, effects = batch.actions, batch.allowed, batch.effects
        out = []
        for i, src in enumerate(batch.reason_sources()):
            if src is None:
                views: list[dict[str, Any]] = []
            elif type(src) is tuple:
                got = shared.get(id(src))
                if got is None:
                    refs, until = src
                    got = shared[id(src)] = [_measure_view(r, until) for r in refs]
                views = got
            else:
                out.append(self.decision(src, sent[i]))  # type: ignore[arg-type]
                continue
            out.append(
                {
                    "subject": sent[i],
                    "action": actions[i],
                    "as_of": as_of,
                    "allowed": allowed[i],
                    "effects": effects[i],
                    "reasons": views,
                    "catalogue_version": version,
                    "reference": reference,
                }
            )
        return out


def _measure_view(r: MeasureRef | Reason, until: dt.datetime | None) -> dict[str, Any]:
    """A measure as a checkpoint sees it, valid until ``until``: the one shape of :func:`checkpoint_reason`
    and of a batch's views made from its columns (a record's measure, no grade)."""
    return {
        "memorandum": r.memorandum,
        "measure": r.measure,
        "department": r.department,
        "effect": r.effect,
        "legal_basis": r.legal_basis,
        "valid_until": _iso(until),
    }


def checkpoint_reason(r: Reason) -> dict[str, Any]:
    """A reason as decision 0301 lets a checkpoint see it: the measure, never the record; a grade's measure
    with the model and grade behind it (decision 1003)."""
    out = _measure_view(r, r.valid_until)
    if r.grade is not None:
        out["grade"] = {"model": r.grade[0], "grade": r.grade[1]}
    return out


def full_decision(d: Decision, reference: int | None) -> dict[str, Any]:
    out = d.to_dict()
    out["reference"] = reference
    return out


_WITHHELD_NOTE = "red-list benefits withheld while a black-list record is in force"


def registrar_decision(d: Decision, authority: str | None, reference: int | None) -> dict[str, Any]:
    """The Decision as a registrar of ``authority`` sees it: its own records' reasons whole, other
    authorities' in the checkpoint form (no record id, category or linked subject). Decided per reason from
    the reason's own authority, so no query; a clean decision (most answers) costs one comparison. A grade's
    measure (no record behind it) is shown whole to every registrar (decision 1003)."""
    reasons = d.reasons
    if not d.notes:
        for r in reasons:
            if r.authority != authority and r.grade is None:
                break
        else:
            return full_decision(d, reference)
    out = d.to_dict()
    out["reasons"] = [
        r.to_dict() if r.authority == authority or r.grade is not None else checkpoint_reason(r)
        for r in reasons
    ]
    if d.notes:
        # The note names the black-list record (id and category); it stays only when that is one of ours.
        mine = {f"record {r.record_id} ({r.category})" for r in reasons if r.authority == authority}
        out["notes"] = [n if any(m in n for m in mine) else _WITHHELD_NOTE for n in d.notes]
    out["reference"] = reference
    return out


def public_record(s: RecordState, catalogue: Catalogue) -> dict[str, Any]:
    cat = catalogue.categories[s.category]
    auth = catalogue.authorities.get(s.authority)
    return {
        "category": s.category,
        "category_title": cat.title,
        "list": cat.list,
        "authority": auth.name if auth else s.authority,
        "decision_no": s.decision_no,
        "decided_on": s.decided_on.isoformat(),
        "legal_representative_name": s.legal_representative_name,
        "valid_until": _last_day(s.valid_until),
    }
