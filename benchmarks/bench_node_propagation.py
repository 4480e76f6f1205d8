"""Propagation to every check process (issue 20 §6): from a revocation's commit to the moment each of N
processes answers the new decision over HTTP.

Mode ``polling`` (the baseline the issue asks for, and the only mode until check nodes land): N API processes
(``socialcredit serve``, one uvicorn worker each) on the same database, each refreshing its index from the
store every 0.2 s (api/state.py's REFRESH_EVERY). The registry holds --records judgment-defaulter records, one
subject each (air tickets denied); the writer revokes them one at a time at --rate per second, and after each
commit one client thread per process asks that process ``POST /v1/checks`` for the subject every --probe
seconds until it answers allowed. The figure per event is the time from the commit to the last process's
first allowed answer ("every process"), and per process the time to its own.

Mode ``node``: the same writer and probes, with ``socialcredit snapshot create`` taken after the registry is
filed, one ``socialcredit dispatch run`` (SOCIALCREDIT_NATS_URL set) publishing the feed to JetStream, and N
``socialcredit node serve --snapshot F --nats URL`` following it. The dispatcher's stream name is not a setting
(cli/feed.py builds its publisher with the default ``SOCIALCREDIT``), and that name on the machine's shared
NATS belongs to whoever else uses it; so this mode starts a private ``nats-server -js`` on a free port in the
run's tmp dir, whose stream goes with it. Goal (issue 20): p99 at most 1 s to every node with 3 nodes, beside
the polling baseline (``--mode polling --mode node``, the default, runs both).

    .venv/bin/python benchmarks/bench_node_propagation.py                 # 3 processes, 200 revocations
    .venv/bin/python benchmarks/bench_node_propagation.py --quick         # 2 processes, 30 revocations
    ... --processes 3 --events 200 --rate 5 --results benchmarks/results.jsonl

The last line printed is JSON with every figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # factories: valid identifiers

ACTION = "transport.air.ticket"
MODES = ("polling", "node")
NATS_SERVER = "/usr/sbin/nats-server"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def registry(url: str, records: int) -> tuple[str, list[tuple[int, str]]]:
    """File ``records`` defaulter records; returns a check key and (record id, subject) pairs."""
    from factories import person_id, row
    from socialcredit.catalogue import default_catalogue
    from socialcredit.keys import create_key
    from socialcredit.registry import check_row, file_batch
    from socialcredit.store import connect, upgrade

    engine = connect(url)
    upgrade(engine)
    cat = default_catalogue()
    now = dt.datetime.now(dt.UTC)
    subjects = [
        person_id(i, region="110101", birth=f"1971{1 + i // 1000 % 12:02d}01") for i in range(records)
    ]
    rows = [check_row(row(external_id=f"P-{i}", subject_id=s, decided_on="2025-06-01"), cat, now) for i, s in
            enumerate(subjects)]  # fmt: skip
    with engine.begin() as conn:
        outs = file_batch(conn, rows, cat, "bench", now)
        _, token = create_key(conn, "checkpoint", cat, now, actions=["transport"])
    engine.dispose()
    return token, [(o.record_id, s) for o, s in zip(outs, subjects, strict=True)]


def _wait(procs: list[subprocess.Popen[bytes]], url: str, tmp: Path, deadline: float) -> None:
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            stop(procs)
            raise RuntimeError(f"{url} did not answer 200 in time (logs in {tmp})")
        time.sleep(0.2)


def start_processes(
    mode: str, url: str, n: int, tmp: Path
) -> tuple[list[subprocess.Popen[bytes]], list[int]]:
    """N check processes answering /v1/checks on their own ports (each waited for until it answers).

    The list of processes includes, in node mode, the private NATS server and the dispatcher (stopped last)."""
    env = {**os.environ, "SOCIALCREDIT_DATABASE_URL": url}
    env.pop("SOCIALCREDIT_NATS_URL", None)
    cli = str(Path(sys.executable).parent / "socialcredit")
    ports = [_free_port() for _ in range(n)]
    deadline = time.monotonic() + 120
    if mode == "polling":
        procs = [
            subprocess.Popen(
                [cli, "serve", "--host", "127.0.0.1", "--port", str(p), "--log-level", "warning"],
                env=env,
                stderr=(tmp / f"serve-{p}.log").open("wb"),
            )
            for p in ports
        ]
        for p in ports:
            _wait(procs, f"http://127.0.0.1:{p}/healthz", tmp, deadline)
        return procs, ports
    nats_port, monitor = _free_port(), _free_port()
    nats = f"nats://127.0.0.1:{nats_port}"
    env["SOCIALCREDIT_NODE_AUDIT_DIR"] = str(tmp / "node-audit")
    snapshot = tmp / "index.snapshot"
    subprocess.run([cli, "snapshot", "create", str(snapshot)], env=env, check=True, stdout=subprocess.DEVNULL)
    infra = [
        subprocess.Popen(
            [NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(nats_port), "-m", str(monitor), "-sd",
             str(tmp / "jetstream")],
            stderr=(tmp / "nats.log").open("wb"),
        )
    ]  # fmt: skip
    _wait(infra, f"http://127.0.0.1:{monitor}/healthz?js-enabled-only=true", tmp, deadline)
    infra.append(
        subprocess.Popen(
            [cli, "dispatch", "run", "--poll", "0.02"],
            env={**env, "SOCIALCREDIT_NATS_URL": nats},
            stderr=(tmp / "dispatch.log").open("wb"),
        )
    )
    nodes = [
        subprocess.Popen(
            [cli, "node", "serve", "--snapshot", str(snapshot), "--nats", nats, "--port", str(p),
             "--name", f"bench-{p}", "--log-level", "warning"],
            env=env,
            stderr=(tmp / f"node-{p}.log").open("wb"),
        )
        for p in ports
    ]  # fmt: skip
    procs = nodes + infra
    for p in ports:  # ready: in sync with the stream (the dispatcher has published what the snapshot holds)
        _wait(procs, f"http://127.0.0.1:{p}/readyz", tmp, deadline)
    return procs, ports


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()


def probe(port: int, token: str, subject: str, since: float, every: float, limit: float) -> float:
    """Seconds from ``since`` to this process's first answer that ``subject`` is allowed (inf past limit)."""
    headers = {"Authorization": f"Bearer {token}", "X-Purpose": "benchmark"}
    body = {"subject": subject, "action": ACTION}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=5) as client:
        while True:
            r = client.post("/v1/checks", json=body)
            now = time.time()
            if r.status_code != 200:
                raise RuntimeError(f"port {port}: {r.status_code} {r.text[:200]}")
            if r.json()["allowed"]:
                return now - since
            if now - since > limit:
                return float("inf")
            time.sleep(every)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))] if s else float("nan")


