"""Making a snapshot from the store: the index a server would build, brought exactly to one event sequence."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import Engine

from ..catalogue import Catalogue
from ..engine import Checker
from .snapshot import SnapshotHeader, write_snapshot

__all__ = ["HISTORY", "create_snapshot"]

HISTORY = dt.timedelta(days=366)  # the API's: records ended longer ago stay out (checks before: the store)


def create_snapshot(
    engine: Engine, catalogue: Catalogue, out: Path, *, history: dt.timedelta | None = HISTORY
) -> SnapshotHeader:
    """Build the index from the store and write it to ``out``.

    The build reads the newest event's sequence first and then the projection, which may be newer; one refresh
    then applies every event after that sequence (idempotent for the ones the projection already holds), so
    the index written is exactly the registry as of its ``seq``, which the header records."""
    checker = Checker(engine, catalogue, history=history)
    checker.refresh()
    return write_snapshot(checker.index, checker.last_seq, Path(out))
