"""The registry: subjects and records, with an append-only event table as the source of truth."""

from .importer import FileInvalid, ImportReport, import_file, read_rows
from .projection import iter_states, rebuild, states_for_subject
from .rows import COLUMNS, Filing, RowError, RowInvalid, check_row
from .state import RecordState, applies_at, day_end, day_start, display_status, parse_instant
from .writer import Conflict, NotFound, Outcome, apply_event, file_batch, load_state, revoke

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
]
