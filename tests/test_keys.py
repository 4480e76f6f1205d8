"""API keys: only a hash is stored; tokens work until expired or revoked; scopes are checked at creation."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from factories import person_id
from socialcredit.catalogue import Catalogue
from socialcredit.cli import app
from socialcredit.keys import (
    InvalidToken,
    KeyInvalid,
    authenticate,
    create_key,
    list_keys,
    parse_duration,
    revoke_key,
)
from socialcredit.store import Database
from socialcredit.store.tables import api_keys, audit_log


def test_only_a_hash_is_stored_and_token_authenticates(
    db: Database, catalogue: Catalogue, now: dt.datetime
) -> None:
    with db.engine.begin() as conn:
        key, token = create_key(
            conn, "checkpoint", catalogue, now, actions=["transport.air", "transport.air"]
        )
    assert token.startswith(f"sc_{key.id}_") and key.actions == ("transport.air",)
    with db.engine.connect() as conn:
        stored = conn.execute(select(api_keys)).one()
        assert token not in json.dumps([str(v) for v in stored])
        assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert authenticate(conn, token, now).id == key.id
    assert (
        key.covers("transport.air.ticket")
        and not key.covers("transport.airline")
        and not key.covers("transport")
    )


def test_tampered_expired_revoked(db: Database, catalogue: Catalogue, now: dt.datetime) -> None:
    with db.engine.begin() as conn:
        key, token = create_key(conn, "auditor", catalogue, now, expires_at=now + dt.timedelta(hours=1))
    with db.engine.begin() as conn:
        for bad in (
            token[:-1] + ("a" if token[-1] != "a" else "b"),
            token + "x",
            "sc_" + "0" * 16 + "_" + "a" * 43,
            "",
            "Bearer " + token,
        ):
            with pytest.raises(InvalidToken):
                authenticate(conn, bad, now)
        with pytest.raises(InvalidToken, match="expired"):
            authenticate(conn, token, now + dt.timedelta(hours=1))
        assert revoke_key(conn, key.id, now) is not None and revoke_key(conn, "nope", now) is None
        with pytest.raises(InvalidToken, match="revoked"):
            authenticate(conn, token, now)
        assert list_keys(conn)[0].status(now) == "revoked"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"role": "root"}, "role"),
        ({"role": "registrar"}, "authority"),
        ({"role": "registrar", "authority": "nobody"}, "authority"),
        ({"role": "checkpoint"}, "actions"),
        ({"role": "checkpoint", "actions": ["teleport"]}, "actions"),
        ({"role": "subject"}, "subject"),
        ({"role": "subject", "subject": "110105198001010111"}, "subject"),
        ({"role": "auditor", "authority": "court"}, "authority"),
        ({"role": "admin", "actions": ["transport"]}, "actions"),
    ],
)
def test_scope_is_checked(
    db: Database, catalogue: Catalogue, now: dt.datetime, kwargs: dict[str, object], field: str
) -> None:
    kwargs = dict(kwargs)  # the parameters are shared by both backends: never mutate them
    role = str(kwargs.pop("role"))
    with db.engine.begin() as conn, pytest.raises(KeyInvalid) as info:
        create_key(conn, role, catalogue, now, **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
    with db.engine.connect() as conn:
        assert list_keys(conn) == []


def test_durations() -> None:
    assert parse_duration("12h") == dt.timedelta(hours=12) and parse_duration("4w") == dt.timedelta(weeks=4)
    for bad in ("0d", "1y", "d", "-1d"):
        with pytest.raises(KeyInvalid):
            parse_duration(bad)


def test_cli_create_list_revoke(db: Database) -> None:
    runner = CliRunner()
    made = runner.invoke(
        app,
        [
            "keys",
            "create",
            "--role",
            "checkpoint",
            "--actions",
            "transport.air,transport.rail",
            "--expires",
            "90d",
            "--json",
        ],
    )
    assert made.exit_code == 0, made.output
    key = json.loads(made.output)
    assert key["actions"] == ["transport.air", "transport.rail"] and key["token"].startswith("sc_")
    sub = runner.invoke(app, ["keys", "create", "--role", "subject", "--subject", person_id(11)])
    assert sub.exit_code == 0 and "shown only this once" in sub.output
    listed = runner.invoke(app, ["keys", "list", "--json"])
    assert listed.exit_code == 0 and key["token"] not in listed.output and len(json.loads(listed.output)) == 2
    bad = runner.invoke(app, ["keys", "create", "--role", "registrar"])
    assert bad.exit_code == 2 and "--authority" in bad.output
    assert runner.invoke(app, ["keys", "revoke", key["id"]]).exit_code == 0
    assert runner.invoke(app, ["keys", "revoke", "f" * 17]).exit_code == 3  # not found (0700)
    with db.engine.connect() as conn:
        actions = [r.action for r in conn.execute(select(audit_log.c.action).order_by(audit_log.c.seq))]
    assert actions == ["keys.create", "keys.create", "keys.revoke"]
