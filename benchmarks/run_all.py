"""Run every benchmark in this folder in turn (``make bench``); each prints its figures and a same-run baseline.

Pass ``--quick`` to run each at its small size (a smoke run), or name benchmarks to run only those. A full run
appends each script's headline figures to benchmarks/results.jsonl (figures.py), from which report.py writes the
table of BENCHMARKS.md; ``--results FILE`` appends them elsewhere (a quick run appends only when given one).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from figures import rows

HERE = Path(__file__).parent


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    names = [a for i, a in enumerate(argv) if not a.startswith("--") and argv[i - 1 : i] != ["--results"]]
    scripts = sorted(HERE.glob("bench_*.py"))
    if names:
        scripts = [s for s in scripts if any(n in s.stem for n in names)]
    results = _results_file(argv, quick)
    failed = 0
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        cmd = [sys.executable, str(script)] + (["--quick"] if quick else [])
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        last = ""
        assert proc.stdout is not None
        for line in proc.stdout:  # echoed as it comes; the last JSON object holds the figures
            print(line, end="", flush=True)
            last = line if line.startswith("{") else last
        failed += proc.wait() != 0
        if results is not None and proc.returncode == 0 and last:
            command = " ".join(["python", f"benchmarks/{script.name}"] + (["--quick"] if quick else []))
            with results.open("a", encoding="utf-8") as fh:
                for row in rows(script.stem, json.loads(last), command):
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return 1 if failed else 0


def _results_file(argv: list[str], quick: bool) -> Path | None:
    if "--results" in argv:
        return Path(argv[argv.index("--results") + 1])
    return None if quick else HERE / "results.jsonl"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
