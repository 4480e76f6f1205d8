"""grade.changed benchmark (decision 1011): what grade events cost the registry write, and how fast the Grader
feed step keeps up with it.

On a fresh SQLite registry (and PostgreSQL with ``--postgres``), N organisation records are filed in batches by
the registry writer (``file_batch``, the import's path), then the Grader grades every record event. Figures:

* the writer's rows/s, beside a same-run baseline: the same filings into a registry migrated only to 0012
  (the outbox before grade events); the filing code is the same, only the outbox's indexes differ;
* the Grader's events/s, beside a same-run baseline: grading each event twice from the subject's states as
  known just before and at the event (as the grade history reads them), on a 500-event sample, extrapolated.

    python benchmarks/bench_grade_events.py                  # 20,000 records
    python benchmarks/bench_grade_events.py --records 100000 --postgres
    python benchmarks/bench_grade_events.py --results benchmarks/results.jsonl

Prints one JSON line per figure (benchmarks/figures.py's form); ``--results FILE`` appends them to FILE.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from alembic import command as alembic
from alembic.config import Config
from sqlalchemy import Engine, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from figures import figure

from factories import org_id, row
from socialcredit.catalogue import load_catalogue
from socialcredit.feed.grades import Grader
from socialcredit.grading.explain import grade_states
from socialcredit.registry import check_row, file_batch
from socialcredit.registry.projection import states_for_subject
from socialcredit.store import database
from socialcredit.store.database import connect, upgrade
from socialcredit.store.tables import outbox, record_events

NOW = dt.datetime(2026, 11, 20, 4, 0, tzinfo=dt.UTC)
CATEGORIES = (("court", "court.judgment_defaulter"), ("sta", "tax.major_violation"), ("sta", "tax.a_grade"))


def _upgrade(engine: Engine, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(database.__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        alembic.upgrade(cfg, revision)


def _file(engine: Engine, filings: list[Any], catalogue: Any) -> float:
    t0 = time.perf_counter()
    for i in range(0, len(filings), 5000):
        with engine.begin() as conn:
            file_batch(conn, filings[i : i + 5000], catalogue, "bench", NOW)
    return time.perf_counter() - t0


def run(url: str, n: int, store: str, command: str, before_url: str) -> list[dict[str, object]]:
    catalogue = load_catalogue()
    engine = connect(url)
    upgrade(engine)
    before = connect(before_url)
    _upgrade(before, "0012")  # the outbox as it was before grade events (unique event_seq, no event_key)
    orgs = max(1, n // 3)  # three records a company on average: most events move a grade, some do not
    filings = [
        check_row(
            row(
                external_id=f"E-{i}",
                authority=CATEGORIES[i % 3][0],
                category=CATEGORIES[i % 3][1],
                subject_id=org_id(i % orgs + 1),
                subject_name="某公司",
                decided_on="2026-11-01",
            ),
            catalogue,
            NOW,
        )
        for i in range(n)
    ]
    # The same filings into both schemas, halves interleaved so a busy machine weighs on both alike.
    half = n // 2
    write = base_write = 0.0
    for part in (filings[:half], filings[half:]):
        base_write += _file(before, part, catalogue)
        write += _file(engine, part, catalogue)
    before.dispose()
    t0 = time.perf_counter()
    made = Grader(catalogue, batch=1000).run_until_idle(engine)
    graded = time.perf_counter() - t0
    # Baseline: each event graded through the explained-grade route, before and after by known_at.
    with engine.connect() as conn:
        sample = conn.execute(
            select(record_events.c.recorded_at, outbox.c.record_id, record_events.c.state)
            .join(outbox, outbox.c.event_seq == record_events.c.seq)
            .where(outbox.c.event_key.is_(None))
            .limit(500)
        ).all()
        t0 = time.perf_counter()
        for at, _, state in sample:
            subject = json.loads(state)["subject_id"]
            for code in ("public_credit", "samr_risk"):
                model = catalogue.models[code]
                for known in (at - dt.timedelta(microseconds=1), at):
                    states = states_for_subject(conn, subject, known_at=known, linked=False)
                    grade_states(model, catalogue, subject, states, at, known)
        base = (time.perf_counter() - t0) / max(1, len(sample)) * n
    engine.dispose()
    print(f"# {store}: {n:,} records filed in {write:.2f}s; graded in {graded:.2f}s: {made:,} grade.changed")
    return [
        figure(f"registry write, {n:,} organisation records, {store} (baseline: the same write, outbox schema "
               "before grade events)", round(n / write), "rows/s", baseline=round(n / base_write),
               command=command),
        figure(f"grade.changed feed step, {n:,} record events, {store} (baseline: states read by known_at "
               "before and after, per event and model)", round(n / graded), "events/s", baseline=round(n / base),
               command=command),
    ]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--quick", action="store_true", help="5,000 records")
    ap.add_argument("--postgres", nargs="?", const="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--results", type=Path, default=None, help="append the figure lines to this file")
    args = ap.parse_args()
    n = 5000 if args.quick else args.records
    command = "python benchmarks/bench_grade_events.py" + (" --quick" if args.quick else f" --records {n}")
    if args.postgres:
        command += " --postgres"
    lines: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        lines += run(f"sqlite:///{tmp}/grades.db", n, "SQLite", command, f"sqlite:///{tmp}/before.db")
    if args.postgres:
        tag = uuid.uuid4().hex[:8]
        schemas = (f"bench_grades_{tag}", f"bench_grades_before_{tag}")
        admin = connect(args.postgres)
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            sep = "&" if "?" in args.postgres else "?"
            now_url, before_url = (f"{args.postgres}{sep}options=-csearch_path%3D{s}" for s in schemas)
            lines += run(now_url, n, "PostgreSQL", command, before_url)
        finally:
            with admin.begin() as conn:
                for schema in schemas:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    for line in lines:
        print(json.dumps(line, ensure_ascii=False))
    if args.results:
        with args.results.open("a", encoding="utf-8") as f:
            for line in lines:
                f.write(json.dumps(line, ensure_ascii=False) + "\n")
    print(json.dumps({"figures": lines}, ensure_ascii=False))


if __name__ == "__main__":
    main()
