"""Screening (issue 17): a file of names and identifiers against the registry's listed subjects.

Files, identifiers and the ``screen`` command: :mod:`.files`, :mod:`.by_id`, :mod:`.run` (decisions 0902, 0903).
By name: :mod:`.names` folds names and reads persons' names into pinyin, :mod:`.orgnames`
takes organisations' names apart, :mod:`.romanise` holds the surname tables, and :mod:`.matcher` indexes
listed subjects by the keys of their names and scores candidates with an explanation (decision 0900).
"""

from .matcher import HIT, POSSIBLE, NameIndex, NameMatch, NameQuery, score_pair
from .names import fold, person_keys
from .orgnames import organisation_keys

__all__ = [
    "HIT",
    "POSSIBLE",
    "NameIndex",
    "NameMatch",
    "NameQuery",
    "fold",
    "organisation_keys",
    "person_keys",
    "score_pair",
]
