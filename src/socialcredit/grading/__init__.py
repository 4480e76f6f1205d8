"""Grading: scoring models of the catalogue applied to records, and only to records (docs/grading.md).

Every point of a grade names its record and its rule; a model is linted YAML in the catalogue's ``models/``.
Names load on use: the catalogue loader imports :mod:`.lint`, and loading a catalogue (an import worker does)
must not pull in the database code that :mod:`.explain` needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .explain import (
        Grade,
        GradingRefused,
        Point,
        ToRaise,
        UnknownModel,
        UnknownSubject,
        choose_model,
        grade,
    )
    from .model import ScoringModel

_HOME = {
    "Grade": ".explain",
    "GradingRefused": ".explain",
    "Point": ".explain",
    "ScoringModel": ".model",
    "ToRaise": ".explain",
    "UnknownModel": ".explain",
    "UnknownSubject": ".explain",
    "choose_model": ".explain",
    "grade": ".explain",
}

__all__ = [
    "Grade",
    "GradingRefused",
    "Point",
    "ScoringModel",
    "ToRaise",
    "UnknownModel",
    "UnknownSubject",
    "choose_model",
    "grade",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home, __name__), name)
