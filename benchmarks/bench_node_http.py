"""A check node over HTTP (issue 20 §6): single and batch checks of ``socialcredit node serve`` (uvicorn, one
worker) beside, in the same run, the minimal FastAPI app of bench_http.py (a pydantic body, a constant answer:
the framework's ceiling) served with the node's own uvicorn settings, and for batches bench_http's one-SQL-query
app; then one node against two nodes loaded at once (aggregate requests/s).

The registry is bench_http's (``build``: --records defaulter records, half of the subjects checked listed), the
nodes are bench_node_propagation's (``start_processes("node", ...)``: a snapshot, a private JetStream server, a
dispatcher, N nodes waited for until ready), the load generator is bench_http's ``load`` (wrk when installed,
else its Python asyncio/httpx generator, which then shares the 2 cores with the servers: on this machine the
figures are a floor, said with them). Goals (issue 20): single checks at least 70 % of the minimal app's
requests/s with p99 at most 25 ms; batch checks at least 70 % of the minimal app's checks/s and above the SQL
baseline; two nodes at least 1.6x one where two free cores allow it.

    .venv/bin/python benchmarks/bench_node_http.py                     # 20,000 records, 8 s a run
    .venv/bin/python benchmarks/bench_node_http.py --quick             # 3,000 records, 3 s a run
    ... --records N --seconds S --connections C --results benchmarks/results.jsonl

The last line printed is JSON with every figure.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_http import ACTION, BATCH, build, free_port, load  # noqa: E402
from bench_http import start as start_bench_http  # noqa: E402
from bench_http import stop as stop_one  # noqa: E402
from bench_node_propagation import start_processes, stop  # noqa: E402


def serve_minimal(port: int) -> None:
    """bench_http's minimal app on the uvicorn settings ``socialcredit node serve`` uses (cli/node.py)."""
    import uvicorn
    from bench_http import minimal_app

    from socialcredit.api.http_limits import protocol_path
    from socialcredit.settings import get_settings

    settings = get_settings()
    uvicorn.run(
        minimal_app(),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        http=protocol_path(),
        proxy_headers=False,
        forwarded_allow_ips="",
        timeout_keep_alive=settings.serve_keep_alive_timeout,
        limit_concurrency=settings.serve_limit_concurrency,
        h11_max_incomplete_event_size=settings.serve_max_header_bytes,
    )


def start_minimal(port: int) -> subprocess.Popen[bytes]:
    import time

    import httpx

    proc = subprocess.Popen([sys.executable, __file__, "--serve-minimal", str(port)])
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("minimal app did not start")


def _load_one(job: tuple[int, str, list[str], bool, int, float, str]) -> dict[str, float]:
    return load(*job)


def runs(
    token: str,
    subjects: list[str],
    ports: list[int],
    batch: bool,
    conns: int,
    seconds: float,
    batch_path: str,
) -> list[dict[str, float]]:
    """The same load on every port at once, one generator process each (so one node's figure is comparable)."""
    jobs = [(p, token, subjects, batch, conns, seconds, batch_path) for p in ports]
    with multiprocessing.get_context("spawn").Pool(len(ports)) as pool:
        return pool.map(_load_one, jobs)


def answer_bytes(port: int, token: str, subject: str) -> int:
    """Size of one single check's answer (the minimal app's constant should be about the node's)."""
    import httpx

    headers = {"Authorization": f"Bearer {token}", "X-Purpose": "benchmark"}
    r = httpx.post(f"http://127.0.0.1:{port}/v1/checks", json={"subject": subject, "action": ACTION},
                   headers=headers, timeout=10)  # fmt: skip
    r.raise_for_status()
    return len(r.content)


