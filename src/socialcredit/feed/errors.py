"""Errors of the feed area.

::

    FeedInvalid (ValueError)        bad input: names the field, the value and the reason
    SignatureError (ValueError)     a webhook signature does not verify (malformed, wrong, too old)
    └── Replayed                    a valid signature on an event id already seen: a duplicate
"""

from __future__ import annotations

from typing import Any

__all__ = ["FeedInvalid", "Replayed", "SignatureError"]


class FeedInvalid(ValueError):
    def __init__(self, field: str, value: Any, reason: str) -> None:
        super().__init__(f"{field}: {value!r}: {reason}")
        self.field, self.value, self.reason = field, value, reason


class SignatureError(ValueError):
    """The request is not what the registry sent (or is too old to tell)."""


class Replayed(SignatureError):
    """Authentic, but this event id was already accepted: answer 2xx and do nothing (at-least-once)."""
