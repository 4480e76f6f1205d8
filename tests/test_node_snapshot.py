"""Index snapshots (socialcredit.node, decision 1101): a Checker built from a snapshot answers exactly as one
built from the store (a property test on random registries, subjects and instants, both stores); the file is
refused, with the reason, when it is of another catalogue, truncated, corrupt, of an unknown format version, or
forged with a matching checksum but columns that are not an index; the CLI creates and inspects it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from factories import org_id, person_id
from socialcredit.catalogue import Catalogue
from socialcredit.cli import app
from socialcredit.engine import Checker
from socialcredit.node import SnapshotRefused, create_snapshot, load_snapshot, read_header
from socialcredit.node.snapshot import FORMAT_VERSION, MAGIC
from socialcredit.store import Database
from test_engine_property import BASE, ORGS, PERSONS, _actions, _boundaries, _clear, _run_events
from test_engine_support import file

runner = CliRunner()


def _from_snapshot(db: Database, catalogue: Catalogue, path: Path) -> Checker:
    loaded = load_snapshot(path, catalogue)
    return Checker(db.engine, catalogue, prebuilt=(loaded.index, loaded.seq))


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_checker_from_a_snapshot_answers_as_one_from_the_store(
    db: Database, catalogue: Catalogue, tmp_path: Path, data: Any
) -> None:
    _clear(db)
    early = Checker(db.engine, catalogue, history=None)
    _run_events(db, catalogue, data, early)
    history = data.draw(st.sampled_from([None, dt.timedelta(days=366)]), label="history")
    store = Checker(db.engine, catalogue, history=history)
    path = tmp_path / "index.snap"
    header = create_snapshot(db.engine, catalogue, path, history=history)
    snap = _from_snapshot(db, catalogue, path)
    assert snap.last_seq == store.last_seq == header.seq
    assert snap.index.dump() == store.index.dump() and snap.index.known == store.index.known
    assert snap.index.cutoff == pytest.approx(store.index.cutoff, abs=5.0) or history is None
    people = [*ORGS, *PERSONS, person_id(77), org_id(9).lower(), "not-an-id"]
    actions = _actions(catalogue)
    instants = _boundaries(db) + [
        BASE + dt.timedelta(days=data.draw(st.integers(-400, 1500), label="day")) for _ in range(4)
    ]
    for as_of in instants:
        action = data.draw(st.sampled_from(actions), label="action")
        queries = [(s, action) for s in people if s != "not-an-id"]
        assert (
            snap.check_many(queries, as_of=as_of).to_list()
            == store.check_many(queries, as_of=as_of).to_list()
        )
        for s in people:
            try:
                want: Any = store.check(s, action, as_of=as_of)
            except Exception as exc:  # an invalid identifier: the same refusal
                want = repr(exc)
            try:
                got: Any = snap.check(s, action, as_of=as_of)
            except Exception as exc:
                got = repr(exc)
            assert got == want, (s, action, as_of)


@pytest.fixture
def snapshot(db: Database, catalogue: Catalogue, now: dt.datetime, tmp_path: Path) -> Path:
    file(db.engine, catalogue, now, external_id="S-1", subject_id=org_id(1), subject_name="某公司",
         legal_representative_id=person_id(3), legal_representative_name="张三")  # fmt: skip
    file(db.engine, catalogue, now, external_id="S-2", subject_id=person_id(4))
    path = tmp_path / "index.snap"
    create_snapshot(db.engine, catalogue, path)
    return path


def _refused(path: Path, catalogue: Catalogue) -> str:
    with pytest.raises(SnapshotRefused) as exc:
        load_snapshot(path, catalogue)
    return exc.value.reason


def _parts(path: Path) -> tuple[dict[str, Any], bytes]:
    data = path.read_bytes()
    (n,) = struct.unpack(">I", data[8:12])
    return json.loads(data[12 : 12 + n]), data[12 + n : -32]


def _write(path: Path, header: dict[str, Any], body: bytes) -> None:
    """A file with every checksum made to match: what a forger (or a bug) could write."""
    header = {**header, "body_sha256": hashlib.sha256(body).hexdigest(), "body_bytes": len(body)}
    head = json.dumps(header).encode()
    prefix = MAGIC + struct.pack(">I", len(head)) + head + body
    path.write_bytes(prefix + hashlib.sha256(prefix).digest())


def test_a_snapshot_loads_and_a_checker_on_it_answers(
    db: Database, catalogue: Catalogue, snapshot: Path, now: dt.datetime
) -> None:
    checker = _from_snapshot(db, catalogue, snapshot)
    assert not checker.check(person_id(3), "transport.air.ticket", as_of=now + dt.timedelta(days=1)).allowed
    assert checker.check(person_id(5), "transport.air.ticket").known is False
    header = read_header(snapshot)
    assert header.catalogue_version == catalogue.version and header.catalogue_digest in catalogue.version
    assert header.counts == {"entries": 3, "subjects": 3, "known": 3, "pauses": 0}


def test_another_catalogue_version_is_refused(catalogue: Catalogue, snapshot: Path) -> None:
    other = dataclasses.replace(catalogue, version="2027.1+0000000000")
    reason = _refused(snapshot, other)
    assert catalogue.version in reason and "2027.1+0000000000" in reason


@pytest.mark.parametrize("keep", [0, 5, 11, 40, -33, -1])
def test_a_truncated_file_is_refused(catalogue: Catalogue, snapshot: Path, tmp_path: Path, keep: int) -> None:
    data = snapshot.read_bytes()
    cut = tmp_path / "cut.snap"
    cut.write_bytes(data[:keep])
    reason = _refused(cut, catalogue)
    assert "truncated" in reason or "not an index snapshot" in reason


def test_a_corrupt_byte_anywhere_is_refused(catalogue: Catalogue, snapshot: Path, tmp_path: Path) -> None:
    data = snapshot.read_bytes()
    header, body = _parts(snapshot)
    head_end = len(data) - 32 - len(body)
    bad = tmp_path / "bad.snap"
    for at, word in [
        (head_end + 10, "body checksum"),
        (len(data) - 40, "body checksum"),
        (len(data) - 1, "file"),
    ]:
        flipped = bytearray(data)
        flipped[at] ^= 0x01
        bad.write_bytes(bytes(flipped))
        assert word in _refused(bad, catalogue)
    seq = json.dumps(header["seq"]).encode()  # the header: its seq changed, same length
    forged = data.replace(b'"seq": ' + seq, b'"seq": ' + (b"9" * len(seq)), 1)
    bad.write_bytes(forged)
    assert "file checksum" in _refused(bad, catalogue)
    bad.write_bytes(data + b"x")
    assert "after the end" in _refused(bad, catalogue)


def test_an_unknown_format_version_and_a_foreign_file_are_refused(
    catalogue: Catalogue, snapshot: Path, tmp_path: Path
) -> None:
    header, body = _parts(snapshot)
    other = tmp_path / "v9.snap"
    _write(other, {**header, "format_version": 9}, body)
    assert "format_version 9 unknown" in _refused(other, catalogue)
    _write(other, {**header, "format_version": 1}, body)  # the layout before the subjects section
    assert f"format_version 1 unknown: this version reads format {FORMAT_VERSION} only" in _refused(
        other, catalogue
    )
    other.write_bytes(b"PAR1" + bytes(100))
    assert "not an index snapshot" in _refused(other, catalogue)
    _write(other, {**header, "seq": "12"}, body)
    assert "header field seq" in _refused(other, catalogue)
    assert "No such file" in _refused(tmp_path / "absent.snap", catalogue)


def test_matching_checksums_do_not_make_a_bad_body_an_index(
    catalogue: Catalogue, snapshot: Path, tmp_path: Path
) -> None:
    header, body = _parts(snapshot)
    forged = tmp_path / "forged.snap"
    _write(forged, {**header, "rules": [["no.such_category", "subject"]]}, body)
    assert "not in the catalogue" in _refused(forged, catalogue)
    _write(forged, {**header, "rules": header["rules"][:1]}, body)
    assert "code outside" in _refused(forged, catalogue)
    _write(forged, {**header, "counts": {**header["counts"], "entries": 4}}, body)
    assert "entries rows" in _refused(forged, catalogue)
    entries = header["sections"]["entries"]
    _write(forged, {**header, "sections": {**header["sections"], "subjects": entries}}, body)
    assert "section subjects has columns" in _refused(forged, catalogue)
    _write(forged, {**header, "table": {**header["table"], "width": header["table"]["width"] + 8}}, body)
    assert "subject table does not fit" in _refused(forged, catalogue)
    _write(forged, header, body[:10] + bytes(20) + body[30:])
    assert "does not read" in _refused(forged, catalogue)


def test_cli_create_and_inspect(db: Database, catalogue: Catalogue, now: dt.datetime, tmp_path: Path) -> None:
    file(db.engine, catalogue, now, subject_id=person_id(4))
    out = tmp_path / "index.snap"
    made = runner.invoke(app, ["snapshot", "create", str(out)])
    assert made.exit_code == 0, made.output
    header = json.loads(made.stdout)
    assert header["counts"]["entries"] == 1 and header["seq"] >= 1
    again = runner.invoke(app, ["snapshot", "create", str(out)])
    assert again.exit_code == 2 and "--force" in again.output
    assert runner.invoke(app, ["snapshot", "create", str(out), "--force", "--all-history"]).exit_code == 0
    shown = runner.invoke(app, ["snapshot", "inspect", str(out)])
    assert shown.exit_code == 0 and json.loads(shown.stdout)["checksums"] == "ok"
    out.write_bytes(out.read_bytes()[:-5])
    bad = runner.invoke(app, ["snapshot", "inspect", str(out)])
    assert bad.exit_code == 2 and "truncated" in bad.output
    assert runner.invoke(app, ["snapshot", "inspect", str(tmp_path / "none")]).exit_code == 3
    assert runner.invoke(app, ["snapshot", "create", str(tmp_path / "no" / "dir.snap")]).exit_code == 3


def test_subject_keys_are_padded_by_slices_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    # pyarrow's utf8_rpad sizes its result for four bytes a character: past 2 GiB at ~2.5x10^7 subjects it
    # raised ArrowCapacityError (the 5x10^6-record benchmark), so _keys pads by slices. A tiny slice budget
    # (3 rows of width 24 a slice, an uneven last one) gives the same keys as one slice.
    import pyarrow as pa

    from socialcredit.node import snapshot as snap

    names = pa.array([org_id(i) for i in range(1, 11)] + [person_id(7), "P:USA:X1234567"])
    whole = snap._keys(names)
    monkeypatch.setattr(snap, "_PAD_BYTES", 4 * 24 * 3)
    sliced = snap._keys(names)
    assert whole is not None and sliced is not None
    assert sliced.dtype == whole.dtype and sliced.tolist() == whole.tolist()
    assert sliced[1] == org_id(1).encode() and sliced[0] == b""
