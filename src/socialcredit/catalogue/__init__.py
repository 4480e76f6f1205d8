"""The catalogue: authorities, categories, actions and memoranda with their measures, as linted YAML data."""

from .loader import (
    Catalogue,
    CatalogueError,
    CatalogueIssue,
    covers,
    default_catalogue,
    default_dir,
    load_catalogue,
)
from .model import Action, Authority, Category, Measure, Memorandum

__all__ = [
    "Action",
    "Authority",
    "Catalogue",
    "CatalogueError",
    "CatalogueIssue",
    "Category",
    "Measure",
    "Memorandum",
    "covers",
    "default_catalogue",
    "default_dir",
    "load_catalogue",
]
