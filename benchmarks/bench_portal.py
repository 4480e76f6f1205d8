"""Portal page latency, against the same-run baseline of the JSON API call each page makes.

The portal reaches personal data only by calling the API in process (docs/decisions/0600); this measures what
that and the HTML rendering cost. uvicorn serves the app on a local port (one worker) over a fresh SQLite
registry of N listed people; one client sends requests one after another. Figures: median milliseconds for
public search (portal page vs ``GET /v1/public/search``), a check (portal form post vs ``POST /v1/checks``)
and the catalogue page (no API call).

    .venv/bin/python benchmarks/bench_portal.py [--quick]     # --quick: fewer records and requests
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import uvicorn
from stdnum.cn import ric

from socialcredit.api import create_app
from socialcredit.catalogue import default_catalogue
from socialcredit.keys import create_key
from socialcredit.registry import check_row, file_batch
from socialcredit.settings import Settings
from socialcredit.store import Database, connect, upgrade


def _person(n: int) -> str:
    body = f"110105{19600101 + (n // 1000) * 10000}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def _median_ms(*fns: Callable[[], httpx.Response], repeat: int) -> list[float]:
    """Median latency of each of ``fns``, called in turn (interleaved, so load drift hits all alike)."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, acc in zip(fns, times, strict=True):
            start = time.perf_counter()
            resp = fn()
            acc.append(time.perf_counter() - start)
            assert resp.status_code == 200, resp.text[:300]
    return [statistics.median(t) * 1000 for t in times]


def main() -> None:
    quick = "--quick" in sys.argv
    people, repeat = (500, 50) if quick else (5000, 300)
    catalogue = default_catalogue()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = connect(url)
        upgrade(engine)
        engine.dispose()
        db = Database.open(url)
        now = dt.datetime.now(dt.UTC)
        surnames = "王李张刘陈杨赵黄周吴"
        rows = [
            {
                "external_id": f"b-{n}",
                "authority": "court",
                "category": "court.judgment_defaulter",
                "subject_id": _person(n),
                "subject_name": f"{surnames[n % 10]}{'伟芳娜敏静'[n // 10 % 5]}{n}",
                "decision_no": f"(2024)京0105民初{n}号",
                "decided_on": "2025-06-01",
            }
            for n in range(people)
        ]
        with db.engine.begin() as conn:
            file_batch(conn, [check_row(r, catalogue, now) for r in rows], catalogue, "bench", now)
            token = create_key(conn, "checkpoint", catalogue, now, actions=["transport"])[1]
        app = create_app(db, catalogue, Settings(database_url=url, public_rate_limit=10**6))
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        subject = _person(7)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            check = {"subject": subject, "action": "transport.air.ticket"}
            auth = {"Authorization": f"Bearer {token}", "X-Purpose": "benchmark"}
            form = {"token": token, "purpose": "benchmark", **check}
            portal_search, api_search = _median_ms(
                lambda: http.get("/portal/search", params={"q": "王伟"}),
                lambda: http.get("/v1/public/search", params={"q": "王伟"}),
                repeat=repeat,
            )
            portal_check, api_check = _median_ms(
                lambda: http.post("/portal/check", data=form),
                lambda: http.post("/v1/checks", json=check, headers=auth),
                repeat=repeat,
            )
            (portal_catalogue,) = _median_ms(
                lambda: http.get("/portal/catalogue"), repeat=max(repeat // 5, 10)
            )
            figures = {
                "portal_search_ms": portal_search,
                "api_search_ms": api_search,
                "portal_check_ms": portal_check,
                "api_check_ms": api_check,
                "portal_catalogue_ms": portal_catalogue,
            }
        server.should_exit = True
        thread.join(timeout=10)
        db.engine.dispose()
    print(f"portal benchmark: {people} listed people, {repeat} sequential requests each, SQLite, 1 worker")
    print(f"cpu: {_cpu()}, nproc {os.cpu_count()}")
    f = figures
    print(f"public search page  {f['portal_search_ms']:7.2f} ms   (API JSON {f['api_search_ms']:.2f} ms)")
    print(f"check form post     {f['portal_check_ms']:7.2f} ms   (API JSON {f['api_check_ms']:.2f} ms)")
    print(f"catalogue page      {figures['portal_catalogue_ms']:7.2f} ms")
    print(json.dumps({"benchmark": "portal", "people": people, "repeat": repeat, **figures}))


if __name__ == "__main__":
    main()
