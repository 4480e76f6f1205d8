"""Keeping plans: a drawn plan is stored and audited in one transaction; listed and read back by authority."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select

from .. import audit
from ..audit import AuditEntry
from ..store.tables_supervision import supervision_plans
from .plan import Plan

__all__ = ["StoredPlan", "get_plan", "list_plans", "outcome", "save_plan"]

_SUMMARY = [c for c in supervision_plans.c if c.name != "rows"]


@dataclass(frozen=True)
class StoredPlan:
    id: int
    authority: str
    region: str | None
    year: int
    seed: str
    as_of: dt.datetime
    model: str
    catalogue_version: str
    inspectors_digest: str
    counts: list[dict[str, Any]]
    drawn: int
    created_at: dt.datetime
    actor: str
    rows: list[dict[str, Any]] | None = None  # only when read with its rows


def _stored(r: Any, with_rows: bool = False) -> StoredPlan:
    return StoredPlan(
        int(r.id),
        r.authority,
        r.region,
        int(r.year),
        r.seed,
        r.as_of,
        r.model,
        r.catalogue_version,
        r.inspectors_digest,
        json.loads(r.counts),
        int(r.drawn),
        r.created_at,
        r.actor,
        json.loads(r.rows) if with_rows else None,
    )


def outcome(plan: Plan) -> str:
    """The audit entry's outcome: the seed, the counts and the inspectors' file digest (the audit keeps 200)."""
    region = f" region {plan.region}" if plan.region else ""
    return (
        f"ok: seed {plan.seed[:24]}, {plan.year}{region}, {plan.summary()}, "
        f"inspectors sha256:{plan.inspectors_digest[:16]}"
    )


def save_plan(
    conn: Connection, plan: Plan, actor: str, role: str, now: dt.datetime, purpose: str | None = None
) -> int:
    """Store the plan and append its ``supervision.plan`` audit entry on ``conn`` (one transaction)."""
    row = {
        "authority": plan.authority,
        "region": plan.region,
        "year": plan.year,
        "seed": plan.seed,
        "as_of": plan.as_of,
        "model": plan.model,
        "catalogue_version": plan.catalogue_version[:64],
        "inspectors_digest": plan.inspectors_digest,
        "counts": json.dumps([c.to_dict() for c in plan.counts], ensure_ascii=False),
        "rows": json.dumps([r.to_dict() for r in plan.rows], ensure_ascii=False),
        "drawn": len(plan.rows),
        "created_at": now,
        "actor": actor[:120],
    }
    pid = conn.execute(insert(supervision_plans).returning(supervision_plans.c.id), row).scalar_one()
    entry = AuditEntry(actor, role, "supervision.plan", f"plan:{pid}", outcome(plan), purpose)
    audit.append(conn, [entry], now)
    return int(pid)


def list_plans(conn: Connection, authority: str | None = None, limit: int = 200) -> list[StoredPlan]:
    """The newest plans first (of ``authority`` if given), without their rows."""
    q = select(*_SUMMARY).order_by(supervision_plans.c.id.desc()).limit(limit)
    if authority is not None:
        q = q.where(supervision_plans.c.authority == authority)
    return [_stored(r) for r in conn.execute(q)]


def count_plans(conn: Connection, authority: str | None = None) -> int:
    q = select(func.count()).select_from(supervision_plans)
    if authority is not None:
        q = q.where(supervision_plans.c.authority == authority)
    return int(conn.execute(q).scalar_one())


def get_plan(conn: Connection, plan_id: int, authority: str | None = None) -> StoredPlan | None:
    """One plan with its rows; None if there is none (or it is another authority's, when one is given)."""
    q = select(supervision_plans).where(supervision_plans.c.id == plan_id)
    if authority is not None:
        q = q.where(supervision_plans.c.authority == authority)
    r = conn.execute(q).first()
    return None if r is None else _stored(r, with_rows=True)
