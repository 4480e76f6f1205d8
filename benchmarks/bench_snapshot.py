"""Snapshot benchmark (issue 20 §2): writing the index to a snapshot, loading it, and the file's size, beside
the same-run baseline of rebuilding the index from the store (what a node would do without a snapshot).

The registry is bench_engine's (SQLite, full record states, five subjects per active record). Figures per size:
build from the store (the baseline), snapshot create (build + write), write alone, load (read, verify, and the
index with its subject table), file size and bytes per active record; a Checker on the loaded index must answer
a sample exactly as the one built from the store.

    .venv/bin/python benchmarks/bench_snapshot.py                    # 100,000 active records (the default)
    .venv/bin/python benchmarks/bench_snapshot.py --records 100000 --records 1000000
    .venv/bin/python benchmarks/bench_snapshot.py --quick            # 20,000

The last line printed is JSON with every figure. Goal (issue 20): 10^6 active records load in at most 5 s.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_engine import ACTIONS, NOW, generate

from socialcredit.catalogue import default_catalogue
from socialcredit.engine import Checker
from socialcredit.node import load_snapshot, write_snapshot
from socialcredit.store import connect


def one(records: int) -> dict[str, float]:
    catalogue = default_catalogue()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        ids, _ = generate(db, records * 5, records, random.Random(7))
        engine = connect(f"sqlite:///{db}", create=False)
        t0 = time.perf_counter()
        store = Checker(engine, catalogue, allowlist=frozenset())
        build_s = time.perf_counter() - t0
        out = Path(tmp) / "index.snap"
        t0 = time.perf_counter()
        write_snapshot(store.index, store.last_seq, out)
        write_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        loaded = load_snapshot(out, catalogue)
        load_s = time.perf_counter() - t0
        snap = Checker(engine, catalogue, allowlist=frozenset(), prebuilt=(loaded.index, loaded.seq))
        sample = [(ids[i], ACTIONS[i % 3]) for i in random.Random(1).sample(range(len(ids)), 5000)]
        assert snap.check_many(sample, as_of=NOW).to_list() == store.check_many(sample, as_of=NOW).to_list()
        size = out.stat().st_size
        engine.dispose()
    print(
        f"{records:,} active records, {records * 5:,} subjects: build from the store {build_s:.2f} s (baseline); "
        f"write {write_s:.2f} s; load {load_s:.2f} s ({build_s / load_s:.1f}x faster); "
        f"file {size / 1e6:.1f} MB ({size / records:.0f} B per record)",
        flush=True,
    )
    return {
        "records": records,
        "build_from_store_s": round(build_s, 3),
        "create_s": round(build_s + write_s, 3),
        "write_s": round(write_s, 3),
        "load_s": round(load_s, 3),
        "file_mb": round(size / 1e6, 2),
        "bytes_per_record": round(size / records, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, action="append")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = args.records or ([20_000] if args.quick else [100_000])
    runs = [one(n) for n in sizes]
    print(json.dumps({"runs": runs}))


if __name__ == "__main__":
    main()
