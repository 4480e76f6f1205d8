"""Grading benchmark: every organisation graded at once (vectorised), and one explained grade.

A registry of N organisations (default 1,000,000) and M records about them (default 300,000: serious and
general black lists, the watch list and a red list, decided over the last three years) is written to a
temporary SQLite file through the real schema. Figures, each printed as one JSON line
{"figure", "value", "baseline", "goal", "unit", "command"}:

* bulk: seconds to grade every organisation under ``public_credit`` (grading.bulk: two queries, numpy
  columns), beside a same-run baseline of one query per subject (the explained grade of each, timed on a
  sample and scaled to N); goal <= 30 s;
* single: the median latency of one explained grade (``grading.grade``, from the store); goal <= 1 ms;
* graded batch: checks/s of ``Checker.check_many`` over 10,000 queries of ``inspection.random`` (graded: each
  distinct subject's records read in one query per 500 subjects and graded once, decision 1003), half of them
  about listed organisations, beside the same batch of the ungraded ``transport.air.ticket`` (the index
  alone) and the per-query estimate (one explained grade per query, from the median above).

    .venv/bin/python benchmarks/bench_grading.py            # 1,000,000 organisations, 300,000 records
    .venv/bin/python benchmarks/bench_grading.py --quick    # 100,000 organisations, 30,000 records
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from bench_engine import _sqlite_dt, org_id

from socialcredit.catalogue import load_catalogue
from socialcredit.engine import Checker
from socialcredit.grading import grade
from socialcredit.grading.bulk import grade_columns, load_columns, score_columns
from socialcredit.registry import RecordState, day_end, day_start
from socialcredit.store import connect, upgrade

NOW = dt.datetime.now(dt.UTC)
CATEGORIES = (
    ("tax.major_violation", "sta"),
    ("court.judgment_defaulter", "court"),
    ("credit.key_attention", "ndrc"),
    ("tax.a_grade", "sta"),
)


def generate(path: Path, n_orgs: int, n_records: int, rng: random.Random) -> None:
    engine = connect(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    orgs = [org_id(i) for i in range(n_orgs)]
    now_s = _sqlite_dt(NOW)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.executemany(
        "INSERT INTO subjects (id, kind, name, region_code, region, allowlisted, created_at) "
        "VALUES (?, 'organisation', '某公司', ?, NULL, 0, ?)",
        [(o, o[2:8], now_s) for o in orgs],
    )
    ev_rows, rec_rows = [], []
    for rid in range(1, n_records + 1):
        subject = orgs[rng.randrange(n_orgs)]
        category, authority = CATEGORIES[rng.randrange(len(CATEGORIES))]
        decided = NOW.date() - dt.timedelta(days=rng.randrange(1, 1100))
        until = decided + dt.timedelta(days=1095)
        st = RecordState(
            id=rid,
            authority=authority,
            external_id=f"E{rid}",
            category=category,
            subject_id=subject,
            subject_name="某公司",
            decision_no=f"D{rid}",
            decided_on=decided,
            effective_from=day_start(decided),
            effective_until=day_end(until),
            legal_basis="basis",
            summary="",
            legal_representative_id=None,
            legal_representative_name=None,
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
            (rid, authority, f"E{rid}", category, subject, "某公司", f"D{rid}", decided.isoformat(),
             _sqlite_dt(st.effective_from), _sqlite_dt(st.effective_until), "basis", "", None, None, None, None,
             "filed", _sqlite_dt(st.applies_from), None, "[]", rid, st.content_hash, now_s, now_s)
        )  # fmt: skip
    db.executemany(
        "INSERT INTO record_events (seq, record_id, type, recorded_at, actor, reason, state) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        ev_rows,
    )
    db.executemany(f"INSERT INTO records VALUES ({', '.join('?' * 24)})", rec_rows)
    db.commit()
    db.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--orgs", type=int)
    ap.add_argument("--records", type=int)
    args = ap.parse_args()
    n_orgs = args.orgs or (100_000 if args.quick else 1_000_000)
    n_records = args.records or n_orgs * 3 // 10
    command = "python benchmarks/bench_grading.py" + (" --quick" if args.quick else "")
    rng = random.Random(19)
    catalogue = load_catalogue()
    model = catalogue.models["public_credit"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "grading.db"
        t0 = time.perf_counter()
        generate(path, n_orgs, n_records, rng)
        print(
            f"# generated {n_orgs:,} organisations, {n_records:,} records in {time.perf_counter() - t0:.1f}s"
        )
        engine = connect(f"sqlite:///{path}")
        with engine.connect() as conn:
            t0 = time.perf_counter()
            cols = load_columns(conn, NOW)
            t_load = time.perf_counter() - t0
            _, score = score_columns(model, catalogue, cols, NOW)
            bands = grade_columns(model, score)
            bulk = time.perf_counter() - t0
            counts = {model.grades[k].grade: int((bands == k).sum()) for k in range(len(model.grades))}
            print(f"# bulk: {bulk:.2f}s ({t_load:.2f}s reading), grades {counts}")
            # Subjects with records (an unlisted one is cheaper still): the explanation has points to name.
            listed = sorted({cols.ids[i] for i in cols.subject.tolist()})
            sample = rng.sample(listed, 2_000)
            grade(conn, catalogue, sample[0], "public_credit", as_of=NOW)  # warm
            lat = []
            for sid in sample:
                t1 = time.perf_counter()
                grade(conn, catalogue, sid, "public_credit", as_of=NOW)
                lat.append(time.perf_counter() - t1)
        batch = [
            (sid, "inspection.random") for sid in rng.sample(listed, 5_000) + rng.sample(cols.ids, 5_000)
        ]
        checker = Checker(engine, catalogue, allowlist=frozenset())
        plain = [(s, "transport.air.ticket") for s, _ in batch]
        checker.check_many(batch)  # warm
        t_plain, t_graded = [], []
        for _ in range(3):
            t1 = time.perf_counter()
            checker.check_many(plain)
            t_plain.append(time.perf_counter() - t1)
            t1 = time.perf_counter()
            checker.check_many(batch)
            t_graded.append(time.perf_counter() - t1)
        graded_per_s = len(batch) / min(t_graded)
        plain_per_s = len(batch) / min(t_plain)
        print(f"# graded batch: {graded_per_s:,.0f} checks/s; ungraded: {plain_per_s:,.0f} checks/s")
        engine.dispose()
    per_query = statistics.fmean(lat)
    lines = [
        {"figure": "grading: every organisation (vectorised)", "value": round(bulk, 2),
         "baseline": round(per_query * n_orgs, 1), "goal": 30, "unit": "s", "command": command},
        {"figure": "grading: one explained grade of a listed organisation (median, from the store)",
         "value": round(statistics.median(lat) * 1000, 3), "baseline": None, "goal": 1, "unit": "ms",
         "command": command},
        {"figure": "grading: a batch of 10,000 inspection.random checks (graded; baseline: one grade per query)",
         "value": round(graded_per_s), "baseline": round(1 / statistics.median(lat)), "goal": None,
         "unit": "checks/s", "command": command},
        {"figure": "grading: the same batch of transport.air.ticket (ungraded, the index alone)",
         "value": round(plain_per_s), "baseline": round(graded_per_s), "goal": None, "unit": "checks/s",
         "command": command},
    ]  # fmt: skip
    for line in lines:
        print(json.dumps(line, ensure_ascii=False))
    summary = {"n_orgs": n_orgs, "n_records": n_records, "bulk_s": round(bulk, 2), "grades": counts,
               "per_query_baseline_s": lines[0]["baseline"], "single_ms": lines[1]["value"],
               "graded_batch_per_s": lines[2]["value"], "graded_batch_baseline_per_s": lines[2]["baseline"],
               "ungraded_batch_per_s": lines[3]["value"]}  # fmt: skip
    print(json.dumps(summary, ensure_ascii=False))  # last: benchmarks/figures.py picks from it


if __name__ == "__main__":
    main()
