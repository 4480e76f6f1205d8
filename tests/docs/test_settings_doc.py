"""Every setting is documented in docs/operators.md's table, and the table documents no setting that does not
exist (issue 16 section 1; SOCIALCREDIT_TIMEZONE was missing from it)."""

from __future__ import annotations

import re

from socialcredit.settings import Settings

from .examples import ROOT

OPERATORS_MD = ROOT / "docs" / "operators.md"
# Names of that form that are no setting: the test suite's own variables, and the audit JetStream streams.
NOT_SETTINGS = {
    "SOCIALCREDIT_TEST_DATABASE_URL",
    "SOCIALCREDIT_AUDIT",
    "SOCIALCREDIT_NODE_AUDIT",
    "SOCIALCREDIT_JOURNEY_SCREENSHOTS",
}


def _settings() -> set[str]:
    prefix = str(Settings.model_config.get("env_prefix", "")).upper()
    return {prefix + name.upper() for name in Settings.model_fields}


def test_every_setting_has_a_row_in_operators_md() -> None:
    text = OPERATORS_MD.read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(SOCIALCREDIT_[A-Z0-9_]+)` \|", text, re.MULTILINE))
    missing = sorted(_settings() - rows)
    unknown = sorted(rows - _settings())
    assert not missing, f"settings with no row in docs/operators.md's settings table: {missing}"
    assert not unknown, f"rows of docs/operators.md's settings table that are no setting: {unknown}"


def test_docs_name_no_setting_that_does_not_exist() -> None:
    # A misspelt or removed variable in prose is as misleading as a missing row.
    from .examples import doc_files

    named = {
        (path.relative_to(ROOT).as_posix(), name)
        for path in doc_files()
        for name in re.findall(r"SOCIALCREDIT_[A-Z0-9_]*[A-Z0-9]", path.read_text(encoding="utf-8"))
    }
    unknown = sorted((where, name) for where, name in named if name not in _settings() | NOT_SETTINGS)
    assert not unknown, f"documented variables that are no setting: {unknown}"
