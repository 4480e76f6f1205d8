"""The headline figures of each benchmark, as JSON lines for benchmarks/results.jsonl (BENCHMARKS.md's table).

Each script prints one JSON object last; :func:`rows` picks its headline figures from it, each with its
same-run baseline and goal. run_all.py appends them to the results file; report.py turns the newest line of
each figure into the table. A figure line::

    {"figure": "...", "value": 21349, "unit": "rows/s", "baseline": 4588, "goal": 20000, "better": "higher",
     "command": "python benchmarks/bench_import.py", "date": "2026-11-27"}

``baseline`` (optional) is measured in the same run; ``goal`` (optional) is the issue's target, met when
``value`` is at least it (``better`` "higher") or at most it ("lower").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

__all__ = ["figure", "rows"]

Row = dict[str, Any]


def figure(
    name: str,
    value: float,
    unit: str,
    *,
    baseline: float | None = None,
    goal: float | None = None,
    better: str = "higher",
    command: str,
    date: str | None = None,
) -> Row:
    return {
        "figure": name,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "goal": goal,
        "better": better,
        "command": command,
        "date": date or dt.datetime.now(dt.UTC).date().isoformat(),
    }


def _snapshot(d: dict[str, Any], cmd: str) -> list[Row]:
    out = []
    for r in d["runs"]:
        n = f"{r['records']:,}"
        goal = 5 if r["records"] >= 1_000_000 else None
        out.append(figure(f"snapshot load, {n} active records (baseline: index build from the store)",
                          r["load_s"], "s", baseline=r["build_from_store_s"], goal=goal, better="lower",
                          command=cmd))  # fmt: skip
    return out


def _import(d: dict[str, Any], cmd: str) -> list[Row]:
    out = []
    for store, name in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
        if store in d:
            f = d[store]
            out.append(
                figure(
                    f"import, {name} (baseline: ORM add per row, same rows)",
                    f["import_rows_per_s"],
                    "rows/s",
                    baseline=f["orm_same_rows_rows_per_s"],
                    goal=20_000,
                    command=cmd,
                )
            )
            peak = max(f["peak_rss_mb"], f["peak_rss_all_processes_mb"])
            out.append(
                figure(
                    f"import peak RSS with workers, {name}", peak, "MB", goal=300, better="lower", command=cmd
                )
            )
    return out


def _engine(d: dict[str, Any], cmd: str) -> list[Row]:
    return [
        figure("index build from the store", d["build_s"], "s", goal=10, better="lower", command=cmd),
        figure("memory per active record", d["bytes_per_record"], "B", goal=300, better="lower", command=cmd),
        figure(
            "single check (baseline: one SQL query per check)",
            d["checks_per_s"],
            "checks/s",
            baseline=d["baseline_sql_per_s"],
            goal=200_000,
            command=cmd,
        ),
        figure(
            "check_many, batches decoded from JSON (baseline: per query from dict and set)",
            d["check_many_decoded_per_s"],
            "checks/s",
            baseline=d["baseline_check_many_per_query_decoded_per_s"],
            goal=1_000_000,
            command=cmd,
        ),
    ]


def _demo(d: dict[str, Any], cmd: str) -> list[Row]:
    rows = d["baseline_rows"]
    return [
        figure(
            f"socialcredit demo --subjects {d['subjects']:,}, whole process",
            d["seconds"],
            "s",
            goal=d.get("target_s", 30),
            better="lower",
            command=cmd,
        ),
        figure(
            "demo load, batched (baseline: one transaction a row)",
            round(rows / d["batched_s"]),
            "rows/s",
            baseline=round(rows / d["one_per_tx_s"]),
            command=cmd,
        ),
    ]


def _catalogue(d: dict[str, Any], cmd: str) -> list[Row]:
    return [
        figure(
            "catalogue load + validate + lint (baseline: pure-Python yaml.safe_load)",
            d["load_ms"],
            "ms",
            baseline=d["baseline_yaml_ms"],
            better="lower",
            command=cmd,
        ),
    ]


def _http(d: dict[str, Any], cmd: str) -> list[Row]:
    store = "PostgreSQL" if d.get("database") == "postgresql" else "SQLite"
    real, base = d["real"], d["baseline"]
    return [
        figure(
            f"HTTP single checks, {store} (baseline: one SQL query a request)",
            round(real["single"]["rps"]),
            "req/s",
            baseline=round(base["single"]["rps"]),
            goal=2000,
            command=cmd,
        ),
        figure(
            f"HTTP single checks p99, {store}",
            real["single"]["p99_ms"],
            "ms",
            goal=25,
            better="lower",
            command=cmd,
        ),
        figure(
            f"HTTP batch, {store} (baseline: SQL, no reasons, no audit)",
            round(real["batch"]["checks_per_s"]),
            "checks/s",
            baseline=round(base["batch"]["checks_per_s"]),
            goal=100_000,
            command=cmd,
        ),
    ]


def _propagation(d: dict[str, Any], cmd: str) -> list[Row]:
    base = d["baseline_1s"]["impose"]["p99_ms"]
    return [
        figure(
            "webhook, impose p99 (baseline: polling once a second)",
            d["webhook"]["impose"]["p99_ms"],
            "ms",
            baseline=base,
            goal=1000,
            better="lower",
            command=cmd,
        ),
        figure(
            "feed follower, impose p99 (baseline: polling once a second)",
            d["checker"]["impose"]["p99_ms"],
            "ms",
            baseline=base,
            goal=1000,
            better="lower",
            command=cmd,
        ),
    ]


def _portal(d: dict[str, Any], cmd: str) -> list[Row]:
    return [
        figure(
            "portal public search page (baseline: the same API call)",
            d["portal_search_ms"],
            "ms",
            baseline=d["api_search_ms"],
            better="lower",
            command=cmd,
        ),
        figure(
            "portal check form (baseline: the same API call)",
            d["portal_check_ms"],
            "ms",
            baseline=d["api_check_ms"],
            better="lower",
            command=cmd,
        ),
    ]


def _grading(d: dict[str, Any], cmd: str) -> list[Row]:
    return [
        figure(
            f"grade {d['n_orgs']:,} organisations, vectorised"
            " (baseline: one query per subject, 2,000 timed and scaled)",
            d["bulk_s"],
            "s",
            baseline=d["per_query_baseline_s"],
            goal=30,
            better="lower",
            command=cmd,
        ),
        figure(
            "one explained grade, listed organisation, median",
            d["single_ms"],
            "ms",
            goal=1,
            better="lower",
            command=cmd,
        ),
        *(
            [
                figure(
                    "a batch of 10,000 graded checks, inspection.random (baseline: one grade per query)",
                    d["graded_batch_per_s"],
                    "checks/s",
                    baseline=d["graded_batch_baseline_per_s"],
                    command=cmd,
                ),
                figure(
                    "the same batch, ungraded action, the index alone (baseline: the graded batch)",
                    d["ungraded_batch_per_s"],
                    "checks/s",
                    baseline=d["graded_batch_per_s"],
                    command=cmd,
                ),
            ]
            if "graded_batch_per_s" in d
            else []
        ),
    ]


PICKERS: dict[str, Callable[[dict[str, Any], str], list[Row]]] = {
    "bench_snapshot": _snapshot,
    "bench_import": _import,
    "bench_engine": _engine,
    "bench_demo": _demo,
    "bench_catalogue": _catalogue,
    "bench_http": _http,
    "bench_propagation": _propagation,
    "bench_portal": _portal,
    "bench_grading": _grading,
}


def rows(script: str, last_json: dict[str, Any], command: str) -> list[Row]:
    """The figure lines of ``script`` (its stem, e.g. "bench_import") from the JSON object it printed last."""
    pick = PICKERS.get(script)
    return pick(last_json, command) if pick else []
