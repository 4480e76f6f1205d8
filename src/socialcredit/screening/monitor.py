"""Re-running a saved screening from what changed (issue 17 point 6, decision 0915).

A run at instant T of a screening last run at instant L with feed cursor C:

1. **Touched subjects**: those of the feed events after C (the subject and the persons a record reaches), and
   those of records whose start (``applies_from``), end (``effective_until``) or a suspension's bound falls
   between L and T: time changes a listing without an event.
2. **Keys**: each touched subject's ``#<id>`` and the keys of its name (as the name index holds it).
3. **Rows**: the reverse index gives the saved rows holding any of those keys; only they are re-scored, with the
   screening's own machinery (:class:`~socialcredit.screening.run._Screen`) against the listings at T.
4. **Report**: the rows whose status or decision changed (``newly_hit``, ``newly_possible``, ``newly_clear``,
   ``decision_changed``); the saved rows, their keys and the cursor advance, the run and its audit entry are
   written in one transaction (a run that loses a race with another run of the same screening changes nothing).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, insert, or_, select, update

from .. import audit
from ..audit import AuditEntry
from ..catalogue import Catalogue
from ..engine import Checker
from ..feed.reader import head
from ..identifiers import mask
from ..store.tables import (
    outbox,
    records,
    screening_watch_keys,
    screening_watch_rows,
    screening_watch_runs,
    screening_watches,
    subjects,
)
from .by_id import Listed
from .files import Chunk
from .matcher import listed_keys
from .run import Shape, _Screen
from .watch import KEY_COLUMNS, get_watch, outcome_of, row_keys, stored_key

__all__ = ["CHANGE_COLUMNS", "RunConflict", "last_report", "run_watch"]

CHANGE_COLUMNS = ("row", *KEY_COLUMNS, "previous_status", "status", "change", "score", "matches")
_IN = 900


class RunConflict(RuntimeError):
    """Another run of the same screening committed first; this one changed nothing."""


def _utc(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def _chunks(items: list[str]) -> list[list[str]]:
    return [items[i : i + _IN] for i in range(0, len(items), _IN)]


def _touched_by_events(conn: Connection, after: int, top: int) -> set[str]:
    q = select(outbox.c.subject_ids).where(outbox.c.seq > after, outbox.c.seq <= top)
    out: set[str] = set()
    for (ids,) in conn.execution_options(yield_per=5000).execute(q):
        out.update(json.loads(ids))
    return out


def _in(t: Any, lo: dt.datetime, hi: dt.datetime) -> bool:
    return t is not None and lo < _utc(t) <= hi


def _touched_by_time(conn: Connection, lo: dt.datetime, hi: dt.datetime) -> set[str]:
    """Subjects of records that start, end, pause or resume between ``lo`` and ``hi`` (no event says so)."""
    if lo >= hi:
        return set()
    r = records.c
    between = or_(*(and_(c > lo, c <= hi) for c in (r.applies_from, r.effective_from, r.effective_until)))
    cols = (r.subject_id, r.legal_representative_id, r.actual_controller_id)
    out: set[str] = set()
    for row in conn.execute(select(*cols).where(r.status == "filed", between)):
        out.update(x for x in row if x)
    paused = select(*cols, r.suspensions).where(r.status == "filed", r.suspensions != "[]")
    for sid, rep, ctl, susp in conn.execute(paused):
        bounds = [b for pair in json.loads(susp) for b in pair if b is not None]
        if any(_in(dt.datetime.fromisoformat(b), lo, hi) for b in bounds):
            out.update(x for x in (sid, rep, ctl) if x)
    return out


def _rows_for(conn: Connection, watch_id: str, touched: set[str]) -> set[int]:
    """The saved rows whose keys meet the touched subjects' identifiers and name keys."""
    keys: set[str] = {"#" + s for s in touched}
    for part in _chunks(sorted(touched)):
        for name, kind in conn.execute(
            select(subjects.c.name, subjects.c.kind).where(subjects.c.id.in_(part))
        ):
            keys.update(listed_keys(name, kind))
    rows: set[int] = set()
    for part in _chunks(sorted({stored_key(k) for k in keys})):
        q = select(screening_watch_keys.c.row).where(
            screening_watch_keys.c.watch_id == watch_id, screening_watch_keys.c.key.in_(part)
        )
        rows.update(int(n) for n in conn.execute(q).scalars())
    return rows


