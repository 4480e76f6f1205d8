"""Screening benchmark: 1,000,000 rows by identifier against 1,000,000 subjects and 200,000 active records.

The registry is bench_engine's (SQLite, the real schema; three in four records list a person, the rest an
organisation, most with a legal representative that the court category's measures reach). The input is a CSV of
N rows (default 1,000,000), each a subject drawn uniformly from the registry's subjects plus a reference column,
screened with ``--action transport.air.ticket``. Each run is a child process, so its peak RSS is its own:

* the CLI end to end (``socialcredit screen IN --out OUT --action A``: catalogue, index build from the store,
  listings at the instant, screening, output, audit entry): wall time and peak RSS;
* the screening alone (``screen_file`` with an index already built, as a long-lived process has it);
* same-run baseline: one ``Checker.check`` call per row (read the row, check, write the row with the decision),
  on a sample of rows, extrapolated to N; and one ``evaluate`` from the store per row (the ``check`` command's
  path, without its process start), on a smaller sample, extrapolated.

Goal: at most 10 s and 1 GB peak for 1,000,000 rows. One JSON line per figure:
{"figure", "value", "baseline", "goal", "unit", "command"}.

    .venv/bin/python benchmarks/bench_screen.py            # 1,000,000 rows, subjects; 200,000 records
    .venv/bin/python benchmarks/bench_screen.py --quick    # 100,000 rows and subjects, 20,000 records
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ACTION = "transport.air.ticket"
HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"


def _child(db: str, src: str, out: str, sample: int, store_sample: int) -> None:
    """In a fresh process: build the index, time screen_file, then the per-row baselines; print JSON."""
    from socialcredit.catalogue import default_catalogue
    from socialcredit.engine import Checker, evaluate
    from socialcredit.screening.run import screen_file
    from socialcredit.store import connect

    catalogue = default_catalogue()
    engine = connect(f"sqlite:///{db}")
    t0 = time.perf_counter()
    checker = Checker(engine, catalogue, allowlist=frozenset())
    build = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    summary = screen_file(engine, catalogue, Path(src), Path(out), action=ACTION, checker=checker)
    screen, screen_cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0, c0 = time.perf_counter(), time.process_time()
    screen_file(engine, catalogue, Path(src), Path(out), checker=checker)  # listings only, no decisions
    plain, plain_cpu = time.perf_counter() - t0, time.process_time() - c0

    # Baseline: one check per row, the row read and written with its decision, as a loop over rows does it.
    t0, c0 = time.perf_counter(), time.process_time()
    with open(src, encoding="utf-8", newline="") as fin, open(out + ".base", "w", newline="") as fout:
        reader, writer = csv.reader(fin), csv.writer(fout)
        header = next(reader)
        at = header.index("subject_id")
        done = 0
        for row in reader:
            d = checker.check(row[at], ACTION)
            writer.writerow(
                [*row, "hit" if d.reasons else "clear", json.dumps(d.to_dict(), ensure_ascii=False)]
            )
            done += 1
            if done >= sample:
                break
    per_check, per_check_cpu = (time.perf_counter() - t0) / done, (time.process_time() - c0) / done
    with open(src, encoding="utf-8", newline="") as fin:
        rows = list(zip(range(store_sample + 1), csv.reader(fin), strict=False))[1:]
    t0 = time.perf_counter()
    for _, row in rows:
        evaluate(engine, catalogue, [(row[at], ACTION)])
    per_store = (time.perf_counter() - t0) / len(rows)
    print(
        json.dumps(
            {
                "build_s": build,
                "screen_s": screen,
                "screen_cpu_s": screen_cpu,
                "plain_s": plain,
                "plain_cpu_s": plain_cpu,
                "per_check_cpu_s": per_check_cpu,
                "peak_rss": peak,
                "rows": summary.rows,
                "counts": summary.counts,
                "per_check_s": per_check,
                "per_store_s": per_store,
            }
        )
    )


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """Wall time, CPU time (user and system: on a shared machine the wall time also counts waiting), peak RSS
    (bytes) and standard output of a child process."""
    t0 = time.perf_counter()
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    before, cpu0 = ru.ru_maxrss, ru.ru_utime + ru.ru_stime
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"failed: {' '.join(cmd)}")
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak, cpu = ru.ru_maxrss, ru.ru_utime + ru.ru_stime - cpu0
    if peak <= before:  # ru_maxrss of children is the largest so far: only a new maximum is this child's
        peak = -1
    return wall, cpu, peak * 1024 if peak > 0 else -1, proc.stdout


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100,000 rows and subjects, 20,000 records")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--subjects", type=int, default=1_000_000)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--child", nargs=5, metavar=("DB", "IN", "OUT", "SAMPLE", "STORE_SAMPLE"), help=argparse.SUPPRESS
    )
    args = ap.parse_args(argv)
    if args.child:
        db, src, out, sample, store_sample = args.child
        _child(db, src, out, int(sample), int(store_sample))
        return 0
    if args.quick:
        args.rows, args.subjects, args.records = 100_000, 100_000, 20_000
    from bench_engine import generate

    rng = random.Random(args.seed)
    command = "python benchmarks/bench_screen.py" + (" --quick" if args.quick else "")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        ids, gen_s = generate(db, args.subjects, args.records, rng)
        src = Path(tmp) / "in.csv"
        with src.open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["ref", "subject_id"])
            w.writerows([f"R{i}", ids[rng.randrange(len(ids))]] for i in range(args.rows))
        print(
            f"registry: {args.subjects:,} subjects, {args.records:,} records ({gen_s:.1f} s); "
            f"input {args.rows:,} rows, {src.stat().st_size / 1e6:.0f} MB",
            flush=True,
        )
        env = {**os.environ, "SOCIALCREDIT_DATABASE_URL": f"sqlite:///{db}", "PYTHONPATH": str(SRC)}
        out = Path(tmp) / "out.csv"
        cli = [
            str(Path(sys.executable).parent / "socialcredit"),
            "screen",
            str(src),
            "--out",
            str(out),
            "--action",
            ACTION,
        ]
        cli_wall, cli_cpu, cli_peak, cli_out = _run([*cli, "--quiet", "--json"], env)
        summary = json.loads(cli_out.strip().splitlines()[-1])
        print(
            f"CLI: {cli_wall:.2f} s ({cli_cpu:.2f} s CPU), peak RSS {cli_peak / 1e6:.0f} MB; {summary}",
            flush=True,
        )
        sample, store_sample = min(args.rows, 100_000), min(args.rows, 200)
        _, _, _, child_out = _run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--child",
                str(db),
                str(src),
                str(out),
                str(sample),
                str(store_sample),
            ],
            env,
        )
        c = json.loads(child_out.strip().splitlines()[-1])
        base = c["per_check_s"] * args.rows
        store = c["per_store_s"] * args.rows
        print(
            f"index build {c['build_s']:.2f} s; screen_file {c['screen_s']:.2f} s ({c['screen_cpu_s']:.2f} s CPU) "
            f"({c['rows'] / c['screen_s']:,.0f} rows/s), peak RSS {c['peak_rss'] / 1e6:.0f} MB; "
            f"one check per row: {c['per_check_s'] * 1e6:.1f} us/row -> {base:.1f} s; "
            f"one evaluate from the store per row: {c['per_store_s'] * 1e3:.2f} ms/row -> {store:.0f} s",
            flush=True,
        )
        figures = [
            (
                "screen CLI end to end, 1e6 rows by id (incl. index build)",
                cli_wall,
                base + c["build_s"],
                10,
                "s",
            ),
            ("screen CLI end to end, CPU time (user + system)", cli_cpu, None, 10, "s"),
            ("screen CLI peak RSS", cli_peak / 1e6, None, 1000, "MB"),
            ("screen_file with the index built", c["screen_s"], base, 10, "s"),
            (
                "screen_file with the index built, CPU time",
                c["screen_cpu_s"],
                c["per_check_cpu_s"] * args.rows,
                10,
                "s",
            ),
            ("screen_file without --action (listings only)", c["plain_s"], base, 10, "s"),
            (
                "screen_file without --action, CPU time",
                c["plain_cpu_s"],
                c["per_check_cpu_s"] * args.rows,
                10,
                "s",
            ),
            ("screen_file rows/s", c["rows"] / c["screen_s"], args.rows / base, None, "rows/s"),
            ("index build from the store (part of the CLI run)", c["build_s"], None, None, "s"),
            ("baseline: one evaluate() from the store per row, extrapolated", store, None, None, "s"),
        ]
        for name, value, baseline, goal, unit in figures:
            print(
                json.dumps(
                    {
                        "figure": name,
                        "value": round(value, 2),
                        "baseline": None if baseline is None else round(baseline, 2),
                        "goal": goal,
                        "unit": unit,
                        "command": command,
                    }
                )
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
