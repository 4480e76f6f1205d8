"""Monitoring: re-screen a watchlist and report what changed since its last run.

A *hit* is a member with a record whose measures apply to them at the run's instant (as the subject, or as a
legal representative or actual controller it reaches). Each run stores its hits; the report lists hits that
are new since the previous run and hits lifted since (repaired, revoked, fulfilled, expired, suspended).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, insert, or_, select

from ..registry import applies_at, load_state
from ..store.tables import monitor_hits, monitor_runs, records
from .scope import Scope
from .watchlists import get_watchlist, members

__all__ = ["Hit", "MonitorReport", "current_hits", "run_monitor"]


@dataclass(frozen=True, slots=True, order=True)
class Hit:
    subject_id: str
    record_id: int
    # How the record reaches the member (for a checkpoint's view); a hit is the pair above.
    category: str = field(default="", compare=False)
    via: str = field(default="", compare=False)


@dataclass
class MonitorReport:
    run_id: int
    watchlist_id: str
    ran_at: dt.datetime
    previous_run_id: int | None
    hits: list[Hit] = field(default_factory=list)
    new: list[Hit] = field(default_factory=list)
    lifted: list[Hit] = field(default_factory=list)
    before: list[Hit] = field(default_factory=list)  # the previous run's hits

    def as_checkpoint_json(self, scope: Scope) -> dict[str, Any]:
        """The report as a checkpoint may see it (decision 0310): per member, which of its actions a record
        reaches now, and which became or stopped being reached since the previous run; never a record id."""

        def reach(hs: list[Hit]) -> dict[str, set[str]]:
            out: dict[str, set[str]] = {}
            for h in hs:
                acts = scope.actions(h.category, h.via)
                if acts:
                    out.setdefault(h.subject_id, set()).update(acts)
            return out

        def enc(by: dict[str, set[str]]) -> list[dict[str, Any]]:
            return [{"subject_id": s, "actions": sorted(a)} for s, a in sorted(by.items()) if a]

        now, then = reach(self.hits), reach(self.before)
        return {
            "run_id": self.run_id,
            "watchlist_id": self.watchlist_id,
            "ran_at": self.ran_at.isoformat(),
            "previous_run_id": self.previous_run_id,
            "hits": enc(now),
            "new": enc({s: a - then.get(s, set()) for s, a in now.items()}),
            "lifted": enc({s: a - now.get(s, set()) for s, a in then.items()}),
        }

    def as_json(self) -> dict[str, Any]:
        def enc(hs: list[Hit]) -> list[dict[str, Any]]:
            return [{"subject_id": h.subject_id, "record_id": h.record_id} for h in hs]

        return {
            "run_id": self.run_id,
            "watchlist_id": self.watchlist_id,
            "ran_at": self.ran_at.isoformat(),
            "previous_run_id": self.previous_run_id,
            "hits": enc(self.hits),
            "new": enc(self.new),
            "lifted": enc(self.lifted),
        }


def current_hits(conn: Connection, member_ids: list[str], at: dt.datetime) -> set[Hit]:
    found: set[Hit] = set()
    wanted = set(member_ids)
    for i in range(0, len(member_ids), 500):
        chunk = member_ids[i : i + 500]
        q = select(records.c.id).where(
            records.c.status == "filed",
            or_(
                records.c.subject_id.in_(chunk),
                records.c.legal_representative_id.in_(chunk),
                records.c.actual_controller_id.in_(chunk),
            ),
        )
        for rid in conn.execute(q).scalars():
            state = load_state(conn, rid)
            if not applies_at(state, at):
                continue
            for sid, via in ((state.subject_id, "subject"), *state.linked()):
                if sid in wanted:
                    found.add(Hit(sid, int(rid), state.category, via))
    return found


def _reached(conn: Connection, hits: set[Hit]) -> list[Hit]:
    """Earlier hits with how their record reaches the member now (its category and role)."""
    out = []
    for h in sorted(hits):
        state = load_state(conn, h.record_id)
        roles = [v for s, v in ((state.subject_id, "subject"), *state.linked()) if s == h.subject_id]
        out.append(Hit(h.subject_id, h.record_id, state.category, roles[0] if roles else "subject"))
    return out


def run_monitor(
    engine: Engine, watchlist_id: str, owner: str | None, now: dt.datetime, *, with_before: bool = False
) -> MonitorReport:
    """Screen the watchlist at ``now``, store the run and its hits, and compare with the previous run;
    ``with_before`` also reports the previous run's hits with their records' reach (a checkpoint's view)."""
    with engine.begin() as conn:
        get_watchlist(conn, watchlist_id, owner)  # LookupError if absent or another's
        prev = conn.execute(
            select(monitor_runs.c.id)
            .where(monitor_runs.c.watchlist_id == watchlist_id)
            .order_by(monitor_runs.c.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        before: set[Hit] = set()
        if prev is not None:
            before = {
                Hit(s, int(r))
                for s, r in conn.execute(
                    select(monitor_hits.c.subject_id, monitor_hits.c.record_id).where(
                        monitor_hits.c.run_id == prev
                    )
                )
            }
        hits = current_hits(conn, members(conn, watchlist_id), now)
        new, lifted = sorted(hits - before), sorted(before - hits)
        run_id = conn.execute(
            insert(monitor_runs)
            .values(
                watchlist_id=watchlist_id,
                ran_at=now,
                hits=len(hits),
                new_hits=len(new),
                lifted_hits=len(lifted),
            )
            .returning(monitor_runs.c.id)
        ).scalar_one()
        if hits:
            conn.execute(
                insert(monitor_hits),
                [{"run_id": run_id, "subject_id": h.subject_id, "record_id": h.record_id} for h in hits],
            )
        earlier = _reached(conn, before) if with_before else []
    return MonitorReport(int(run_id), watchlist_id, now, prev, sorted(hits), new, lifted, earlier)
