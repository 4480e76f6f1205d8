"""HTTP check benchmark: the real server (uvicorn, loopback) under a concurrent load generator.

Figures: requests/s, p50 and p99 latency of ``POST /v1/checks`` (single) and checks/s through
``POST /v1/checks/batch`` (10,000 queries a request), beside a same-run baseline: a tiny FastAPI app on the
same server stack serving the same paths by one SQL query per request (no index, no audit). Every real check
is audited (group commit, see docs/decisions/0303); the serial cost of one audit transaction per check is
reported too. Goals on a 2-core machine: >= 2,000 single checks/s with p99 <= 25 ms; >= 100,000 checks/s
in batches.

    .venv/bin/python benchmarks/bench_http.py            # 20,000 records, 10 s a run
    .venv/bin/python benchmarks/bench_http.py --quick    # 3,000 records, 4 s a run
    .venv/bin/python benchmarks/bench_http.py --postgres # on a scratch schema of the local test database

The load generator is ``wrk`` (C, one thread) when installed (``apt-get install -y wrk``), else a Python
asyncio/httpx generator in its own process. The last line printed is JSON with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import create_engine, text
from stdnum.cn import ric

HERE = Path(__file__).resolve().parent
REGIONS = ("110105", "310104", "440305", "350102")
ACTION = "transport.air.ticket"
BATCH = 10_000
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def person(n: int) -> str:
    year = 1960 + n % 40
    body = f"{REGIONS[n % len(REGIONS)]}{year}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the data -----------------------------------------------------------------------------------------


def build(url: str, records: int) -> tuple[str, list[str]]:
    """File ``records`` defaulter records; return a checkpoint token and subjects to check (half listed)."""
    from socialcredit.catalogue import default_catalogue
    from socialcredit.keys import create_key
    from socialcredit.registry import check_row, file_batch
    from socialcredit.store import Database, upgrade

    db = Database.open(url)
    upgrade(db.engine)
    cat = default_catalogue()
    now = dt.datetime.now(dt.UTC)
    listed = sorted({person(i) for i in range(records)})
    filings = [
        check_row(
            {
                "external_id": f"b{i}",
                "authority": "court",
                "category": "court.judgment_defaulter",
                "subject_id": sid,
                "subject_name": f"测试{i}",
                "decision_no": f"(2025)京执{i}号",
                "decided_on": "2025-06-01",
            },
            cat,
            now,
        )
        for i, sid in enumerate(listed)
    ]
    with db.engine.begin() as conn:
        for i in range(0, len(filings), 5000):
            file_batch(conn, filings[i : i + 5000], cat, "bench", now)
        _, token = create_key(conn, "checkpoint", cat, now, actions=["transport"])
    db.engine.dispose()
    unlisted = [person(records + i) for i in range(len(listed))]
    subjects = listed + [s for s in unlisted if s not in set(listed)]
    random.Random(7).shuffle(subjects)
    return token, subjects


# --- the baseline: same paths, one SQL query per request ----------------------------------------------


def baseline_app() -> Any:
    """POST /v1/checks and /v1/checks/batch, answered by one SQL query per request on the records table."""

    from socialcredit.store import connect

    engine = connect(os.environ["SOCIALCREDIT_DATABASE_URL"])
    app = FastAPI()
    one = text(
        "SELECT subject_id FROM records WHERE subject_id = :s AND status = 'filed' AND applies_from <= :t "
        "AND (effective_until IS NULL OR effective_until > :t)"
    )
    # One query with one parameter for the whole batch (SQLite limits bound variables).
    sqlite = engine.dialect.name == "sqlite"
    subjects_in = "IN (SELECT value FROM json_each(:s))" if sqlite else "= ANY(:s)"
    many = text(
        f"SELECT DISTINCT subject_id FROM records WHERE subject_id {subjects_in} AND status = 'filed' "
        "AND applies_from <= :t AND (effective_until IS NULL OR effective_until > :t)"
    )

    @app.post("/v1/checks")
    def check(body: dict[str, Any]) -> JSONResponse:
        t = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with engine.connect() as conn:
            hit = conn.execute(one, {"s": body["subject"], "t": t}).first()
        return JSONResponse({"subject": body["subject"], "action": body["action"], "allowed": hit is None})

    @app.post("/v1/checks/batch")
    async def batch(request: Request) -> JSONResponse:
        body = await request.json()
        subjects = [q["subject"] for q in body["queries"]]
        t = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with engine.connect() as conn:
            wanted = sorted(set(subjects))
            param = json.dumps(wanted) if sqlite else wanted
            hits = set(conn.execute(many, {"s": param, "t": t}).scalars())
        return JSONResponse(
            {
                "count": len(subjects),
                "decisions": [
                    {"subject": s, "action": q["action"], "allowed": s not in hits}
                    for s, q in zip(subjects, body["queries"], strict=True)
                ],
            }
        )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


# --- the ceiling: the same paths on a minimal app ------------------------------------------------------


class Query(BaseModel):
    subject: str
    action: str


class Batch(BaseModel):
    # Module level: with postponed annotations FastAPI resolves a body model by name in the module's globals.
    queries: list[Query]


def _constant(q: Query) -> dict[str, Any]:
    """A decision of the real answer's keys and about its mean size on bench data (half the subjects listed:
    about 340 bytes against 475 denied and 204 allowed)."""
    return {
        "subject": q.subject,
        "known": True,
        "action": q.action,
        "as_of": "2026-01-01T00:00:00+08:00",
        "allowed": False,
        "effects": ["deny"],
        "reasons": [
            {
                "record_id": 1,
                "category": "court.judgment_defaulter",
                "measure": "transport.air",
                "authority": "court",
                "applies_from": "2025-06-01",
            }
        ],
        "catalogue_version": "2025.1",
        "notes": [],
    }


def minimal_app() -> Any:
    """POST /v1/checks and /v1/checks/batch parsing a similar body with pydantic and answering a constant of the
    same size: what FastAPI and uvicorn alone cost (issue 20's ceiling; no index, no audit, no keys)."""
    app = FastAPI()

    @app.post("/v1/checks")
    def check(body: Query) -> JSONResponse:
        return JSONResponse(_constant(body))

    @app.post("/v1/checks/batch")
    def batch(body: Batch) -> JSONResponse:
        return JSONResponse({"count": len(body.queries), "decisions": [_constant(q) for q in body.queries]})

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


# --- servers and load ---------------------------------------------------------------------------------


def start(kind: str, url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SOCIALCREDIT_DATABASE_URL": url}
    target = "socialcredit.api.app:server_app" if kind == "real" else "bench_http:baseline_app"
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--app-dir",
        str(HERE),
    ]
    proc = subprocess.Popen(cmd, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{kind} server did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


_LUA_SINGLE = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
wrk.headers["X-Purpose"] = "benchmark"
local subjects = {%(subjects)s}
local i = 0
request = function()
  i = i + 1
  local s = subjects[(i %% #subjects) + 1]
  return wrk.format(nil, nil, nil, '{"subject":"' .. s .. '","action":"%(action)s"}')
end
"""
_LUA_BATCH = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
wrk.headers["X-Purpose"] = "benchmark"
local f = io.open("%(path)s", "r")
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  io.write(string.format("NON2XX %%d\\n", summary.errors.status))
end
"""


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    assert m, text
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def wrk(port: int, path: str, lua: str, conns: int, seconds: float) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{conns}",
            f"-d{int(seconds)}s",
            "--latency",
            "-s",
            f.name,
            f"http://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(f.name)
    if os.environ.get("BENCH_DEBUG"):
        print(out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\n\s+50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\n\s+99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "errors": errors}


async def _pyload(
    port: int, path: str, bodies: list[bytes], headers: dict[str, str], conns: int, seconds: float
) -> dict[str, float]:
    lat: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=conns, max_keepalive_connections=conns)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30) as client:

        async def worker(k: int) -> None:
            nonlocal errors
            i = k
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                r = await client.post(path, content=bodies[i % len(bodies)], headers=headers)
                lat.append(time.perf_counter() - t0)
                errors += r.status_code != 200
                i += conns

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(conns)))
        elapsed = time.perf_counter() - t0
    lat.sort()
    return {
        "rps": len(lat) / elapsed,
        "p50_ms": lat[len(lat) // 2] * 1000,
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
        "errors": errors,
    }


def load(
    port: int, token: str, subjects: list[str], batch: bool, conns: int, seconds: float, batch_path: str
) -> dict[str, float]:
    path = "/v1/checks/batch" if batch else "/v1/checks"
    if shutil.which("wrk"):
        if batch:
            lua = _LUA_BATCH % {"token": token, "path": batch_path}
        else:
            lua = _LUA_SINGLE % {
                "token": token,
                "subjects": ",".join(f'"{s}"' for s in subjects[:5000]),
                "action": ACTION,
            }
        return wrk(port, path, lua, conns, seconds)
    headers = {
        "Authorization": f"Bearer {token}",
        "X-Purpose": "benchmark",
        "Content-Type": "application/json",
    }
    if batch:
        bodies = [Path(batch_path).read_bytes()]
    else:
        bodies = [json.dumps({"subject": s, "action": ACTION}).encode() for s in subjects[:5000]]
    return asyncio.run(_pyload(port, path, bodies, headers, conns, seconds))


def audit_serial_cost(url: str, n: int) -> float:
    """Microseconds per check if each audit entry had its own transaction (what group commit saves)."""
    from socialcredit import audit
    from socialcredit.store import connect

    engine = connect(url)
    t0 = time.perf_counter()
    for i in range(n):
        with engine.begin() as conn:
            audit.append(
                conn,
                [audit.AuditEntry("bench", "checkpoint", "checks.single", person(i), "allowed", "benchmark")],
                dt.datetime.now(dt.UTC),
            )
    engine.dispose()
    return (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3,000 records, 4 s a run")
    ap.add_argument("--records", type=int, default=None)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument(
        "--postgres",
        metavar="URL",
        nargs="?",
        const=PG_URL,
        default=None,
        help=f"run on a fresh schema of this PostgreSQL database (default {PG_URL}), dropped afterwards",
    )
    args = ap.parse_args()
    records = args.records or (3_000 if args.quick else 20_000)
    seconds = args.seconds or (4.0 if args.quick else 10.0)
    work = Path(tempfile.mkdtemp(prefix="bench-http-"))
    url = f"sqlite:///{work / 'bench.db'}"
    schema = None
    if args.postgres:
        schema = f"bench_http_{os.getpid()}"
        with create_engine(args.postgres).begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        url = f"{args.postgres}{'&' if '?' in args.postgres else '?'}options=-csearch_path%3D{schema}"
    print(f"building {records} records in {url.split('?')[0]} ...", flush=True)
    token, subjects = build(url, records)
    batch_path = work / "batch.json"
    batch_path.write_text(
        json.dumps(
            {
                "queries": [
                    {"subject": s, "action": ACTION}
                    for s in (subjects * (BATCH // len(subjects) + 1))[:BATCH]
                ]
            }
        )
    )
    results: dict[str, Any] = {
        "records": records,
        "seconds": seconds,
        "connections": args.connections,
        "generator": "wrk" if shutil.which("wrk") else "python-httpx",
        "cpus": os.cpu_count(),
        "database": "postgresql" if schema else "sqlite",
    }
    for kind in ("real", "baseline"):
        port = free_port()
        proc = start(kind, url, port)
        try:
            load(port, token, subjects, False, 8, 1, str(batch_path))  # warm-up
            single = load(port, token, subjects, False, args.connections, seconds, str(batch_path))
            batch = load(port, token, subjects, True, 4, seconds, str(batch_path))
        finally:
            stop(proc)
        batch["checks_per_s"] = batch["rps"] * BATCH
        results[kind] = {"single": single, "batch": batch}
        print(
            f"{kind:9s} single: {single['rps']:8.0f} req/s  p50 {single['p50_ms']:6.2f} ms  "
            f"p99 {single['p99_ms']:6.2f} ms  errors {single['errors']:.0f}",
            flush=True,
        )
        print(
            f"{kind:9s} batch:  {batch['checks_per_s']:8.0f} checks/s ({batch['rps']:.1f} req/s of {BATCH})  "
            f"p50 {batch['p50_ms']:6.1f} ms  p99 {batch['p99_ms']:6.1f} ms  errors {batch['errors']:.0f}",
            flush=True,
        )
    results["audit_serial_us_per_check"] = audit_serial_cost(url, 300 if args.quick else 1000)
    print(
        f"audit: one transaction per entry would cost {results['audit_serial_us_per_check']:.0f} us a check "
        "(group commit shares it)"
    )
    real = results["real"]
    results["goals"] = {
        "single_rps>=2000": real["single"]["rps"] >= 2000,
        "single_p99<=25ms": real["single"]["p99_ms"] <= 25,
        "batch_checks_per_s>=100000": real["batch"]["checks_per_s"] >= 100_000,
    }
    shutil.rmtree(work, ignore_errors=True)
    if schema and args.postgres:
        with create_engine(args.postgres).begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
