"""Scale benchmark (issue 20 §6): a check node's memory, snapshot size, load and build time at growing sizes,
and the growth factor between sizes, for docs/scale.md's sizing.

Per size, on bench_engine's SQLite registry (five subjects per active record): the index built from the store
(the same-run baseline of a load: what a node would do without a snapshot), written to a snapshot, then loaded
in a fresh process. Memory is what that process grows by while it loads (resident set, read from /proc before
and after, with the catalogue and every module already loaded, and the allocators' free memory given back),
against the issue's budget of 400 bytes per active record plus 160 per known subject; the subject table's own
arrays are given beside it.

    .venv/bin/python benchmarks/bench_scale.py                                  # 10^5 and 10^6
    .venv/bin/python benchmarks/bench_scale.py --records 200000 --records 1000000 --records 5000000
    .venv/bin/python benchmarks/bench_scale.py --quick                          # 20,000 and 100,000
    ... --results benchmarks/results.jsonl                                      # append the figure lines
    ... --cache DIR                          # keep the generated registries there and reuse them (seeded)
    ... --keep DIR                           # keep each size's snapshot there (index-N.snap)
    .venv/bin/python benchmarks/bench_scale.py --load-only DIR/index-1000000.snap --repeat 5
                                             # time only loads of an existing snapshot, each in a fresh process

Each size runs in its own processes (generate, build + write, load), so one size's heap does not weigh on the
next. Goals: load of 10^6 active records at most 5 s; build at most 5.5x from 200k to 10^6 (linear); memory
within the budget. The last line printed is JSON with every figure.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

PER_RECORD, PER_SUBJECT = 400, 160  # issue 20's memory budget, bytes
SUBJECTS_PER_RECORD = 5  # bench_engine's registry


def _rss() -> int:
    """Resident set, bytes (Linux), once the allocators have given back what is free: what a load leaves
    behind is the index, not its read buffers and temporaries."""
    import ctypes
    import gc

    import pyarrow as pa

    gc.collect()
    pa.default_memory_pool().release_unused()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


def _child_generate(db: str, records: int) -> dict[str, Any]:
    from bench_engine import generate

    t0 = time.perf_counter()
    generate(Path(db), records * SUBJECTS_PER_RECORD, records, random.Random(7))
    return {"generate_s": round(time.perf_counter() - t0, 1)}


def _child_build(db: str, snap: str) -> dict[str, Any]:
    from socialcredit.catalogue import default_catalogue
    from socialcredit.engine import Checker
    from socialcredit.node import write_snapshot
    from socialcredit.store import connect

    catalogue = default_catalogue()
    engine = connect(f"sqlite:///{db}", create=False)
    before = _rss()
    t0, c0 = time.perf_counter(), time.process_time()
    checker = Checker(engine, catalogue, allowlist=frozenset())
    build_s, build_cpu = time.perf_counter() - t0, time.process_time() - c0
    built_rss = _rss() - before
    t0 = time.perf_counter()
    header = write_snapshot(checker.index, checker.last_seq, Path(snap))
    write_s = time.perf_counter() - t0
    return {
        "build_s": round(build_s, 2),
        "build_cpu_s": round(build_cpu, 2),
        "write_s": round(write_s, 2),
        "built_rss": built_rss,
        "entries": header.counts["entries"],
        "known": header.counts["known"],
    }


def _child_load(snap: str) -> dict[str, Any]:
    from socialcredit.catalogue import default_catalogue
    from socialcredit.engine.rules import compile_rules
    from socialcredit.node import load_snapshot

    rules = compile_rules(default_catalogue())
    before = _rss()
    t0, c0 = time.perf_counter(), time.process_time()
    loaded = load_snapshot(snap, rules)
    load_s, load_cpu = time.perf_counter() - t0, time.process_time() - c0
    grown = _rss() - before
    assert loaded.index.table is not None
    subjects, values = loaded.index.table.nbytes()
    return {
        "load_s": round(load_s, 2),
        "load_cpu_s": round(load_cpu, 2),
        "node_rss": grown,
        "table_bytes": subjects + values,
        "loadavg": _loadavg(),
    }


def _loadavg() -> str:
    """The machine's load (other processes share its cores): beside every wall time."""
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


