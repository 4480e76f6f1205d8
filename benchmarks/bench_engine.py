"""Engine benchmark: index build, memory per active record, single checks and batch checks.

A registry of N subjects (default 1,000,000) and M active records (default 200,000) is written to a temporary
SQLite file through the real schema (subjects, record events with full states, the records projection); the
Checker then builds its index from the store, as a server does on start. Figures:

* index build time (from the store) and memory per active record (deep size of the index entries, rules
  excluded since they are shared by the catalogue; also the RSS growth of the build);
* single ``check``: median and p99 latency, and checks/s in process, on queries drawn from the pool of subject
  ids and on queries each decoded from a JSON body of its own (as a server receives them);
* ``check_many``: checks/s in batches of 10,000, as returned (the verdict columns: allowed, effects, known;
  each full Decision is built when read), and with every Decision of the batch built and its reasons read.
  Queries come two ways: tuples of strings drawn from the pool of every subject id (each query's string is a
  random place in a 60 MB pool: the worst case for the memory caches), and the same batches decoded from JSON
  bodies, as the API receives them (fresh strings, side by side in memory);
* same-run baselines: one SQL query per check (the naive design), a bare dict lookup loop (the ceiling of any
  per-query Python design), and ``check_many`` answering per query from the index's dict and set, without the
  subject table (the design before decision 0307).

Queries are drawn uniformly from the registry's subjects (about M/N of them have records) over a few actions.
Goals: >= 200,000 single checks/s, >= 1,000,000 checks/s in batch, build <= 10 s, <= 300 bytes per record.

    .venv/bin/python benchmarks/bench_engine.py            # 1,000,000 subjects, 200,000 records
    .venv/bin/python benchmarks/bench_engine.py --quick    # 100,000 subjects, 20,000 records

The last line printed is JSON with every figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from stdnum.cn import ric, uscc

from socialcredit.catalogue import covers, default_catalogue, load_catalogue
from socialcredit.engine import Checker
from socialcredit.engine.index import Entry
from socialcredit.registry import RecordState, day_end, day_start
from socialcredit.store import connect, upgrade
from socialcredit.store.tables import records

REGIONS = ("110105", "310104", "440305", "350102", "510107", "330106", "420102", "210102")
_ORG_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
ACTIONS = ("transport.air.ticket", "government.procurement.bid", "transport.rail.g_train.ticket")
NOW = dt.datetime.now(dt.UTC)


def org_id(n: int) -> str:
    body = f"{n:08d}"[-8:]
    total = sum(_ORG_ALPHABET.index(c) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    body = "91" + REGIONS[n % len(REGIONS)] + body + {10: "X", 11: "0"}.get(check, str(check))
    return body + uscc.calc_check_digit(body)


def person_id(n: int) -> str:
    day = dt.date(1950, 1, 1) + dt.timedelta(days=(n // 1000) % 10_000)
    body = f"{REGIONS[(n // 10_000_000) % len(REGIONS)]}{day:%Y%m%d}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def _sqlite_dt(v: dt.datetime | None) -> str | None:
    return None if v is None else v.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def generate(path: Path, n_subjects: int, n_records: int, rng: random.Random) -> tuple[list[str], float]:
    """Write the registry with the driver directly (storage forms equal SQLAlchemy's); return subject ids."""
    t0 = time.perf_counter()
    engine = connect(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    n_orgs = n_subjects // 5
    persons = [person_id(i) for i in range(n_subjects - n_orgs)]
    orgs = [org_id(i) for i in range(n_orgs)]
    now_s = _sqlite_dt(NOW)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.executemany(
        "INSERT INTO subjects (id, kind, name, region_code, region, allowlisted, created_at) "
        "VALUES (?, ?, ?, ?, NULL, 0, ?)",
        [(p, "person", "某人", p[:6], now_s) for p in persons]
        + [(o, "organisation", "某公司", o[2:8], now_s) for o in orgs],
    )
    # Three in four records list a person; the rest an organisation, most with a legal representative.
    ev_rows, rec_rows = [], []
    subjects_with = rng.sample(range(len(persons)), n_records * 3 // 4)
    org_with = rng.sample(range(len(orgs)), n_records - len(subjects_with))
    for rid in range(1, n_records + 1):
        if rid <= len(subjects_with):
            subject, rep = persons[subjects_with[rid - 1]], None
        else:
            subject = orgs[org_with[rid - 1 - len(subjects_with)]]
            rep = persons[rng.randrange(len(persons))] if rng.random() < 0.8 else None
        decided = NOW.date() - dt.timedelta(days=rng.randrange(1, 700))
        until = decided + dt.timedelta(days=rng.randrange(800, 1800))
        st = RecordState(
            id=rid,
            authority="court",
            external_id=f"E{rid}",
            category="court.judgment_defaulter",
            subject_id=subject,
            subject_name="某",
            decision_no=f"D{rid}",
            decided_on=decided,
            effective_from=day_start(decided),
            effective_until=day_end(until),
            legal_basis="basis",
            summary="",
            legal_representative_id=rep,
            legal_representative_name="法人" if rep else None,
            actual_controller_id=None,
            actual_controller_name=None,
            status="filed",
            applies_from=day_start(decided),
            ended_at=None,
            filed_at=NOW,
            content_hash=f"{rid:064x}",
        )
        ev_rows.append((rid, rid, "filed", now_s, "bench", None, st.to_json()))
        rec_rows.append(
            (
                rid,
                "court",
                f"E{rid}",
                st.category,
                subject,
                "某",
                f"D{rid}",
                decided.isoformat(),
                _sqlite_dt(st.effective_from),
                _sqlite_dt(st.effective_until),
                "basis",
                "",
                rep,
                st.legal_representative_name,
                None,
                None,
                "filed",
                _sqlite_dt(st.applies_from),
                None,
                "[]",
                rid,
                st.content_hash,
                now_s,
                now_s,
            )
        )
    db.executemany(
        "INSERT INTO record_events (seq, record_id, type, recorded_at, actor, reason, state) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        ev_rows,
    )
    db.executemany(f"INSERT INTO records VALUES ({', '.join('?' * 24)})", rec_rows)
    db.commit()
    db.close()
    return persons + orgs, time.perf_counter() - t0


def deep_size(checker: Checker) -> tuple[int, int]:
    """Bytes held for the records (the entries dict, its keys, the values and their fields; the subject
    table's value arrays) and for the known subjects (the set, its strings; the subject table's rows and
    hash table)."""
    seen: set[int] = set()
    total = sys.getsizeof(checker.index.entries)

    def add(obj: Any) -> int:
        if id(obj) in seen or obj is None:
            return 0
        seen.add(id(obj))
        return sys.getsizeof(obj)

    for key, value in checker.index.entries.items():
        total += add(key)
        for e in value if isinstance(value, tuple) else (value,):
            if isinstance(value, tuple):
                total += add(value)
            total += add(e) + add(e.record_id) + add(e.start) + add(e.until) + add(e.via_subject)
            if e.pauses:
                total += add(e.pauses)
    known = sys.getsizeof(checker.index.known) + sum(
        sys.getsizeof(s) for s in checker.index.known if id(s) not in seen
    )
    assert checker.index.table is not None
    table_subjects, table_values = checker.index.table.nbytes()
    return total + table_values, known + table_subjects


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def sql_baseline(engine: Any, catalogue: Any, queries: list[tuple[str, str]]) -> float:
    """The naive design: one indexed SQL query per check, evaluated with the catalogue in Python."""
    c = records.c
    t0 = time.perf_counter()
    with engine.connect() as conn:
        for subject, action in queries:
            q = select(
                c.id,
                c.category,
                c.subject_id,
                c.legal_representative_id,
                c.actual_controller_id,
                c.applies_from,
                c.effective_until,
                c.ended_at,
            ).where(
                or_(
                    c.subject_id == subject,
                    c.legal_representative_id == subject,
                    c.actual_controller_id == subject,
                )
            )
            for _rid, cat, sid, rep, _ctl, af, eu, ended in conn.execute(q):
                until = eu if ended is None else (ended if eu is None else min(ended, eu))
                if af <= NOW and (until is None or until > NOW):
                    via = (
                        "subject"
                        if sid == subject
                        else "legal_representative"
                        if rep == subject
                        else "actual_controller"
                    )
                    for _memo, m in catalogue.measures_for(cat):
                        if (
                            via in m.applies_to
                            and m.effect == "deny"
                            and any(covers(p, action) for p in m.actions)
                        ):
                            break
    return len(queries) / (time.perf_counter() - t0)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100,000 subjects and 20,000 records")
    ap.add_argument("--subjects", type=int, default=1_000_000)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--catalogue", help="catalogue directory (default: the shipped one)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    if args.quick:
        args.subjects, args.records = 100_000, 20_000
    catalogue = load_catalogue(args.catalogue) if args.catalogue else default_catalogue()
    actions = [a for a in ACTIONS if a in catalogue.actions]
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        ids, gen_s = generate(path, args.subjects, args.records, rng)
        print(
            f"registry: {args.subjects:,} subjects, {args.records:,} active records ({gen_s:.1f} s to write)"
        )
        engine = connect(f"sqlite:///{path}")

        gc.collect()
        rss0 = rss()
        t0 = time.perf_counter()
        checker = Checker(engine, catalogue, allowlist=frozenset())
        build_s = time.perf_counter() - t0
        gc.collect()
        rss_delta = rss() - rss0
        index_bytes, known_bytes = deep_size(checker)
        n_entries = sum(len(v) if isinstance(v, tuple) else 1 for v in checker.index.entries.values())
        per_record = index_bytes / args.records
        print(
            f"index build from the store: {build_s:.2f} s; {n_entries:,} entries for {args.records:,} records"
        )
        print(
            f"memory: index {index_bytes / 1e6:.1f} MB = {per_record:.0f} bytes per active record; "
            f"known subjects (set and subject table) {known_bytes / 1e6:.1f} MB = "
            f"{known_bytes / len(ids):.0f} bytes per subject; "
            f"RSS growth of the build {rss_delta / 1e6:.1f} MB"
        )

        # As a check server does after loading: the index is long-lived and acyclic, so keep the cyclic
        # collector from rescanning it (it otherwise sets the p99 latency).
        gc.freeze()
        queries = [
            (ids[rng.randrange(len(ids))], actions[rng.randrange(len(actions))]) for _ in range(200_000)
        ]
        check = checker.check
        for s, a in queries[:2000]:  # warm up
            check(s, a)
        lat = []
        perf = time.perf_counter_ns
        for s, a in queries[:100_000]:
            t = perf()
            check(s, a)
            lat.append(perf() - t)
        lat.sort()
        median_us, p99_us = lat[len(lat) // 2] / 1000, lat[int(len(lat) * 0.99)] / 1000
        t0 = time.perf_counter()
        denied = 0
        for s, a in queries:
            denied += not check(s, a).allowed
        single_rate = len(queries) / (time.perf_counter() - t0)
        print(
            f"single check: median {median_us:.2f} us, p99 {p99_us:.2f} us, {single_rate:,.0f} checks/s "
            f"({denied / len(queries):.1%} denied)"
        )

        batch = 10_000
        chunks = [queries[i : i + batch] for i in range(0, len(queries), batch)]
        decoded = [json.loads(json.dumps(chunk)) for chunk in chunks]  # lists of fresh strings, as the API's
        # Single checks as a server makes them: each request's subject decoded from its own small body.
        fresh = [json.loads(json.dumps(q)) for q in queries]
        t0 = time.perf_counter()
        for s, a in fresh:
            check(s, a)
        single_decoded_rate = len(fresh) / (time.perf_counter() - t0)
        print(f"  the same, each query decoded from its own JSON body: {single_decoded_rate:,.0f} checks/s")

        def batch_rate(answer: Any, batches: list[Any]) -> float:
            for chunk in batches[:3]:  # warm up, as for single checks
                answer(chunk)
            t0 = time.perf_counter()
            for _ in range(5):
                for chunk in batches:
                    answer(chunk)
            return 5 * len(queries) / (time.perf_counter() - t0)

        many_rate = batch_rate(checker.check_many, chunks)
        print(f"check_many (batches of {batch:,}), verdict columns as returned: {many_rate:,.0f} checks/s")
        decoded_rate = batch_rate(checker.check_many, decoded)
        print(f"  the same, queries decoded from JSON bodies: {decoded_rate:,.0f} checks/s")
        table, checker.index.table = checker.index.table, None
        per_query_rate = batch_rate(checker.check_many, chunks)
        per_query_decoded_rate = batch_rate(checker.check_many, decoded)
        checker.index.table = table
        print(
            f"baseline, check_many per query from the dict and set (no subject table): {per_query_rate:,.0f} "
            f"checks/s; decoded from JSON: {per_query_decoded_rate:,.0f}"
        )
        t0 = time.perf_counter()
        touched = 0
        for _ in range(5):
            for chunk in chunks:
                for d in checker.check_many(chunk):
                    touched += len(d.reasons)
        materialised_rate = 5 * len(queries) / (time.perf_counter() - t0)
        print(
            f"check_many (batches of {batch:,}) + every Decision built and its reasons read: "
            f"{materialised_rate:,.0f} checks/s"
        )
        assert touched > 0
        # Sanity: the batch's columns and decisions are check()'s, query by query (with subjects spelt in lower
        # case, and subjects the registry does not know).
        probe = [
            *chunks[0][:2000],
            *((s.lower(), a) for s, a in chunks[1][:200]),
            *((person_id(60_000_000 + i), actions[i % len(actions)]) for i in range(200)),
        ]
        got = checker.check_many(probe, as_of=NOW)
        singles = [checker.check(s, a, as_of=NOW) for s, a in probe]
        assert got.allowed == [d.allowed for d in singles]
        assert got.effects == [d.effects for d in singles]
        assert got.known == [d.known for d in singles]
        assert got.subjects == [d.subject for d in singles]
        assert got.to_list() == singles
        assert sum(not d.allowed for d in singles) == got.denied_count > 0
        assert not all(got.known) and any(got.effects)

        strangers = [(person_id(50_000_000 + i), actions[0]) for i in range(5_000)]
        t0 = time.perf_counter()
        for s, a in strangers:
            check(s, a)
        stranger_rate = len(strangers) / (time.perf_counter() - t0)
        print(
            f"single check, subjects not in the registry (identifier parsed): {stranger_rate:,.0f} checks/s"
        )

        sample = queries[:20_000]
        sql_rate = sql_baseline(engine, catalogue, sample)
        print(f"baseline, one SQL query per check (SQLite, indexed): {sql_rate:,.0f} checks/s")
        plain = {k: v for k, v in checker.index.entries.items()}

        def dict_loop(chunk: Any) -> None:
            get = plain.get
            for s, _a in chunk:
                get(s)

        dict_rate = batch_rate(dict_loop, chunks)
        dict_decoded_rate = batch_rate(dict_loop, decoded)
        print(
            f"baseline, bare dict lookup loop: {dict_rate:,.0f} lookups/s; "
            f"decoded from JSON: {dict_decoded_rate:,.0f}"
        )

        # Sanity: the index agrees with the record rule on a sample.
        for s, a in queries[:200]:
            d = checker.check(s, a, as_of=NOW)
            for r in d.reasons:
                assert r.valid_until is None or r.valid_until > NOW
        assert isinstance(next(iter(checker.index.entries.values())), Entry | tuple)
        engine.dispose()
    figures = {
        "subjects": args.subjects,
        "records": args.records,
        "build_s": round(build_s, 3),
        "bytes_per_record": round(per_record, 1),
        "index_mb": round(index_bytes / 1e6, 1),
        "known_set_bytes_per_subject": round(known_bytes / len(ids), 1),
        "rss_growth_mb": round(rss_delta / 1e6, 1),
        "check_median_us": round(median_us, 2),
        "check_p99_us": round(p99_us, 2),
        "checks_per_s": round(single_rate),
        "checks_decoded_per_s": round(single_decoded_rate),
        "check_many_per_s": round(many_rate),
        "check_many_decoded_per_s": round(decoded_rate),
        "check_many_materialised_per_s": round(materialised_rate),
        "unregistered_checks_per_s": round(stranger_rate),
        "baseline_sql_per_s": round(sql_rate),
        "baseline_dict_per_s": round(dict_rate),
        "baseline_dict_decoded_per_s": round(dict_decoded_rate),
        "baseline_check_many_per_query_per_s": round(per_query_rate),
        "baseline_check_many_per_query_decoded_per_s": round(per_query_decoded_rate),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
