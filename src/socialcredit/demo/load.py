"""Writing demo data into a registry, through the registry's own functions only.

The history is replayed in time order: each day's filings go through ``registry.file_batch`` at that
day's instant, and each lifecycle change through ``registry.apply_event`` (or ``registry.revoke``) at its
instant, so ``recorded_at``, ``filed_at`` and notice periods look as if the registry had run for years.
Every row is checked by ``registry.check_row`` before anything is written; writes are committed every
``batch`` rows so a large demo neither holds the writers' lock for long nor grows one huge transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from itertools import groupby

from sqlalchemy import Connection, Engine, func, select

from ..catalogue import Catalogue
from ..registry import Conflict, Filing, RecordState, RowInvalid, apply_event, check_row, file_batch, revoke
from ..store.tables import records
from .generate import Change, DemoData

__all__ = ["DemoError", "LoadReport", "check_rows", "load"]

ACTOR = "demo"


class DemoError(ValueError):
    """Demo data cannot be loaded (a non-empty registry, or a generated row the catalogue rejects)."""


@dataclass
class LoadReport:
    subjects: int = 0
    records: int = 0
    changes: int = 0
    seconds: float = 0.0


def check_rows(data: DemoData, catalogue: Catalogue) -> list[Filing]:
    """Check every generated row as an import would; a rejected row is a bug in the generator (or a
    catalogue it does not fit), reported with its reasons."""
    out = []
    for filed in data.filings:
        try:
            out.append(check_row(filed.row, catalogue, filed.at))
        except RowInvalid as exc:
            raise DemoError(
                f"generated row {filed.row['authority']}/{filed.row['external_id']} is invalid: {exc}"
            ) from None
    return out


def _lift(change: Change) -> Callable[[RecordState], RecordState]:
    def apply(state: RecordState) -> RecordState:
        if state.status != "filed":
            raise Conflict(f"record {state.id} is already {state.status}")
        return state.with_(status=change.type, ended_at=change.at)

    return apply


def _apply(conn: Connection, record_id: int, change: Change) -> None:
    if change.type == "revoked":
        revoke(conn, record_id, change.reason, ACTOR, change.at)
    else:
        apply_event(conn, record_id, change.type, _lift(change), ACTOR, change.at, change.reason)


def load(
    engine: Engine,
    data: DemoData,
    catalogue: Catalogue,
    *,
    batch: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> LoadReport:
    """File ``data`` into the empty registry behind ``engine``; ``progress(n)`` is told of each n rows and
    changes written. Raises :class:`DemoError`, writing nothing, if the registry already holds records."""
    started = dt.datetime.now(dt.UTC)
    with engine.connect() as conn:
        held = conn.execute(select(func.count()).select_from(records)).scalar_one()
    if held:
        raise DemoError(
            f"the registry already holds {held} records; demo data goes into an empty registry "
            "(`make demo` starts from a fresh file)"
        )
    filings = check_rows(data, catalogue)
    # One timeline: (instant, 0 for filings / 1 for changes, index). Filings at one instant form one batch.
    steps: list[tuple[dt.datetime, int, int]] = [(f.at, 0, i) for i, f in enumerate(data.filings)]
    steps += [(c.at, 1, i) for i, c in enumerate(data.changes)]
    steps.sort()
    ids: dict[tuple[str, str], int] = {}
    report = LoadReport(records=len(filings), changes=len(data.changes))
    pending = 0
    conn = engine.connect()
    tx = conn.begin()
    try:
        for (at, kind), group in groupby(steps, key=lambda s: (s[0], s[1])):
            idx = [i for _, _, i in group]
            if kind == 0:
                chunk = [filings[i] for i in idx]
                outcomes = file_batch(conn, chunk, catalogue, ACTOR, at)
                ids.update(
                    {(f.authority, f.external_id): o.record_id for f, o in zip(chunk, outcomes, strict=True)}
                )
            else:
                for i in idx:
                    change = data.changes[i]
                    _apply(conn, ids[(change.authority, change.external_id)], change)
            pending += len(idx)
            if pending >= batch:
                tx.commit()
                if progress:
                    progress(pending)
                pending = 0
                tx = conn.begin()
        tx.commit()
        if progress and pending:
            progress(pending)
    except BaseException:
        tx.rollback()
        raise
    finally:
        conn.close()
    report.subjects = len(
        {f.subject.canonical for f in filings}
        | {
            p.canonical
            for f in filings
            for p in (f.legal_representative, f.actual_controller)
            if p is not None
        }
    )
    report.seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
    return report
