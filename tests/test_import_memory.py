"""What the import keeps in memory: the first line of each key seen (as a dictionary would give it), and the
modules its worker processes load."""

from __future__ import annotations

import json
import sys

import bench_import
from hypothesis import given, settings
from hypothesis import strategies as st

from socialcredit.registry.keylines import KeyLines

# Few distinct hashes so that repeats within a block and across blocks are common; the extremes of uint64 too.
_HASH = st.one_of(st.integers(0, 40), st.sampled_from([2**64 - 1, 2**63, 2**63 - 1]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_HASH, max_size=30), max_size=25))
def test_first_lines_equal_a_dictionary(blocks: list[list[int]]) -> None:
    keys, reference = KeyLines(), {}
    line = 1
    for block in blocks:
        lines = list(range(line, line + 2 * len(block), 2))  # increasing, with gaps (blank or bad lines)
        line += 2 * len(block) + 1
        expected = [reference.setdefault(h, n) for h, n in zip(block, lines, strict=True)]
        assert keys.first_lines(block, lines) == expected
    assert len(keys) == len(reference)


def test_line_numbers_over_four_billion() -> None:
    keys = KeyLines()
    assert keys.first_lines([7, 8], [1, 2]) == [1, 2]
    far = [2**32 + 5, 2**32 + 9]
    assert keys.first_lines([9, 7, 9], [far[0], far[1], far[1] + 1]) == [far[0], 1, far[0]]
    assert keys.first_lines([9, 8], [far[1] + 2, far[1] + 3]) == [far[0], 2]


def test_memory_is_twelve_bytes_per_key() -> None:
    keys = KeyLines()
    for start in range(0, 100_000, 750):
        block = range(start, min(start + 750, 100_000))
        keys.first_lines([h * 2654435761 % 2**64 for h in block], [n + 1 for n in block])
    assert len(keys) == 100_000
    assert keys.nbytes == 12 * 100_000
    assert len(keys._runs) <= 12  # about log2(keys / block) runs, never one per block
    assert max(len(h) for h, _ in keys._runs) <= 1 << 18  # full runs are merged no more


def test_registry_names_load_on_use_and_workers_need_no_sqlalchemy() -> None:
    """Every public name of the registry package resolves; the import's worker module loads without SQLAlchemy
    (about 25 MB less in each worker process)."""
    import subprocess

    from socialcredit import registry

    assert registry.__all__ == sorted(registry._HOME)
    assert all(getattr(registry, name) is not None for name in registry.__all__)
    # Checking rows of every category, working-day notices included, loads no database code either.
    probe = (
        "import sys, json, datetime as dt; from socialcredit.registry import checks; "
        "from socialcredit.catalogue import default_catalogue; "
        "loaded = 'sqlalchemy' in sys.modules; "
        "checks.init_worker(default_catalogue(), dt.datetime.now(dt.UTC), frozenset(), 'postgresql'); "
        "rows = [json.loads(line) for line in sys.stdin]; "
        "block = ''.join(json.dumps(r, ensure_ascii=False) + '\\n' for r in rows).encode(); "
        "out = checks.check_block((1, 0, block)); "
        "print(loaded, 'sqlalchemy' in sys.modules, sorted({r[0] for r in out}), len(out))"
    )
    rows = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in bench_import.generate(200))
    out = subprocess.run(
        [sys.executable, "-c", probe], input=rows, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "False", "['ok']", "200"], out.stderr
