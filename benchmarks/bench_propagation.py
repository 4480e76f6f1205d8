"""Propagation benchmark: from a committed change to (a) a webhook receiver and (b) a second check process.

N events (default 1,000), alternating: a new filing (a judgment defaulter: air tickets now denied, *impose*)
and a repair approval (a defaulter record repaired: air tickets allowed again, *lift*), paced at --rate/s.
Latency is measured from the writer's commit (wall clock, one machine) to:

* **webhook**: arrival at a signed-webhook receiver on 127.0.0.1, delivered by ``socialcredit dispatch run``
  running as its own process (poll interval 10 ms when idle);
* **checker**: a second process running ``engine.Checker.refresh()`` in a 10 ms poll loop that observes the
  changed decision (``check(subject, "transport.air.ticket").allowed`` flips).

Same-run baseline: a third process following the registry the naive way, refreshing once a second. The
figures are p50 and p99 per path, split into impose and lift. Goal: p99 <= 1 s on both paths, lift as fast
as impose.

    .venv/bin/python benchmarks/bench_propagation.py            # 1,000 events at 50/s
    .venv/bin/python benchmarks/bench_propagation.py --quick    # 200 events

The last line printed is JSON with every figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # factories: valid identifiers

ACTION = "transport.air.ticket"


# -- the second process: a Checker following the registry ------------------------------------------------


def child(url: str, plan_path: str, interval: float) -> None:
    from socialcredit.catalogue import default_catalogue
    from socialcredit.engine import Checker
    from socialcredit.store import connect

    plan = json.loads(Path(plan_path).read_text())  # [[subject, allowed_after], ...] in commit order
    checker = Checker(connect(url), default_catalogue())
    print("ready", flush=True)
    seen: list[float] = []
    i = 0
    while i < len(plan):
        if checker.refresh():
            now = time.time()
            while i < len(plan) and checker.check(plan[i][0], ACTION).allowed == plan[i][1]:
                seen.append(now)
                i += 1
        time.sleep(interval)
    print(json.dumps(seen), flush=True)


# -- the receiver -------------------------------------------------------------------------------------------


class Receiver:
    def __init__(self, secret: str = "") -> None:
        self.secret = secret
        self.arrived: dict[tuple[int, str], float] = {}
        self.bad = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                t = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                from socialcredit.feed import SignatureError, verify_signature

                try:
                    verify_signature(
                        outer.secret, self.headers.get("X-Socialcredit-Signature"), body, time.time()
                    )
                    ev = json.loads(body)
                    with outer.lock:
                        outer.arrived.setdefault((int(ev["record_id"]), ev["type"]), t)
                    code = 200
                except SignatureError:
                    outer.bad += 1
                    code = 401
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {
        "n": len(ms),
        "p50_ms": round(pct(ms, 0.5), 1),
        "p99_ms": round(pct(ms, 0.99), 1),
        "max_ms": round(max(ms), 1) if ms else float("nan"),
        "mean_ms": round(statistics.fmean(ms), 1) if ms else float("nan"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="200 events")
    ap.add_argument("--events", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=50.0, help="events per second")
    ap.add_argument("--child", nargs=3, metavar=("URL", "PLAN", "INTERVAL"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], float(args.child[2]))
        return
    n = 200 if args.quick else args.events
    half = n // 2
    os.environ["SOCIALCREDIT_WEBHOOK_ALLOW_PRIVATE"] = "true"  # the receiver is on loopback (feed.targets)

    from factories import person_id, row
    from socialcredit.catalogue import default_catalogue
    from socialcredit.feed import create_subscription
    from socialcredit.process import decide_repair, request_repair
    from socialcredit.registry import check_row, file_batch
    from socialcredit.store import connect, upgrade

    tmp = Path(tempfile.mkdtemp(prefix="bench_propagation_"))
    url = f"sqlite:///{tmp / 'registry.db'}"
    engine = connect(url)
    upgrade(engine)
    cat = default_catalogue()
    now = dt.datetime.now(dt.UTC)

    def filing(i: int, subject: str) -> Any:
        return check_row(row(external_id=f"B-{i}", subject_id=subject, decided_on="2025-06-01"), cat, now)

    # Subjects to lift: a defaulter record each, with a pending repair request (court records: min period 0).
    lift_subjects = [
        person_id(i, region="110101", birth=f"1970{1 + i // 1000 % 12:02d}01") for i in range(half)
    ]
    impose_subjects = [
        person_id(i, region="310101", birth=f"1975{1 + i // 1000 % 12:02d}01") for i in range(half)
    ]
    requests: list[tuple[int, int]] = []
    with engine.begin() as conn:
        outs = file_batch(conn, [filing(i, s) for i, s in enumerate(lift_subjects)], cat, "bench", now)
        for o in outs:
            req = request_repair(conn, cat, o.record_id, "performed", "commitment", "bench", now)
            requests.append((o.record_id, int(req["id"])))
    receiver = Receiver()
    with engine.begin() as conn:
        sub = create_subscription(conn, "bench", receiver.url, now)
    receiver.secret = sub["secret"]

    # The plan, in commit order: even ops impose on a new subject, odd ops lift an existing one.
    plan: list[tuple[str, bool]] = []
    for k in range(half):
        plan.append((impose_subjects[k], False))
        plan.append((lift_subjects[k], True))
    plan_path = tmp / "plan.json"
    plan_path.write_text(json.dumps(plan))

    env = {**os.environ, "SOCIALCREDIT_DATABASE_URL": url}
    env.pop("SOCIALCREDIT_NATS_URL", None)
    cli = str(Path(sys.executable).parent / "socialcredit")
    dispatcher = subprocess.Popen(
        [cli, "dispatch", "run", "--poll", "0.01", "--no-expire"], env=env, stderr=subprocess.DEVNULL
    )
    children = {
        name: subprocess.Popen(
            [sys.executable, __file__, "--child", url, str(plan_path), str(interval)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name, interval in (("checker", 0.01), ("baseline_1s", 1.0))
    }
    for p in children.values():
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    time.sleep(1.0)  # the dispatcher's imports

    commits: list[float] = []
    keys: list[tuple[int, str]] = []
    gap = 1.0 / args.rate
    started = time.monotonic()
    for k in range(half):
        for op in (0, 1):
            target = started + len(commits) * gap
            time.sleep(max(0.0, target - time.monotonic()))
            if op == 0:
                with engine.begin() as conn:
                    (o,) = file_batch(conn, [filing(half + k, impose_subjects[k])], cat, "bench", now)
                key = (o.record_id, "filed")
            else:
                rid, req_id = requests[k]
                with engine.begin() as conn:
                    decide_repair(conn, req_id, True, "bench", "bench", dt.datetime.now(dt.UTC))
                key = (rid, "repaired")
            commits.append(time.time())
            keys.append(key)
    wall = time.monotonic() - started

    deadline = time.monotonic() + 30
    while len([k for k in keys if k in receiver.arrived]) < len(keys) and time.monotonic() < deadline:
        time.sleep(0.05)
    seen: dict[str, list[float]] = {}
    for name, p in children.items():
        try:
            out, _ = p.communicate(timeout=30)
            seen[name] = json.loads(out.strip().splitlines()[-1])
        except subprocess.TimeoutExpired:
            p.kill()
            seen[name] = []
    dispatcher.terminate()
    dispatcher.wait(10)

    def split(lat: list[float | None]) -> dict[str, Any]:
        imp = [v for i, v in enumerate(lat) if v is not None and i % 2 == 0]
        lif = [v for i, v in enumerate(lat) if v is not None and i % 2 == 1]
        return {"impose": summary(imp), "lift": summary(lif), "missing": sum(v is None for v in lat)}

    hook = [
        receiver.arrived[k] - c if k in receiver.arrived else None for k, c in zip(keys, commits, strict=True)
    ]
    figures: dict[str, Any] = {"events": len(keys), "rate_per_s": args.rate, "write_wall_s": round(wall, 2)}
    figures["webhook"] = split(hook)  # type: ignore[arg-type]
    for name, times in seen.items():
        lat = [(times[i] - c) if i < len(times) else None for i, c in enumerate(commits)]
        figures[name] = split(lat)  # type: ignore[arg-type]
    figures["cpu"] = f"{os.cpu_count()} cores"
    for name in ("webhook", "checker", "baseline_1s"):
        f = figures[name]
        print(
            f"{name:12s} impose p50 {f['impose']['p50_ms']:8.1f} ms  p99 {f['impose']['p99_ms']:8.1f} ms | "
            f"lift p50 {f['lift']['p50_ms']:8.1f} ms  p99 {f['lift']['p99_ms']:8.1f} ms | "
            f"missing {f['missing']}"
        )
    shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