def _change(before: str, after: str, outcome_changed: bool) -> str | None:
    if before != after:
        return {"hit": "newly_hit", "possible_match": "newly_possible", "clear": "newly_clear"}.get(
            after, f"now_{after}"
        )
    return "decision_changed" if outcome_changed else None


def _public_match(m: dict[str, Any]) -> dict[str, Any]:
    reasons = [
        {**r, "via_subject": mask(r["via_subject"]) if r.get("via_subject") else None} for r in m["reasons"]
    ]
    out = {**m, "subject_id": mask(m["subject_id"]), "reasons": reasons}
    out.pop("decision", None)
    return out


def _write_changes(path: Path, changes: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(CHANGE_COLUMNS)
            for c in changes:
                w.writerow([_cell(c[k]) for k in CHANGE_COLUMNS])
        Path(tmp).replace(path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, list | dict):
        v = json.dumps(v, ensure_ascii=False)
    s = str(v)
    return "'" + s if s[:1] in ("=", "+", "-", "@") else s  # CSV injection, as the screening's writer


def _rescore(
    engine: Engine,
    catalogue: Catalogue,
    watch: dict[str, Any],
    saved: list[Any],
    at: dt.datetime,
    checker: Checker | None,
) -> tuple[list[str], list[float | None], list[list[dict[str, Any]]]]:
    if checker is not None:
        # A live checker applies events on its own tick: catch it up to (at least) the events this run reads,
        # or a filing just made would be passed by the cursor without being re-scored against.
        checker.refresh()
    if checker is None or at.timestamp() < checker.index.cutoff:
        old = at < dt.datetime.now(dt.UTC) - dt.timedelta(days=300)
        checker = Checker(engine, catalogue, history=None if old else dt.timedelta(days=366))
    listed = Listed(checker, at.timestamp())
    if watch["view"] == "public":
        listed.keep_public(catalogue)
    screen = _Screen(checker, listed, watch["action"], at, watch["threshold"], Shape())
    fields = {k: [getattr(r, k) for r in saved] for k in KEY_COLUMNS}
    chunk = Chunk(
        None, {k: v for k, v in fields.items() if any(x is not None for x in v)}, [None] * len(saved)
    )
    status, scores, matches, _ = screen.chunk(chunk)
    return status, scores, matches


def run_watch(
    engine: Engine,
    catalogue: Catalogue,
    name: str,
    owner: str,
    at: dt.datetime,
    *,
    actor: tuple[str, str],
    purpose: str | None = None,
    out: Path | None = None,
    checker: Checker | None = None,
) -> dict[str, Any]:
    """Re-run the saved screening ``name`` of ``owner`` at ``at``; the report (summary and changed rows), also
    written to ``out`` as CSV. LookupError when ``owner`` has no such screening, RunConflict on a race.
    ``checker``: a live one to re-score with (the API's), else one is built when a row needs re-scoring."""
    at = _utc(at)
    with engine.connect() as conn:
        watch = get_watch(conn, name, owner)
        top = head(conn)
        last_at = _utc(watch["last_at"])
        touched = _touched_by_events(conn, int(watch["cursor"]), top)
        touched |= _touched_by_time(conn, min(last_at, at), max(last_at, at))
        numbers = sorted(_rows_for(conn, watch["id"], touched))
        saved: list[Any] = []
        for i in range(0, len(numbers), _IN):
            q = select(screening_watch_rows).where(
                screening_watch_rows.c.watch_id == watch["id"],
                screening_watch_rows.c.row.in_(numbers[i : i + _IN]),
            )
            saved.extend(conn.execute(q).all())
    saved.sort(key=lambda r: int(r.row))
    changes: list[dict[str, Any]] = []
    updates: list[tuple[Any, str, float | None, str, list[dict[str, Any]]]] = []
    if saved:
        status, scores, matches = _rescore(engine, catalogue, watch, saved, at, checker)
        for r, st, sc, ms in zip(saved, status, scores, matches, strict=True):
            outcome = outcome_of(st, ms)
            change = _change(r.status, st, outcome != r.outcome)
            updates.append((r, st, sc, outcome, ms))
            if change is None:
                continue
            shown = [_public_match(m) for m in ms] if watch["view"] == "public" else ms
            changes.append(
                {
                    "row": int(r.row),
                    **{k: getattr(r, k) for k in KEY_COLUMNS},
                    "previous_status": r.status,
                    "status": st,
                    "change": change,
                    "score": sc,
                    "matches": shown,
                    # The answers alone (allowed, effects per match), before and now: a checkpoint's view.
                    "answers_before": [a[1:] for a in json.loads(r.outcome) if a[1] is not None],
                    "answers": [a[1:] for a in json.loads(outcome) if a[1] is not None],
                }
            )
    counts: dict[str, int] = {}
    for c in changes:
        counts[c["change"]] = counts.get(c["change"], 0) + 1
    summary = {
        "screening": name,
        "at": at.isoformat(),
        "previous_at": last_at.isoformat(),
        "cursor_from": str(watch["cursor"]),
        "cursor_to": str(top),
        "rows": int(watch["rows"]),
        "subjects_touched": len(touched),
        "rescored": len(saved),
        "changed": len(changes),
        **{k: counts.get(k, 0) for k in ("newly_hit", "newly_possible", "newly_clear", "decision_changed")},
    }
    report = {"summary": summary, "changes": changes}
    if out is not None:
        _write_changes(out, changes)
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        moved = conn.execute(
            update(screening_watches)
            .where(screening_watches.c.id == watch["id"], screening_watches.c.cursor == watch["cursor"])
            .values(cursor=top, last_at=at)
        ).rowcount
        if moved != 1:
            raise RunConflict(f"saved screening {name}: another run committed first; run it again")
        for r, st, sc, outcome, ms in updates:
            if st == r.status and outcome == r.outcome and sc == r.score:
                continue
            conn.execute(
                update(screening_watch_rows)
                .where(screening_watch_rows.c.watch_id == watch["id"], screening_watch_rows.c.row == r.row)
                .values(status=st, score=sc, outcome=outcome)
            )
            keys = {stored_key(k) for k in row_keys({k: getattr(r, k) for k in KEY_COLUMNS}, st, ms)}
            conn.execute(
                delete(screening_watch_keys).where(
                    screening_watch_keys.c.watch_id == watch["id"], screening_watch_keys.c.row == r.row
                )
            )
            if keys:
                conn.execute(
                    insert(screening_watch_keys),
                    [{"watch_id": watch["id"], "key": k, "row": int(r.row)} for k in sorted(keys)],
                )
        conn.execute(
            insert(screening_watch_runs).values(
                watch_id=watch["id"],
                ran_at=at,
                cursor_from=int(watch["cursor"]),
                cursor_to=top,
                rescored=len(saved),
                changed=len(changes),
                report=json.dumps(report, ensure_ascii=False),
            )
        )
        audit.append(
            conn,
            [
                AuditEntry(
                    actor[0],
                    actor[1],
                    "screening.monitor",
                    f"screening:{name} owner:{owner}",
                    f"{len(saved)} of {watch['rows']} rows re-scored, {len(changes)} changed",
                    purpose,
                )
            ],
            now,
        )
    return report


def last_report(conn: Connection, name: str, owner: str) -> dict[str, Any] | None:
    """The report of the screening's last run, or None before its first; LookupError if there is none."""
    watch = get_watch(conn, name, owner)
    got = conn.execute(
        select(screening_watch_runs.c.report)
        .where(screening_watch_runs.c.watch_id == watch["id"])
        .order_by(screening_watch_runs.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return None if got is None else dict(json.loads(got))
