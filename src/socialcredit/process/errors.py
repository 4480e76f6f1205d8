"""Errors of due process, beside the registry's ``NotFound`` and ``Conflict``.

::

    ProcessInvalid (ValueError)   bad input: names the field, the value and the reason
    NotAllowed (PermissionError)  the caller is not the authority (or subject) the step belongs to
"""

from __future__ import annotations

from typing import Any

__all__ = ["NotAllowed", "ProcessInvalid"]


class ProcessInvalid(ValueError):
    def __init__(self, field: str, value: Any, reason: str) -> None:
        super().__init__(f"{field}: {value!r}: {reason}")
        self.field, self.value, self.reason = field, value, reason


class NotAllowed(PermissionError):
    """The step belongs to another authority or subject."""
