"""Demo generation: ``socialcredit demo --subjects 100000`` into a fresh SQLite file, end to end (target: at
most 30 s on 2 cores).

Figures: the whole command (process start, catalogue, schema, generation, checks, filing), and its parts in
process: generation alone (no store) and ``check_row`` over every row. Same-run baseline: the first 5,000 rows
of the same data filed one row per transaction (what a naive loader would do), against the same rows filed
in per-day batches by ``demo.load``, each into its own fresh database.

    .venv/bin/python benchmarks/bench_demo.py [--quick]     # --quick: 10,000 subjects, 1,000-row baseline
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from socialcredit.catalogue import default_catalogue
from socialcredit.demo import DemoData, check_rows, generate, load
from socialcredit.demo.load import ACTOR
from socialcredit.registry import file_batch
from socialcredit.store import connect, upgrade

HERE = Path(__file__).resolve().parent
CLI = Path(sys.executable).with_name("socialcredit")


def _fresh(tmp: Path, name: str) -> str:
    url = f"sqlite:///{tmp / name}"
    upgrade(connect(url))
    return url


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    subjects, sample = (10_000, 1_000) if quick else (100_000, 5_000)
    cat = default_catalogue()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        env = dict(os.environ, SOCIALCREDIT_DATABASE_URL=f"sqlite:///{tmp / 'cli.db'}")
        started = time.perf_counter()
        subprocess.run(
            [str(CLI), "demo", "--subjects", str(subjects), "--seed", "7", "--no-progress"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        cli_s = time.perf_counter() - started

        started = time.perf_counter()
        data = generate(subjects, 7, cat)
        gen_s = time.perf_counter() - started
        started = time.perf_counter()
        filings = check_rows(data, cat)
        check_s = time.perf_counter() - started

        # Baseline on a sample: the first rows (no lifecycle changes), one transaction each versus batched.
        part = DemoData(data.seed, data.anchor, data.subjects, data.filings[:sample], [])
        engine = connect(_fresh(tmp, "one.db"))
        started = time.perf_counter()
        for filed, filing in zip(part.filings, filings[:sample], strict=True):
            with engine.begin() as conn:
                file_batch(conn, [filing], cat, ACTOR, filed.at)
        one_s = time.perf_counter() - started
        engine = connect(_fresh(tmp, "batched.db"))
        started = time.perf_counter()
        load(engine, part, cat)
        batched_s = time.perf_counter() - started

    records, changes = len(data.filings), len(data.changes)
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, Python "
        f"{platform.python_version()}"
    )
    print(
        f"socialcredit demo --subjects {subjects:,}: {cli_s:.1f} s end to end "
        f"({subjects / cli_s:,.0f} subjects/s; {records:,} records, {changes:,} lifecycle changes)"
    )
    print(f"  of which generation alone: {gen_s:.2f} s; check_row on every row: {check_s:.2f} s")
    print(
        f"baseline, {sample:,} rows one transaction each: {one_s:.2f} s ({sample / one_s:,.0f} rows/s); "
        f"batched by demo.load: {batched_s:.2f} s ({sample / batched_s:,.0f} rows/s)"
    )
    print(
        json.dumps(
            {
                "benchmark": "demo",
                "subjects": subjects,
                "records": records,
                "changes": changes,
                "seconds": round(cli_s, 2),
                "subjects_per_s": round(subjects / cli_s),
                "generate_s": round(gen_s, 2),
                "check_s": round(check_s, 2),
                "baseline_rows": sample,
                "one_per_tx_s": round(one_s, 2),
                "batched_s": round(batched_s, 2),
                "target_s": 30,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