def run(mode: str, n_proc: int, events: int, rate: float, every: float) -> dict[str, Any]:
    from socialcredit.registry import revoke
    from socialcredit.store import connect

    tmp = Path(tempfile.mkdtemp(prefix="bench_node_propagation_"))
    url = f"sqlite:///{tmp / 'registry.db'}"
    try:
        token, records = registry(url, events)
        procs, ports = start_processes(mode, url, n_proc, tmp)
        try:
            engine = connect(url, create=False)
            for port in ports:  # every process sees the registry as filed before the clock starts
                assert probe(port, token, records[0][1], time.time(), every, 0.0) == float("inf")
            per_proc: list[list[float]] = [[] for _ in ports]
            every_proc: list[float] = []
            for rid, subject in records:
                got: list[float] = [0.0] * len(ports)
                with engine.begin() as conn:
                    revoke(conn, rid, "bench", "bench", dt.datetime.now(dt.UTC))
                since = time.time()  # the commit has returned

                def one(
                    i: int, port: int, got: list[float] = got, subject: str = subject, since: float = since
                ) -> None:
                    got[i] = probe(port, token, subject, since, every, 10.0)

                threads = [threading.Thread(target=one, args=(i, p)) for i, p in enumerate(ports)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                for i, g in enumerate(got):
                    per_proc[i].append(g)
                every_proc.append(max(got))
                time.sleep(max(0.0, 1 / rate - (time.time() - since)))
            engine.dispose()
        finally:
            stop(procs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ms = [v * 1000 for v in every_proc]
    out = {
        "mode": mode,
        "processes": n_proc,
        "events": events,
        "p50_ms": round(pct(ms, 0.5), 1),
        "p99_ms": round(pct(ms, 0.99), 1),
        "max_ms": round(max(ms), 1),
        "per_process_p99_ms": [round(pct([v * 1000 for v in p], 0.99), 1) for p in per_proc],
    }
    print(
        f"{mode}, {n_proc} processes, {events} revocations: to every process p50 {out['p50_ms']} ms, "
        f"p99 {out['p99_ms']} ms, max {out['max_ms']} ms; p99 per process {out['per_process_p99_ms']}",
        flush=True,
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", action="append", choices=("polling", "node"))
    ap.add_argument("--processes", type=int, default=3)
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--rate", type=float, default=5.0, help="revocations per second")
    ap.add_argument("--probe", type=float, default=0.005, help="seconds between a client's checks")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--results", type=Path, default=None, help="append the figure lines to this file")
    args = ap.parse_args()
    n_proc, events = (2, 30) if args.quick else (args.processes, args.events)
    runs = [run(m, n_proc, events, args.rate, args.probe) for m in (args.mode or list(MODES))]
    if args.results:
        from figures import figure

        shown = " ".join(
            a for a in sys.argv[1:] if not a.startswith("--results") and not a.endswith(".jsonl")
        )
        cmd = f"python benchmarks/bench_node_propagation.py {shown}".strip()
        with args.results.open("a", encoding="utf-8") as fh:
            for r in runs:
                if r["mode"] == "polling":
                    name = (
                        f"revocation to every API process, {r['processes']} processes polling every 0.2 s, p99 "
                        "(baseline: the interval)"
                    )
                    line = figure(name, r["p99_ms"], "ms", baseline=200, better="lower", command=cmd)
                else:
                    name = f"revocation to every check node, {r['processes']} nodes, p99"
                    line = figure(name, r["p99_ms"], "ms", goal=1000, better="lower", command=cmd)
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    print(json.dumps({"runs": runs}))


if __name__ == "__main__":
    main()
