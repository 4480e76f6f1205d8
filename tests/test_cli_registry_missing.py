"""A read command given a mistyped database URL says there is no registry, and creates nothing (issue 16 §3).

Pins the defect: ``SOCIALCREDIT_DATABASE_URL=sqlite:////nonexistent/dir/x.db socialcredit check ...`` created
the directories and an empty database file, then failed on a missing table.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from factories import person_id
from socialcredit.cli import app
from socialcredit.settings import get_settings
from socialcredit.store import Database, RegistryMissing

runner = CliRunner()

READS = [
    ("check", person_id(3), "transport.air.ticket"),
    ("subject", "show", person_id(3)),
    ("keys", "list"),
    ("audit", "verify"),
    ("objection", "list"),
    ("feed", "show"),
]


@pytest.fixture
def missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "nonexistent" / "dir" / "x.db"
    monkeypatch.setenv("SOCIALCREDIT_DATABASE_URL", f"sqlite:///{path}")
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


@pytest.mark.parametrize("args", READS, ids=lambda a: " ".join(a[:2]))
def test_a_read_creates_no_database(missing: Path, args: tuple[str, ...]) -> None:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 2, result.output
    assert "no registry database at" in result.stderr and "socialcredit init" in result.stderr
    assert not missing.parent.parent.exists()


def test_an_empty_database_is_no_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    monkeypatch.setenv("SOCIALCREDIT_DATABASE_URL", f"sqlite:///{path}")
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["check", person_id(3), "transport.air.ticket"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2 and "holds no registry" in result.stderr


def test_init_creates_it(missing: Path) -> None:
    assert runner.invoke(app, ["init"]).exit_code == 0
    assert missing.is_file()
    assert runner.invoke(app, ["check", person_id(3), "transport.air.ticket"]).exit_code == 0


def test_open_for_read(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a' / 'b.db'}"
    with pytest.raises(RegistryMissing):
        Database.open(url, create=False)
    assert not (tmp_path / "a").exists()
    Database.open(url).engine.dispose()  # the default (servers, tests) still creates
    assert (tmp_path / "a").is_dir()


def test_a_postgresql_database_that_is_not_there(monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.engine import make_url

    from conftest import PG_URL

    if not PG_URL:
        pytest.skip("SOCIALCREDIT_TEST_DATABASE_URL is not set")
    url = make_url(PG_URL).set(database="sctest_no_such_registry").render_as_string(hide_password=False)
    monkeypatch.setenv("SOCIALCREDIT_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["keys", "list"])
    finally:
        get_settings.cache_clear()
    assert (
        result.exit_code == 2 and "does not answer" in result.stderr and "socialcredit init" in result.stderr
    )
