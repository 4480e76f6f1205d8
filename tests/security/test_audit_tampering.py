"""Attack: tamper with the audit log where it is stored (issue 15, section 4).

Of 24 tamperings of the SQLite file, the chain caught 18; six left a valid chain and `audit verify` said
"intact": deleting the last row, truncating the last 100, deleting every row, appending a forged row with a
correctly computed hash, editing a row and re-chaining everything after it, and deleting a row then renumbering
and re-chaining. With signed heads kept outside the database (key and heads file out of the writer's reach),
each of the 24 must now be detected, naming the sequence number. Before the fix the six exited 0.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, delete, insert, select, update
from typer.testing import CliRunner

from socialcredit import audit
from socialcredit.anchor import Anchor, AnchorKeyError, anchor_paths, load_or_create_key, sign_head
from socialcredit.audit import AuditEntry
from socialcredit.cli import app
from socialcredit.settings import get_settings
from socialcredit.store import Database
from socialcredit.store.tables import audit_log

T0 = dt.datetime(2026, 11, 20, 4, 0, tzinfo=dt.UTC)
N = 150


def _fill(db: Database, first: int, last: int) -> None:
    with db.engine.begin() as conn:
        audit.append(
            conn,
            [
                AuditEntry(f"k{i}", "checkpoint", "checks.single", f"subject {i}", "allowed", "boarding")
                for i in range(first, last + 1)
            ],
            T0 + dt.timedelta(seconds=first),
        )


def _anchor(db: Database) -> Anchor:
    return Anchor.open(db.engine, get_settings())


@pytest.fixture
def signed(db: Database) -> Anchor:
    """150 entries, appended by this process in three commits, each followed by a signed head, as the server
    does every minute: the state an attacker finds before tampering with the database."""
    audit.WITNESS.take(db.engine.url)
    anchor = _anchor(db)
    for n, (a, b) in enumerate(((1, 50), (51, 100), (101, N))):
        _fill(db, a, b)
        anchor.publish(T0 + dt.timedelta(minutes=n))
    return anchor


def _verify(*args: str) -> tuple[int, dict[str, Any], str]:
    result = CliRunner().invoke(app, ["audit", "verify", "--json", *args])
    out = result.stdout.strip()
    return result.exit_code, (json.loads(out) if out else {}), result.output


def _row(conn: Connection, seq: int) -> Any:
    return conn.execute(select(audit_log).where(audit_log.c.seq == seq)).one()


def _rechain(conn: Connection, start: int) -> None:
    """What a careful forger does: recompute every hash from ``start`` on, so the chain holds again."""
    prev = audit.GENESIS if start == 1 else _row(conn, start - 1).hash
    rows = conn.execute(select(audit_log).where(audit_log.c.seq >= start).order_by(audit_log.c.seq)).all()
    for r in rows:
        entry = AuditEntry(r.actor, r.role, r.action, r.target, r.outcome, r.purpose)
        digest = audit.entry_hash(prev, r.seq, r.at, entry)
        conn.execute(update(audit_log).where(audit_log.c.seq == r.seq).values(prev_hash=prev, hash=digest))
        prev = digest


def _edit(column: str, value: object) -> Callable[[Connection], None]:
    return lambda conn: conn.execute(update(audit_log).where(audit_log.c.seq == 40).values({column: value}))


def _swap(conn: Connection) -> None:
    a, b = _row(conn, 40), _row(conn, 41)
    for seq, src in ((40, b), (41, a)):
        values = {k: v for k, v in src._mapping.items() if k != "seq"}
        conn.execute(update(audit_log).where(audit_log.c.seq == seq).values(values))


def _delete_and_renumber(conn: Connection) -> None:
    conn.execute(delete(audit_log).where(audit_log.c.seq == 40))
    for seq in range(41, N + 1):
        conn.execute(update(audit_log).where(audit_log.c.seq == seq).values(seq=seq - 1))


def _edit_and_rehash_one(conn: Connection) -> None:
    _edit("outcome", "denied")(conn)
    r, prev = _row(conn, 40), _row(conn, 39).hash
    entry = AuditEntry(r.actor, r.role, r.action, r.target, r.outcome, r.purpose)
    conn.execute(
        update(audit_log).where(audit_log.c.seq == 40).values(hash=audit.entry_hash(prev, 40, r.at, entry))
    )


def _edit_and_rehash_two(conn: Connection) -> None:
    _edit_and_rehash_one(conn)
    conn.execute(update(audit_log).where(audit_log.c.seq == 41).values(prev_hash=_row(conn, 40).hash))


def _append_unhashed(conn: Connection) -> None:
    last = _row(conn, N)
    values = {k: v for k, v in last._mapping.items() if k != "seq"}
    conn.execute(
        insert(audit_log).values(**{**values, "seq": N + 1, "prev_hash": last.hash, "hash": "f" * 64})
    )


def _copy_over_next(conn: Connection) -> None:
    values = {k: v for k, v in _row(conn, 40)._mapping.items() if k != "seq"}
    conn.execute(update(audit_log).where(audit_log.c.seq == 41).values(values))


# The 18 the chain caught already: (what, how, the sequence number named).
CHAIN_CAUGHT: list[tuple[str, Callable[[Connection], None], int]] = [
    ("edit actor", _edit("actor", "someone else"), 40),
    ("edit role", _edit("role", "admin"), 40),
    ("edit action", _edit("action", "records.read"), 40),
    ("edit target", _edit("target", "subject 999"), 40),
    ("edit purpose", _edit("purpose", None), 40),
    ("edit outcome", _edit("outcome", "denied"), 40),
    ("edit time", _edit("at", T0 + dt.timedelta(days=1)), 40),
    ("edit hash", _edit("hash", "0" * 64), 40),
    ("edit prev_hash", _edit("prev_hash", "1" * 64), 40),
    ("delete a middle row", lambda c: c.execute(delete(audit_log).where(audit_log.c.seq == 40)), 41),
    ("delete the first row", lambda c: c.execute(delete(audit_log).where(audit_log.c.seq == 1)), 2),
    ("swap two rows", _swap, 40),
    ("delete a row and renumber", _delete_and_renumber, 40),
    ("edit and rehash the row", _edit_and_rehash_one, 41),
    ("edit and rehash the row and the next's link", _edit_and_rehash_two, 41),
    ("move a row to a far number", _edit("seq", 1000), 41),
    ("append a row with a wrong hash", _append_unhashed, N + 1),
    ("copy a row over the next", _copy_over_next, 41),
]


@pytest.mark.parametrize(("what", "tamper", "bad_seq"), CHAIN_CAUGHT, ids=[c[0] for c in CHAIN_CAUGHT])
def test_chain_tampering_is_named(
    db: Database, signed: Anchor, what: str, tamper: Callable[[Connection], None], bad_seq: int
) -> None:
    with db.engine.begin() as conn:
        tamper(conn)
    code, out, text = _verify()
    assert code == 1 and out["first_bad_seq"] == bad_seq, (what, text)
    assert f"broken at seq {bad_seq}" in text


def test_signed_and_untouched_is_intact(db: Database, signed: Anchor) -> None:
    code, out, text = _verify()
    assert code == 0 and out["ok"] and out["anchor"]["covered"] == N and out["anchor"]["heads"] == 3, text
    assert out["anchor"]["pending"] == [] and out["anchor"]["latest_head"]["seq"] == N


# The six the chain alone let through.
def test_deleting_the_last_row_is_detected(db: Database, signed: Anchor) -> None:
    with db.engine.begin() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.seq == N))
    code, out, text = _verify()
    assert code == 1 and out["first_bad_seq"] == N and f"seq {N} removed" in text


def test_truncating_the_last_100_rows_is_detected(db: Database, signed: Anchor) -> None:
    with db.engine.begin() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.seq > N - 100))
    code, out, text = _verify()
    assert code == 1 and out["first_bad_seq"] == N - 99 and f"seqs {N - 99}-{N} removed" in text


def test_deleting_every_row_is_detected(db: Database, signed: Anchor) -> None:
    with db.engine.begin() as conn:
        conn.execute(delete(audit_log))
    code, out, text = _verify()
    assert code == 1 and out["first_bad_seq"] == 1 and "chain ends at seq 0" in text
    assert "intact" not in text


def _forge_append(db: Database, seq: int = N + 1) -> None:
    """A row with a correctly computed hash, inserted straight into the table (no key holder wrote it)."""
    with db.engine.begin() as conn:
        last = _row(conn, seq - 1)
        entry = AuditEntry("cli", "admin", "keys.create", "key:backdoor", "created")
        at = T0 + dt.timedelta(minutes=3)
        digest = audit.entry_hash(last.hash, seq, at, entry)
        conn.execute(
            insert(audit_log).values(
                seq=seq,
                at=at,
                actor=entry.actor,
                role=entry.role,
                action=entry.action,
                target=entry.target,
                purpose=None,
                outcome=entry.outcome,
                prev_hash=last.hash,
                hash=digest,
            )
        )


def test_a_forged_appended_row_is_detected_once_heads_follow(db: Database, signed: Anchor) -> None:
    _forge_append(db)
    with db.engine.connect() as conn:
        assert audit.verify(conn).ok  # the chain alone holds
    # The server's next head sees entry 151 but cannot vouch for it: it did not write it.
    head = signed.publish(T0 + dt.timedelta(minutes=4))
    assert head.seen == N + 1 and head.seq == N and head.covers == ()
    code, out, text = _verify()  # within the grace: reported as not yet covered, not as intact-and-covered
    assert code == 0 and out["anchor"]["pending"] == [[N + 1, N + 1]]
    assert "1 newest entries not yet covered" in CliRunner().invoke(app, ["audit", "verify"]).output
    signed.publish(T0 + dt.timedelta(minutes=9))  # the heads of the minutes after
    code, out, text = _verify()
    assert (
        code == 1 and out["first_bad_seq"] == N + 1 and f"seq {N + 1} vouched for by no signed head" in text
    )
    # An honest entry appended on top of the forged one does not launder it.
    _fill(db, N + 2, N + 2)
    signed.publish(T0 + dt.timedelta(minutes=10))
    code, out, text = _verify()
    assert code == 1 and out["first_bad_seq"] == N + 1, text


def test_editing_a_row_and_rechaining_after_it_is_detected(db: Database, signed: Anchor) -> None:
    with db.engine.begin() as conn:
        _edit("outcome", "denied")(conn)
        _rechain(conn, 40)
    with db.engine.connect() as conn:
        assert audit.verify(conn).ok
    code, out, text = _verify()
    # The first head at or after the edit (seq 50) no longer matches: the rewrite lies at or before it.
    assert code == 1 and out["first_bad_seq"] == 50 and "entry 50 is not the one signed" in text


def test_deleting_renumbering_and_rechaining_is_detected(db: Database, signed: Anchor) -> None:
    with db.engine.begin() as conn:
        _delete_and_renumber(conn)
        _rechain(conn, 40)
    with db.engine.connect() as conn:
        assert audit.verify(conn).ok
    code, out, text = _verify()
    assert code == 1 and out["first_bad_seq"] == 50, text
    assert f"seq {N} removed" in text and "entry 50 is not the one signed" in text


def test_a_rolled_back_append_is_not_vouched_for(db: Database, signed: Anchor) -> None:
    # The signer checks each of its appends committed: a forged row in the place of a rolled-back one is not
    # covered by the head that follows.
    with db.engine.connect() as conn, conn.begin() as tx:
        audit.append(conn, [AuditEntry("k", "auditor", "audit.query", "{}", "ok: 0 entries")], T0)
        tx.rollback()
    _forge_append(db)
    signed.publish(T0 + dt.timedelta(minutes=4))
    signed.publish(T0 + dt.timedelta(minutes=9))
    code, out, _ = _verify()
    assert code == 1 and out["first_bad_seq"] == N + 1


def test_a_fresh_entry_removed_or_edited_before_the_next_head_is_detected(
    db: Database, signed: Anchor
) -> None:
    # The insider reads a file through the API, then deletes the audit entry of that read at once, before the
    # server's next head: the head still vouches for it, as the server saw it commit.
    _fill(db, N + 1, N + 2)
    with db.engine.begin() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.seq == N + 2))
    signed.publish(T0 + dt.timedelta(minutes=4))
    code, out, text = _verify()
    assert code == 1 and out["first_bad_seq"] == N + 2 and f"seq {N + 2} removed" in text
    _forge_append(db, N + 2)  # or replaced by another with a correct hash: the signed hash differs
    code, out, text = _verify()
    assert code == 1 and out["first_bad_seq"] == N + 2 and f"entry {N + 2} is not the one signed" in text


# The heads themselves.
def test_no_heads_is_unanchored_not_intact(db: Database) -> None:
    _fill(db, 1, 5)
    audit.WITNESS.take(db.engine.url)
    code, out, text = _verify()
    assert code == 1 and out["ok"] is False and out["anchor"]["anchored"] is False
    assert "unanchored" in text and "intact" not in text


def test_an_edited_head_is_refused(db: Database, signed: Anchor) -> None:
    path = signed.heads
    lines = path.read_text().splitlines()
    lines[1] = lines[1].replace('"seen":100', '"seen":99')
    path.write_text("\n".join(lines) + "\n")
    code, _, text = _verify()
    assert code == 1 and "heads.jsonl:2: signature does not verify" in text


def test_a_head_signed_by_another_key_is_refused(db: Database, signed: Anchor) -> None:
    other = sign_head(Ed25519PrivateKey.generate(), T0, 0, audit.GENESIS, 0, [])
    with signed.heads.open("a") as f:
        f.write(other.line() + "\n")
    code, _, text = _verify()
    assert code == 1 and f"signed by key '{other.key}'" in text
    # An attacker with their own key signs a head of the shortened chain: refused, and the real heads stand.
    code, _, text = _verify("--public-key", str(_write_public(signed.heads.parent / "other.pub")))
    assert code == 1 and "signed head refused" in text


def _write_public(path: Path) -> Path:
    pem = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    path.write_bytes(pem)
    return path


def test_unreadable_heads_or_key_is_bad_input(db: Database, signed: Anchor, tmp_path: Path) -> None:
    code, _, text = _verify("--heads", str(tmp_path / "absent.jsonl"))
    assert code == 2 and "no such heads file" in text
    garbled = tmp_path / "garbled.jsonl"
    garbled.write_bytes(b"\xff\xfe\x00")
    code, _, text = _verify("--heads", str(garbled))
    assert code == 2 and "cannot read the signed heads" in text
    not_a_key = tmp_path / "x.pub"
    not_a_key.write_text("hello")
    code, _, text = _verify("--public-key", str(not_a_key))
    assert code == 2 and "not a PEM key" in text


def test_the_key_file_is_private_and_refused_when_not(db: Database) -> None:
    paths = anchor_paths(get_settings(), db.engine.url)
    load_or_create_key(paths.key)
    assert paths.key.stat().st_mode & 0o777 == 0o600 and Path(f"{paths.key}.pub").exists()
    os.chmod(paths.key, 0o644)
    with pytest.raises(AnchorKeyError, match="readable by others"):
        load_or_create_key(paths.key)
