"""A guard against a CPython bug that made a property test fail at random (decision 0802).

CPython before 3.11.8 and 3.12.1 (gh-106905) keeps the AST constructor's recursion counter in per-interpreter
state and leaves it wrong on an error path or when another thread builds an AST at the same moment, so a
correct ``ast.parse`` now and then raises ``SystemError: AST constructor recursion depth mismatch``. Hypothesis
parses the source of every lambda in a strategy to describe it, so the error surfaced as a FlakyFailure in the
schemathesis test. The counter is recomputed at each call, so parsing again gives the right tree; any other
error, and a second mismatch, are raised as they are. Nothing in ``src/`` parses Python."""

from __future__ import annotations

import ast
import functools
import sys
from typing import Any

_FIXED = (3, 12, 1) if sys.version_info >= (3, 12) else (3, 11, 8)
MISMATCH = "AST constructor recursion depth mismatch"


def install() -> bool:
    """Wraps ``ast.parse`` once where the interpreter has the bug; tells whether it did."""
    if sys.version_info[:3] >= _FIXED or getattr(ast.parse, "_sc_guarded", False):
        return False
    original = ast.parse

    @functools.wraps(original)
    def parse(*args: Any, **kwargs: Any) -> Any:
        try:
            return original(*args, **kwargs)
        except SystemError as error:
            if MISMATCH not in str(error):
                raise
            return original(*args, **kwargs)

    parse._sc_guarded = True  # type: ignore[attr-defined]
    ast.parse = parse
    return True
