"""The joint reward and punishment engine: an index of active measures, answering checks with reasons."""

from .batch import Decisions
from .checker import Checker
from .decision import Decision, Reason, UnknownAction
from .evaluate import evaluate

__all__ = ["Checker", "Decision", "Decisions", "Reason", "UnknownAction", "evaluate"]
