"""Whether a record is published (public search, the Credit China view) at an instant.

NDRC Order 36: publication runs from the decision date to the category's ``publication.max_days`` and ends
at once on repair; a record revoked or fulfilled (deleted, in the SPC's words) is not published either. A
category with ``public: false`` is never published; one without publication periods is published while in
force.
"""

from __future__ import annotations

import datetime as dt

from ..catalogue.model import Category
from ..registry.state import RecordState, day_start

__all__ = ["is_published", "publication_ends", "publication_start"]


def publication_start(category: Category, decided_on: dt.date, applies_from: dt.datetime) -> dt.datetime:
    """Where Order 36's periods are counted from: the decision date, or, for a category whose term runs from
    the end of its notice period (flight and train bans), when the measures begin (decision 0100), so that
    publication, repair and the term share one clock."""
    return applies_from if category.term_from == "notice_end" else day_start(decided_on)


def publication_ends(state: RecordState, category: Category) -> dt.datetime | None:
    """When publication ends by itself: its start plus the maximum period (None: no maximum set)."""
    if category.publication is None:
        return None
    start = publication_start(category, state.decided_on, state.applies_from)
    return start + dt.timedelta(days=category.publication.max_days)


def is_published(state: RecordState, category: Category, now: dt.datetime) -> bool:
    if not category.public:
        return False
    if (
        state.ended_at is not None
        and state.status in ("revoked", "repaired", "fulfilled")
        and now >= state.ended_at
    ):
        return False
    if now < state.filed_at:
        return False
    ends = publication_ends(state, category)
    if ends is None:
        until = state.valid_until
        return until is None or now < until
    return now < ends
