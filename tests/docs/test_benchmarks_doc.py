"""BENCHMARKS.md opens with the table that benchmarks/report.py makes from the committed results file, so the
figures a reader sees are the recorded ones (issue 16 section 4: it was a 27 KB session log)."""

from __future__ import annotations

import json
from pathlib import Path

import report  # benchmarks/ is on the tests' path
from figures import rows


def test_benchmarks_md_table_is_the_results_file() -> None:
    have = report.BENCHMARKS_MD.read_text(encoding="utf-8")
    assert have == report.render(have), "BENCHMARKS.md's table is out of date: run `make docs`"


def test_every_figure_names_its_command_date_and_a_baseline_or_goal() -> None:
    lines = [json.loads(line) for line in report.RESULTS.read_text(encoding="utf-8").splitlines() if line]
    for f in lines:
        assert f["command"].startswith("python benchmarks/bench_") and f["date"], f
        assert f["baseline"] is not None or f["goal"] is not None, (
            f"{f['figure']}: neither a baseline nor a goal"
        )


def test_newest_line_of_a_figure_wins(tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    old = rows(
        "bench_catalogue", {"load_ms": 9.0, "baseline_yaml_ms": 60.0}, "python benchmarks/bench_catalogue.py"
    )
    new = rows(
        "bench_catalogue", {"load_ms": 7.0, "baseline_yaml_ms": 70.0}, "python benchmarks/bench_catalogue.py"
    )
    results.write_text("".join(json.dumps(r) + "\n" for r in old + new))
    table = report.table(results)
    assert "| 7 ms | 70 ms | 0.1x |" in table and "9 ms" not in table