def _line(name: str, r: dict[str, float], checks: bool = False) -> None:
    rate = f"{r['rps'] * BATCH:9.0f} checks/s" if checks else f"{r['rps']:7.0f} req/s"
    print(
        f"{name:34s} {rate}  p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  errors {r['errors']:.0f}",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3,000 records, 3 s a run")
    ap.add_argument("--records", type=int, default=None)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--results", type=Path, default=None, help="append the figure lines to this file")
    ap.add_argument("--serve-minimal", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_minimal is not None:
        serve_minimal(args.serve_minimal)
        return
    records = args.records or (3_000 if args.quick else 20_000)
    seconds = args.seconds or (3.0 if args.quick else 8.0)
    conns = args.connections
    tmp = Path(tempfile.mkdtemp(prefix="bench_node_http_"))
    url = f"sqlite:///{tmp / 'registry.db'}"
    os.environ["SOCIALCREDIT_DATABASE_URL"] = url
    try:
        print(f"building {records} records ...", flush=True)
        token, subjects = build(url, records)
        batch_path = str(tmp / "batch.json")
        queries = (subjects * (BATCH // len(subjects) + 1))[:BATCH]
        Path(batch_path).write_text(
            json.dumps({"queries": [{"subject": s, "action": ACTION} for s in queries]})
        )
        out: dict[str, Any] = {
            "records": records,
            "seconds": seconds,
            "connections": conns,
            "generator": "wrk" if shutil.which("wrk") else "python-httpx",
            "cpus": os.cpu_count(),
            "loadavg_before": os.getloadavg()[0],
        }

        port = free_port()
        proc = start_minimal(port)
        try:
            out["minimal_answer_bytes"] = answer_bytes(port, token, subjects[0])
            load(port, token, subjects, False, 8, 1, batch_path)  # warm-up
            out["minimal_single"] = load(port, token, subjects, False, conns, seconds, batch_path)
            out["minimal_batch"] = load(port, token, subjects, True, 4, seconds, batch_path)
        finally:
            stop_one(proc)
        _line("minimal app, single", out["minimal_single"])
        _line("minimal app, batch", out["minimal_batch"], True)

        port = free_port()
        proc = start_bench_http("baseline", url, port)
        try:
            load(port, token, subjects, True, 4, 1, batch_path)
            out["sql_batch"] = load(port, token, subjects, True, 4, seconds, batch_path)
        finally:
            stop_one(proc)
        _line("one SQL query per batch", out["sql_batch"], True)

        procs, ports = start_processes("node", url, 2, tmp)
        try:
            out["node_answer_bytes"] = [answer_bytes(ports[0], token, s) for s in subjects[:4]]
            for p in ports:
                load(p, token, subjects, False, 8, 1, batch_path)
            out["node_single"] = load(ports[0], token, subjects, False, conns, seconds, batch_path)
            out["node_batch"] = load(ports[0], token, subjects, True, 4, seconds, batch_path)
            _line("node, single", out["node_single"])
            _line("node, batch", out["node_batch"], True)
            one = runs(token, subjects, ports[:1], False, conns, seconds, batch_path)
            two = runs(token, subjects, ports, False, conns, seconds, batch_path)
        finally:
            stop(procs)
        out["one_node_single_rps"] = one[0]["rps"]
        out["two_nodes_single_rps"] = [r["rps"] for r in two]
        out["loadavg_after"] = os.getloadavg()[0]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    agg = sum(out["two_nodes_single_rps"])
    out["two_over_one"] = round(agg / out["one_node_single_rps"], 2)
    ms, mb = out["minimal_single"], out["minimal_batch"]
    ns, nb, sb = out["node_single"], out["node_batch"], out["sql_batch"]
    out["single_ratio"] = round(ns["rps"] / ms["rps"], 2)
    out["batch_ratio"] = round(nb["rps"] / mb["rps"], 2)
    print(
        f"one node {out['one_node_single_rps']:.0f} req/s (generator in its own process), two nodes at once "
        f"{agg:.0f} ({' + '.join(f'{r:.0f}' for r in out['two_nodes_single_rps'])}): {out['two_over_one']}x; "
        f"load average {out['loadavg_before']:.1f} before, {out['loadavg_after']:.1f} after",
        flush=True,
    )
    out["goals"] = {
        "single>=0.7_minimal": out["single_ratio"] >= 0.7,
        "single_p99<=25ms": ns["p99_ms"] <= 25,
        "batch>=0.7_minimal": out["batch_ratio"] >= 0.7,
        "batch>sql": nb["rps"] > sb["rps"],
        "two_nodes>=1.6x": out["two_over_one"] >= 1.6,
    }
    if args.results:
        from figures import figure

        shown = " ".join(
            a for a in sys.argv[1:] if not a.startswith("--results") and not a.endswith(".jsonl")
        )
        cmd = f"python benchmarks/bench_node_http.py {shown}".strip()
        lines = [
            figure("node single checks over HTTP, 1 worker (baseline: minimal FastAPI app, same settings)",
                   round(ns["rps"]), "req/s", baseline=round(ms["rps"]), goal=round(0.7 * ms["rps"]), command=cmd),
            figure("node single checks over HTTP, p99 (baseline: minimal FastAPI app)", round(ns["p99_ms"], 1),
                   "ms", baseline=round(ms["p99_ms"], 1), goal=25, better="lower", command=cmd),
            figure("node batch checks over HTTP (baseline: minimal FastAPI app, same settings)",
                   round(nb["rps"] * BATCH), "checks/s", baseline=round(mb["rps"] * BATCH),
                   goal=round(0.7 * mb["rps"] * BATCH), command=cmd),
            figure("node batch checks over HTTP (baseline: one SQL query per batch)", round(nb["rps"] * BATCH),
                   "checks/s", baseline=round(sb["rps"] * BATCH), command=cmd),
            figure("two nodes' single checks at once, aggregate (baseline: one node; 2 loaded cores)", round(agg),
                   "req/s", baseline=round(out["one_node_single_rps"]),
                   goal=round(1.6 * out["one_node_single_rps"]), command=cmd),
        ]  # fmt: skip
        with args.results.open("a", encoding="utf-8") as fh:
            for line in lines:
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
