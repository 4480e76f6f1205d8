"""Catalogue load: parse, validate and lint the shipped national catalogue (done once per process start).

Figure: milliseconds per full ``load_catalogue()`` (YAML with the duplicate-key loader on libyaml, pydantic
models, every lint). Same-run baselines: plain ``yaml.safe_load`` of the same files (PyYAML's pure-Python
loader, which the loader used before) and plain libyaml ``CSafeLoader`` parsing without validation or
lints (so the difference is the price of the checks). Also: the same load of a catalogue 10 times larger
(every memorandum copied under new codes), to show the lints scale linearly.

    .venv/bin/python benchmarks/bench_catalogue.py [--quick]     # --quick: fewer repetitions
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from socialcredit.catalogue import default_dir, load_catalogue


def _best_ms(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def _plain(root: Path, loader: type[yaml.SafeLoader] = yaml.SafeLoader) -> None:
    for path in sorted(root.rglob("*.yaml")):
        yaml.load(path.read_text(encoding="utf-8"), Loader=loader)


def _scaled(root: Path, tmp: Path, factor: int) -> Path:
    out = tmp / f"x{factor}"
    shutil.copytree(root, out)
    for path in sorted((root / "memoranda").glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        code = yaml.safe_load(text)["code"]
        for i in range(1, factor):
            copy = text.replace(f"code: {code}\n", f"code: {code}_copy{i}\n", 1)
            (out / "memoranda" / f"{code}_copy{i}.yaml").write_text(copy, encoding="utf-8")
    return out


def main(argv: list[str]) -> int:
    repeat = 5 if "--quick" in argv else 20
    root = default_dir()
    cat = load_catalogue(root)
    measures = sum(len(m.measures) for m in cat.memoranda.values())
    load_ms = _best_ms(lambda: load_catalogue(root), repeat)
    plain_ms = _best_ms(lambda: _plain(root), repeat)
    c_ms = _best_ms(lambda: _plain(root, getattr(yaml, "CSafeLoader", yaml.SafeLoader)), repeat)
    with tempfile.TemporaryDirectory() as tmp:
        big = _scaled(root, Path(tmp), 10)
        big_measures = sum(len(m.measures) for m in load_catalogue(big).memoranda.values())
        big_ms = _best_ms(lambda: load_catalogue(big), max(3, repeat // 4))
    print(f"cpu: {platform.processor() or platform.machine()}, nproc {os.cpu_count()}")
    print(
        f"default catalogue ({len(cat.categories)} categories, {len(cat.memoranda)} memoranda, "
        f"{measures} measures):"
    )
    print(f"  load_catalogue (validate + lint): {load_ms:8.1f} ms (best of {repeat})")
    print(f"  baseline yaml.safe_load only:     {plain_ms:8.1f} ms")
    print(f"  baseline libyaml parse only:      {c_ms:8.1f} ms")
    print(f"10x memoranda ({big_measures} measures): load_catalogue {big_ms:8.1f} ms")
    print(
        json.dumps(
            {
                "bench": "catalogue",
                "load_ms": round(load_ms, 2),
                "baseline_yaml_ms": round(plain_ms, 2),
                "baseline_libyaml_ms": round(c_ms, 2),
                "load_10x_ms": round(big_ms, 2),
                "measures": measures,
                "measures_10x": big_measures,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
