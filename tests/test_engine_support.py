"""Engine test helpers: filing records, a catalogue with a red list, and the slow reference evaluation.

The reference answers a check straight from the ``record_events`` table with ``registry.applies_at`` and the
catalogue's own ``covers``: it shares no code with the engine's index, rules or decision assembly.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine, select

from factories import org_id, person_id, row
from socialcredit.catalogue import Catalogue, covers, default_dir, load_catalogue
from socialcredit.grading.explain import grade_states
from socialcredit.identifiers import parse
from socialcredit.registry import RecordState, applies_at, check_row, file_batch, load_state
from socialcredit.store.tables import record_events, subjects

__all__ = [
    "file",
    "file_decisions",
    "red_catalogue",
    "reference",
    "reference_from",
    "states_known_at",
    "subject_for",
    "subjects_known_at",
]

_VIA_RANK = {"subject": 0, "legal_representative": 1, "actual_controller": 2}


def file(engine: Engine, catalogue: Catalogue, now: dt.datetime, **overrides: Any) -> RecordState:
    """File one row (the factories' defaults, overridden) and return the record's state."""
    filing = check_row(row(**overrides), catalogue, now)
    with engine.begin() as conn:
        (outcome,) = file_batch(conn, [filing], catalogue, "test", now)
        return load_state(conn, outcome.record_id)


def file_decisions(
    engine: Engine,
    catalogue: Catalogue,
    now: dt.datetime,
    decisions: Iterable[tuple[str, str, str, str, str]],
    names: Mapping[str, str] | None = None,
) -> None:
    """File one record per ``(authority, category, external_id, subject_id, decided_on)``: how the grading
    tests give firms their classes (a subject is named ``names[subject]``, else 公司)."""
    for authority, category, ext, subject, decided in decisions:
        file(
            engine,
            catalogue,
            now,
            authority=authority,
            category=category,
            subject_id=subject,
            subject_name=(names or {}).get(subject, "公司"),
            external_id=ext,
            decided_on=decided,
        )


def subject_for(catalogue: Catalogue, category: str, n: int) -> dict[str, Any]:
    """Row overrides naming a subject the category may list: an organisation with both links if allowed."""
    cat = catalogue.categories[category]
    if "organisation" in cat.subject_kinds:
        return {
            "subject_id": org_id(n),
            "subject_name": f"公司{n}",
            "legal_representative_id": person_id(n),
            "legal_representative_name": f"法人{n}",
            "actual_controller_id": person_id(n + 500),
            "actual_controller_name": f"控制人{n}",
        }
    return {"subject_id": person_id(n), "subject_name": f"人{n}"}


def red_catalogue(tmp: Path) -> Catalogue:
    """The default catalogue plus, where absent, a red list (tax.a_grade), a customs reward and a rail ban.

    Built by editing the default's data so it keeps working while the default catalogue grows.
    """
    root = tmp / "catalogue"
    shutil.copytree(default_dir(), root)

    def edit(name: str, fn: Any) -> None:
        path = root / name
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        fn(data)
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    def authorities(d: dict[str, Any]) -> None:
        for code, name in (("sta", "国家税务总局"), ("gacc", "海关总署"), ("railway", "中国国家铁路集团")):
            d["authorities"].setdefault(code, {"name": name})

    def actions(d: dict[str, Any]) -> None:
        for code in (
            "customs",
            "customs.green_channel",
            "transport",
            "transport.rail",
            "transport.rail.g_train",
            "transport.rail.g_train.ticket",
        ):
            d["actions"].setdefault(code, {"title": code})

    def categories(d: dict[str, Any]) -> None:
        d["categories"].setdefault(
            "tax.a_grade",
            {
                "list": "red",
                "title": "纳税信用A级",
                "authorities": ["sta"],
                "subject_kinds": ["organisation"],
                "legal_basis": "纳税信用管理办法",
                "duration_days": 365,
                "source": "test",
            },
        )

    edit("authorities.yaml", authorities)
    edit("actions.yaml", actions)
    edit("categories.yaml", categories)
    (root / "memoranda" / "zz_test_reward.yaml").write_text(
        yaml.safe_dump(
            {
                "code": "zz_test_reward",
                "title": "test reward",
                "date": "2016-01-01",
                "triggers": ["tax.a_grade"],
                "source": "test",
                "measures": [
                    {
                        "code": "green_channel",
                        "title": "green channel",
                        "department": "gacc",
                        "actions": ["customs.green_channel"],
                        "effect": "expedite",
                        "legal_basis": "test basis A",
                    }
                ],
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    (root / "memoranda" / "zz_test_rail.yaml").write_text(
        yaml.safe_dump(
            {
                "code": "zz_test_rail",
                "title": "test rail",
                "date": "2016-01-01",
                "triggers": ["court.judgment_defaulter"],
                "source": "test",
                "measures": [
                    {
                        "code": "rail_review",
                        "title": "rail review",
                        "department": "railway",
                        "actions": ["transport.rail"],
                        "effect": "review",
                        "legal_basis": "test basis R",
                    }
                ],
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    return load_catalogue(root)


def states_known_at(engine: Engine, known_at: dt.datetime | None = None) -> list[RecordState]:
    """Each record's newest state recorded at or before ``known_at`` (None: every event)."""
    newest: dict[int, str] = {}
    with engine.connect() as conn:
        q = select(record_events.c.record_id, record_events.c.state, record_events.c.recorded_at)
        for rid, body, recorded_at in conn.execute(q.order_by(record_events.c.seq)):
            if known_at is None or recorded_at <= known_at:
                newest[rid] = body
    return [RecordState.from_json(b) for b in newest.values()]


def subjects_known_at(engine: Engine, known_at: dt.datetime | None = None) -> set[str]:
    with engine.connect() as conn:
        q = select(subjects.c.id)
        if known_at is not None:
            q = q.where(subjects.c.created_at <= known_at)
        return set(conn.execute(q).scalars())


def reference(
    engine: Engine,
    catalogue: Catalogue,
    subject: str,
    action: str,
    as_of: dt.datetime,
    known_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The decision, computed the slow way, as the keys of ``Decision.to_dict`` (without ``as_of``)."""
    return reference_from(
        states_known_at(engine, known_at),
        subjects_known_at(engine, known_at),
        catalogue,
        subject,
        action,
        as_of,
    )


def reference_from(
    states: list[RecordState],
    known: set[str],
    catalogue: Catalogue,
    subject: str,
    action: str,
    as_of: dt.datetime,
) -> dict[str, Any]:
    if action not in catalogue.actions:
        raise KeyError(action)
    sid = parse(subject).canonical
    hits: list[tuple[tuple[int, int], RecordState, str, list[Any]]] = []
    black: RecordState | None = None
    reached = sid in known
    for st in states:
        roles = (["subject"] if st.subject_id == sid else []) + [role for p, role in st.linked() if p == sid]
        for via in roles:
            reached = True
            if not applies_at(st, as_of):
                continue
            cat = catalogue.categories.get(st.category)
            if (
                cat is not None
                and cat.list == "black"
                and via == "subject"
                and (black is None or st.id < black.id)
            ):
                black = st
            measures = [
                (memo, m)
                for memo, m in catalogue.measures_for(st.category)
                # A measure on the action, above it or below it (decision 0201); never a protected action.
                if via in m.applies_to
                and not catalogue.is_protected(action)
                and any(covers(p, action) or covers(action, p) for p in m.actions)
            ]
            if measures:
                hits.append(((st.id, _VIA_RANK[via]), st, via, measures))
    hits.sort(key=lambda h: h[0])
    reasons = []
    for _, st, via, measures in hits:
        for memo, m in measures:
            reasons.append(
                {
                    "record_id": st.id,
                    "category": st.category,
                    "memorandum": memo.code,
                    "measure": m.code,
                    "department": m.department,
                    "effect": m.effect,
                    "legal_basis": m.legal_basis,
                    "valid_until": st.valid_until.isoformat() if st.valid_until else None,
                    "via": via,
                    "via_subject": None if via == "subject" else st.subject_id,
                    "withheld": black is not None and m.effect == "expedite",
                }
            )
    if reached:
        reasons.extend(_graded_reasons(states, catalogue, sid, action, as_of, black is not None))
    granted = {r["effect"] for r in reasons if not r["withheld"]}
    notes = []
    if black is not None and any(r["withheld"] for r in reasons):
        notes.append(
            f"red-list benefits withheld while black-list record {black.id} ({black.category}) is in force"
        )
    return {
        "subject": sid,
        "known": reached,
        "action": action,
        "allowed": "deny" not in granted,
        "effects": [e for e in ("deny", "restrict", "review", "expedite") if e in granted],
        "reasons": reasons,
        "catalogue_version": catalogue.version,
        "notes": notes,
    }


def _graded_reasons(
    states: list[RecordState], catalogue: Catalogue, sid: str, action: str, as_of: dt.datetime, black: bool
) -> list[dict[str, Any]]:
    """The grade-conditioned measures on ``action`` the subject's grade meets (decision 1003), the slow way:
    every measure of the catalogue, the model's kind rules, the grade from the subject's own records."""
    kind = parse(sid).kind
    own = [st for st in states if st.subject_id == sid]
    out = []
    for memo, m in catalogue.graded_measures():
        cond = m.grade_condition
        assert cond is not None
        model = catalogue.models[cond.model]
        if not any(covers(p, action) for p in m.actions) or model.kind != kind:
            continue
        if kind == "person" and not model.reward_only:
            continue
        letter = grade_states(model, catalogue, sid, own, as_of).grade
        if letter in cond.grades:
            out.append(
                {
                    "memorandum": memo.code,
                    "measure": m.code,
                    "department": m.department,
                    "effect": m.effect,
                    "legal_basis": m.legal_basis,
                    "valid_until": None,
                    "grade": {"model": cond.model, "grade": letter},
                    "withheld": black and m.effect == "expedite",
                }
            )
    return out