def _in_child(*args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True
    )
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def one(records: int, tmpdir: Path | None, cache: Path | None, keep: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(dir=tmpdir) as tmp:
        db, snap = str(Path(tmp) / "bench.db"), str(Path(tmp) / "index.snap")
        run: dict[str, Any] = {"records": records}
        if cache is not None:  # the generator is seeded: a registry of this size made before is this one
            db = str(cache / f"bench-{records}.db")
        if keep is not None:  # for --load-only later
            snap = str(keep / f"index-{records}.snap")
        if not Path(db).exists():
            run |= _in_child("generate", db, str(records))
        run |= _in_child("build", db, snap)
        run["snapshot_mb"] = round(Path(snap).stat().st_size / 1e6, 1)
        run |= _in_child("load", snap)
    budget = PER_RECORD * records + PER_SUBJECT * run["known"]
    run["budget_mb"] = round(budget / 1e6, 1)
    run["node_mb"] = round(run["node_rss"] / 1e6, 1)
    run["bytes_per_record"] = round(run["node_rss"] / records)
    run["budget_per_record"] = round(budget / records)
    print(
        f"{records:,} active records, {run['known']:,} known subjects: build {run['build_s']} s (baseline), "
        f"load {run['load_s']} s ({run['load_cpu_s']} CPU s, load average {run['loadavg']}), "
        f"snapshot {run['snapshot_mb']} MB; node memory {run['node_mb']} MB = "
        f"{run['bytes_per_record']} B per active record (budget {run['budget_per_record']}: "
        f"{PER_RECORD} + {SUBJECTS_PER_RECORD} x {PER_SUBJECT}); subject table "
        f"{run['table_bytes'] / 1e6:.0f} MB of it",
        flush=True,
    )
    return run


def growth(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each figure's factor from one size to the next, beside the data's."""
    out = []
    for a, b in itertools.pairwise(runs):
        g = {"from": a["records"], "to": b["records"], "data": round(b["records"] / a["records"], 2)}
        for key in ("build_s", "build_cpu_s", "load_s", "load_cpu_s", "node_rss", "snapshot_mb"):
            g[key] = round(b[key] / a[key], 2) if a[key] else None
        out.append(g)
        print(
            f"{a['records']:,} -> {b['records']:,} ({g['data']}x the data): build {g['build_s']}x "
            f"({g['build_cpu_s']}x in CPU s), load {g['load_s']}x ({g['load_cpu_s']}x in CPU s), "
            f"memory {g['node_rss']}x, snapshot {g['snapshot_mb']}x",
            flush=True,
        )
    return out


def figures(runs: list[dict[str, Any]], grown: list[dict[str, Any]], command: str) -> list[dict[str, Any]]:
    from figures import figure

    rows = []
    for r in runs:
        n = f"{r['records']:,}"
        rows.append(
            figure(f"node memory per active record, {n} active records, 5 subjects each (budget: 400 + 5 x 160 B)",
                   r["bytes_per_record"], "B", goal=r["budget_per_record"], better="lower", command=command)
        )  # fmt: skip
        rows.append(
            figure(f"snapshot load, {n} active records, fresh process (baseline: index build from the store)",
                   r["load_s"], "s", baseline=r["build_s"], goal=5 if r["records"] == 1_000_000 else None,
                   better="lower", command=command)
        )  # fmt: skip
        rows.append(
            figure(f"snapshot load process CPU time, {n} active records (baseline: the build's CPU time)",
                   r["load_cpu_s"], "s", baseline=r["build_cpu_s"], goal=5 if r["records"] == 1_000_000 else None,
                   better="lower", command=command)
        )  # fmt: skip
        rows.append(
            figure(f"snapshot size, {n} active records (baseline: the node's memory for the same index)",
                   r["snapshot_mb"], "MB", baseline=r["node_mb"], better="lower", command=command)
        )  # fmt: skip
    for g in grown:
        span = f"{g['from']:,} to {g['to']:,} active records"
        goal = 5.5 if (g["from"], g["to"]) == (200_000, 1_000_000) else None
        rows.append(
            figure(f"index build growth, {span} (baseline: the data's growth)", g["build_s"], "x",
                   baseline=g["data"], goal=goal, better="lower", command=command)
        )  # fmt: skip
        rows.append(
            figure(f"index build growth in process CPU time, {span} (baseline: the data's growth)",
                   g["build_cpu_s"], "x", baseline=g["data"], goal=goal, better="lower", command=command)
        )  # fmt: skip
        rows.append(
            figure(f"snapshot load growth, {span} (baseline: the data's growth)", g["load_s"], "x",
                   baseline=g["data"], better="lower", command=command)
        )  # fmt: skip
    return rows


def _load_only_figure(snap: Path, loads: list[dict[str, Any]]) -> dict[str, Any]:
    """The median wall time of the loads, beside their median process CPU time (what the machine's load moves
    least), with the load averages seen."""
    import statistics

    from figures import figure

    from socialcredit.node import read_header

    counts = read_header(snap).counts
    row = figure(
        f"snapshot load, {counts['entries']:,} entries and {counts['known']:,} known subjects, median of "
        f"{len(loads)} fresh processes, wall (baseline: their median process CPU time)",
        statistics.median(r["load_s"] for r in loads),
        "s",
        baseline=statistics.median(r["load_cpu_s"] for r in loads),
        # The goal is for 10^6 active records, 5 known subjects each.
        goal=5 if counts["known"] == 5_000_000 else None,
        better="lower",
        command=f"python benchmarks/bench_scale.py --load-only SNAPSHOT --repeat {len(loads)}",
    )
    row["loadavg"] = [r["loadavg"] for r in loads]  # beside the figure, not in the table
    return row


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        kind, *rest = sys.argv[2:]
        got = {
            "generate": lambda: _child_generate(rest[0], int(rest[1])),
            "build": lambda: _child_build(rest[0], rest[1]),
            "load": lambda: _child_load(rest[0]),
        }[kind]()
        print(json.dumps(got))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, action="append")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--results", type=Path, default=None, help="append the figure lines to this file")
    parser.add_argument("--tmp", type=Path, default=None, help="where the registries go (GBs at 10^6)")
    parser.add_argument(
        "--cache", type=Path, default=None, help="keep and reuse registries here (bench-N.db)"
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep each size's snapshot here (index-N.snap)"
    )
    parser.add_argument("--load-only", type=Path, default=None, help="only time loads of this snapshot")
    parser.add_argument("--repeat", type=int, default=3, help="loads with --load-only, each a fresh process")
    args = parser.parse_args()
    if args.load_only:
        loads = [_in_child("load", str(args.load_only)) for _ in range(args.repeat)]
        for i, r in enumerate(loads):
            print(
                f"load {i + 1}: {r['load_s']} s wall, {r['load_cpu_s']} CPU s, node memory "
                f"{r['node_rss'] / 1e6:.0f} MB, load average {r['loadavg']}",
                flush=True,
            )
        if args.results:
            with args.results.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(_load_only_figure(args.load_only, loads), ensure_ascii=False) + "\n")
        print(json.dumps({"snapshot": str(args.load_only), "loads": loads}))
        return
    sizes = args.records or ([20_000, 100_000] if args.quick else [100_000, 1_000_000])
    runs = [one(n, args.tmp, args.cache, args.keep) for n in sizes]
    grown = growth(runs)
    shown = " ".join(f"--records {n}" for n in sizes) if args.records else ("--quick" if args.quick else "")
    command = f"python benchmarks/bench_scale.py {shown}".strip()
    rows = figures(runs, grown, command)
    if args.results:
        with args.results.open("a", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    print(json.dumps({"runs": runs, "growth": grown}))


if __name__ == "__main__":
    main()
