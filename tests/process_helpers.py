"""Shared by the due-process and feed tests: filing records and taking a snapshot of the store."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import Connection, select

import socialcredit.store.tables  # noqa: F401  (registers every table)
from factories import person_id, row
from socialcredit.catalogue import Catalogue
from socialcredit.catalogue.model import Objection
from socialcredit.registry import check_row, file_batch
from socialcredit.store import Database, metadata

__all__ = ["file", "flight_row", "food_row", "snapshot", "suspending"]


def food_row(**overrides: Any) -> dict[str, Any]:
    """A food-and-drug blacklist row (5 days' notice, repair after a year)."""
    base = {
        "external_id": "FD-1",
        "authority": "samr",
        "category": "food_drug.serious_violation",
        "subject_id": person_id(21),
        "subject_name": "李雷",
        "decision_no": "京市监罚〔2025〕1号",
        "decided_on": "2025-06-01",
    }
    base.update(overrides)
    return base


def flight_row(**overrides: Any) -> dict[str, Any]:
    base = {
        "external_id": "CA-1",
        "authority": "caac",
        "category": "transport.air_serious_misconduct",
        "subject_id": person_id(31),
        "subject_name": "韩梅梅",
        "decision_no": "京公(机)行罚决字〔2026〕1号",
        "decided_on": "2026-11-01",
    }
    base.update(overrides)
    return base


def file(db: Database, catalogue: Catalogue, now: dt.datetime, **overrides: Any) -> int:
    """File one row (a judgment defaulter unless ``category`` and friends say otherwise); its record id."""
    data = overrides.pop("_row", None) or row(**overrides)
    filing = check_row(data, catalogue, now)
    with db.engine.begin() as conn:
        (outcome,) = file_batch(conn, [filing], catalogue, "test", now)
    return outcome.record_id


def suspending(catalogue: Catalogue, code: str = "food_drug.serious_violation") -> Catalogue:
    """The catalogue with ``code``'s objections suspending its measures (none in the shipped one do)."""
    cat = catalogue.categories[code]
    changed = cat.model_copy(update={"objection": Objection(days=10, suspends=True)})
    return dataclasses.replace(catalogue, categories={**catalogue.categories, code: changed})


def snapshot(conn: Connection) -> dict[str, list[Any]]:
    """Every row of every table, to compare a store before and after a refused change."""
    return {t.name: sorted(map(repr, conn.execute(select(t)).all())) for t in metadata.sorted_tables}
