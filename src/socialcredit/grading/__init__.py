"""Grading: scoring models of the catalogue applied to records, and only to records (docs/grading.md).

Every point of a grade names its record and its rule; a model is linted YAML in the catalogue's ``models/``.
"""

from .grade import Grade, GradingRefused, Point, ToRaise, UnknownModel, UnknownSubject, choose_model, grade
from .model import ScoringModel

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
