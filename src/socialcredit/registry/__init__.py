"""The registry: subjects and records, with an append-only event table as the source of truth.

Names load on first use (PEP 562): the import's worker processes load :mod:`.checks` and the row checks
through this package, and need none of the SQLAlchemy and writing code the rest pulls in (about 25 MB each).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .importer import FileInvalid, ImportReport, import_file, read_rows
    from .projection import iter_states, rebuild, states_for_subject
    from .rows import COLUMNS, Filing, RowError, RowInvalid, check_row
    from .state import RecordState, applies_at, day_end, day_start, display_status, parse_instant
    from .writer import Conflict, NotFound, Outcome, apply_event, file_batch, load_state, revoke

_HOMES = {
    ".importer": ("FileInvalid", "ImportReport", "import_file", "read_rows"),
    ".projection": ("iter_states", "rebuild", "states_for_subject"),
    ".rows": ("COLUMNS", "Filing", "RowError", "RowInvalid", "check_row"),
    ".state": ("RecordState", "applies_at", "day_end", "day_start", "display_status", "parse_instant"),
    ".writer": ("Conflict", "NotFound", "Outcome", "apply_event", "file_batch", "load_state", "revoke"),
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "COLUMNS",
    "Conflict",
    "FileInvalid",
    "Filing",
    "ImportReport",
    "NotFound",
    "Outcome",
    "RecordState",
    "RowError",
    "RowInvalid",
    "applies_at",
    "apply_event",
    "check_row",
    "day_end",
    "day_start",
    "display_status",
    "file_batch",
    "import_file",
    "iter_states",
    "load_state",
    "parse_instant",
    "read_rows",
    "rebuild",
    "revoke",
    "states_for_subject",
]  # the same names as _HOMES (a test holds them equal)


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])
