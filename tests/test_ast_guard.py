"""The ast.parse guard of decision 0802: one spurious recursion-depth mismatch is parsed again; anything else
comes through as it is."""

from __future__ import annotations

import ast
import sys
from typing import Any

import pytest

import ast_guard


def test_installed_exactly_where_the_interpreter_has_the_bug() -> None:
    affected = sys.version_info[:3] < ((3, 12, 1) if sys.version_info >= (3, 12) else (3, 11, 8))
    assert getattr(ast.parse, "_sc_guarded", False) is affected
    # Installing again never wraps twice.
    assert ast_guard.install() is False


def _guarded_over(monkeypatch: pytest.MonkeyPatch, failures: int) -> Any:
    """ast_guard's wrapper around a parse that raises the mismatch ``failures`` times, then parses."""
    calls = {"n": 0}
    real = ast.parse
    if getattr(real, "_sc_guarded", False):
        real = real.__wrapped__

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= failures:
            raise SystemError(f"{ast_guard.MISMATCH} (before=102, after=37)")
        return real(*args, **kwargs)

    monkeypatch.setattr(ast, "parse", flaky)
    monkeypatch.setattr(ast_guard, "_FIXED", (99, 0, 0))
    assert ast_guard.install() is True
    return ast.parse, calls


def test_one_mismatch_is_parsed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    parse, calls = _guarded_over(monkeypatch, failures=1)
    tree = parse("lambda x: x + 1", mode="eval")
    assert isinstance(tree.body, ast.Lambda)
    assert calls["n"] == 2


def test_a_second_mismatch_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    parse, calls = _guarded_over(monkeypatch, failures=2)
    with pytest.raises(SystemError, match="recursion depth mismatch"):
        parse("x = 1")
    assert calls["n"] == 2


def test_real_errors_come_through_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    parse, calls = _guarded_over(monkeypatch, failures=0)
    with pytest.raises(SyntaxError):
        parse("lambda: (")
    assert calls["n"] == 1
