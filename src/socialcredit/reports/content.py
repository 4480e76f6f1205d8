"""A credit report's content: what the registry holds about one subject over the last five years, as JSON.

The JSON is what is signed (``signing.canonical``), what the PDF shows, and what a verifier compares with the
registry's state later, so it holds only facts (no layout) and only values JSON keeps exactly (text, integers,
booleans, null). Times are ISO 8601 UTC, dates ``YYYY-MM-DD`` China days (decision 0701).

Which records (decision 0605): every record about the subject, or naming it as legal representative or actual
controller, that is still in force or pending, or whose end (expiry, revocation, repair, fulfilment) falls in the
five years before the report; a record that ended earlier is not reported, as Credit China's special-purpose
report covers at most five years. A repaired record is reported and labelled as repaired, with the day.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import Connection, select

from ..catalogue import Catalogue
from ..process.repair import repair_eligible_from
from ..registry import states_for_subject
from ..registry.state import RecordState, display_status, local_date
from ..store.tables import subjects
from ..timefmt import for_json

__all__ = [
    "FORMAT",
    "PERIOD_YEARS",
    "SubjectNotFound",
    "build_report",
    "changes_since",
    "new_report_no",
    "record_entry",
    "records_in_period",
]

FORMAT = "socialcredit.report/1"
PERIOD_YEARS = 5
# Report numbers carry 60 random bits: a number alone opens nothing (the /verify page also wants the digest),
# and numbers cannot be enumerated.
_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"  # no I, L, O, U, 0, 1: read aloud and typed without confusion

# Changes a verifier reports: the fields of a record entry that say what applies (catalogue texts excluded: a
# new catalogue version rewords titles, it does not change the record).
COMPARED = ("status", "ended_at", "last_day", "applies_from", "decision_no", "category", "authority", "role")


class SubjectNotFound(LookupError):
    """No such subject in the registry."""


def new_report_no(issued_at: dt.datetime) -> str:
    tail = "".join(secrets.choice(_ALPHABET) for _ in range(12))
    return f"SCR-{local_date(issued_at).strftime('%Y%m%d')}-{tail}"


def _period_start(now: dt.datetime) -> dt.datetime:
    day = local_date(now)
    try:
        start = day.replace(year=day.year - PERIOD_YEARS)
    except ValueError:  # 29 February
        start = day.replace(year=day.year - PERIOD_YEARS, day=28)
    return dt.datetime.combine(start, dt.time(), now.tzinfo or dt.UTC)


def records_in_period(states: list[RecordState], now: dt.datetime) -> list[RecordState]:
    start = _period_start(now)
    return [s for s in states if s.valid_until is None or s.valid_until >= start or s.applies_from >= start]


def _last_day(until: dt.datetime | None) -> str | None:
    return None if until is None else (local_date(until) - dt.timedelta(days=1)).isoformat()


def _role(s: RecordState, subject_id: str) -> str:
    if s.subject_id == subject_id:
        return "subject"
    return "legal_representative" if s.legal_representative_id == subject_id else "actual_controller"


def _authority_name(catalogue: Catalogue, code: str) -> str:
    auth = catalogue.authorities.get(code)
    return auth.name if auth else code


def record_entry(s: RecordState, catalogue: Catalogue, subject_id: str, now: dt.datetime) -> dict[str, Any]:
    """One record as the report states it at ``now``."""
    cat = catalogue.categories.get(s.category)
    auth = catalogue.authorities.get(s.authority)
    status = display_status(s, now)
    measures = [
        {
            "memorandum": memo.title,
            "title": m.title,
            "department": m.department,
            "department_name": _authority_name(catalogue, m.department),
            "effect": m.effect,
        }
        for memo, m in catalogue.measures_for(s.category)
    ]
    objection = None
    repair = None
    if cat is not None:
        obj = cat.objection
        objection = {
            "days": obj.days,
            "working_days": obj.working_days,
            "reconsideration": obj.reconsideration,
            "legal_basis": obj.legal_basis,
        }
        eligible = repair_eligible_from(s, catalogue)
        repair = {
            "possible": eligible is not None,
            "from": None if eligible is None else local_date(eligible).isoformat(),
            "removal": cat.removal,
            "ends_by_fulfilment": cat.ends_by_fulfilment,
        }
    return {
        "id": s.id,
        "role": _role(s, subject_id),
        "category": s.category,
        "category_title": cat.title if cat else s.category,
        "category_title_en": (cat.title_en if cat else None) or s.category,
        "list": cat.list if cat else None,
        "authority": s.authority,
        "authority_name": auth.name if auth else s.authority,
        "authority_name_en": auth.name_en if auth else None,
        "decision_no": s.decision_no,
        "decided_on": s.decided_on.isoformat(),
        "legal_basis": s.legal_basis or (cat.legal_basis if cat else ""),
        "summary": s.summary,
        "applies_from": local_date(s.applies_from).isoformat(),
        "last_day": _last_day(s.valid_until),
        "status": status,
        "repaired": status == "repaired",
        "ended_at": for_json(s.ended_at),
        "measures": measures,
        "objection": objection,
        "repair": repair,
    }


def build_report(
    conn: Connection,
    catalogue: Catalogue,
    subject_id: str,
    now: dt.datetime,
    report_no: str | None = None,
    verify_at: str = "",
) -> dict[str, Any]:
    """The report of ``subject_id`` (canonical) as of ``now``; SubjectNotFound if the registry has no such
    subject."""
    row = conn.execute(select(subjects).where(subjects.c.id == subject_id)).mappings().first()
    if row is None:
        raise SubjectNotFound(subject_id)
    states = records_in_period(states_for_subject(conn, subject_id), now)
    entries = [record_entry(s, catalogue, subject_id, now) for s in states]
    kind = "special" if row["kind"] == "organisation" else "personal"
    return {
        "format": FORMAT,
        "kind": kind,
        "report_no": report_no or new_report_no(now),
        "issued_at": for_json(now),
        "period": {"from": local_date(_period_start(now)).isoformat(), "to": local_date(now).isoformat()},
        "catalogue_version": catalogue.version,
        "subject": {"id": row["id"], "kind": row["kind"], "name": row["name"], "region": row["region"]},
        "records": entries,
        "verify_at": verify_at,  # the base address of /verify the QR code opens (a fact of the issued PDF)
    }


def changes_since(report: dict[str, Any], current: dict[str, Any]) -> list[dict[str, Any]]:
    """What differs between the records of an issued report and the same subject's report now: one item per
    changed field of a listed record, a record no longer reported, or a record reported now and not then."""
    was = {r["id"]: r for r in report.get("records", []) if isinstance(r, dict) and "id" in r}
    now = {r["id"]: r for r in current.get("records", [])}
    out: list[dict[str, Any]] = []
    for rid, old in was.items():
        new = now.get(rid)
        if new is None:
            out.append({"record": rid, "field": "record", "was": "reported", "now": "no longer reported"})
            continue
        for name in COMPARED:
            if old.get(name) != new.get(name):
                out.append({"record": rid, "field": name, "was": old.get(name), "now": new.get(name)})
    for rid in sorted(set(now) - set(was)):
        out.append({"record": rid, "field": "record", "was": None, "now": "reported since"})
    return out
