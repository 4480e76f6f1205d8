"""The first line of every record key an import has seen, in 12 bytes per key, to find a key repeated in a file.

A dictionary of Python integers costs about 110 bytes per key (110 MB at a million rows). Here each key's 8-byte
hash and its first line (4 bytes) sit in sorted NumPy arrays ("runs"); a block of keys is looked up in every run
with one binary search per run, and runs of similar size are merged as they fill, like the carries of a binary
counter, up to 2^18 keys a run: a merge then never needs more than ~12 MB at once (one merge of two million-key
runs would need ~50 MB), and a million keys are about 5 full runs and 4 growing ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["KeyLines"]

_FULL = 1 << 18  # keys in a run that is merged no more
_Hashes = npt.NDArray[np.uint64]
_Lines = npt.NDArray[np.integer[Any]]  # uint32, or int64 past 4 billion lines


class KeyLines:
    """Key hash -> the first line it was seen on."""

    def __init__(self) -> None:
        self._runs: list[tuple[_Hashes, _Lines]] = []  # each sorted by hash; a hash is in one run at most

    def __len__(self) -> int:
        return sum(len(h) for h, _ in self._runs)

    @property
    def nbytes(self) -> int:
        return sum(h.nbytes + n.nbytes for h, n in self._runs)

    def first_lines(self, hashes: Sequence[int], lines: Sequence[int]) -> list[int]:
        """For each (hash, line), in file order, the first line its hash was seen on (its own line if new);
        records them all. Lines must increase within a call and from one call to the next."""
        if not hashes:
            return []
        h = np.fromiter(hashes, dtype=np.uint64, count=len(hashes))
        n = np.fromiter(lines, dtype=np.int64, count=len(lines))
        order = np.argsort(h, kind="stable")  # stable: within equal hashes, file order
        hs, ns = h[order], n[order]
        new_group = np.empty(len(hs), dtype=bool)
        new_group[0] = True
        np.not_equal(hs[1:], hs[:-1], out=new_group[1:])
        uniq, first = hs[new_group], ns[new_group]  # each hash of the block and its first line in the block
        known = np.zeros(len(uniq), dtype=bool)
        for run_h, run_n in self._runs:
            at = np.searchsorted(run_h, uniq)
            inside = at < len(run_h)
            hit = np.zeros(len(uniq), dtype=bool)
            hit[inside] = run_h[at[inside]] == uniq[inside]
            first[hit] = run_n[at[hit]]
            known |= hit
        if not known.all():
            lines_new = first[~known]
            # Line numbers in 4 bytes while they fit (a file of 4 billion lines keeps 8): 12 bytes per key.
            self._add(uniq[~known], lines_new.astype(np.uint32) if n[-1] < 1 << 32 else lines_new)
        out = np.empty(len(h), dtype=np.int64)
        out[order] = first[np.cumsum(new_group) - 1]
        return out.tolist()

    def _add(self, hashes: _Hashes, lines: _Lines) -> None:
        runs = self._runs
        runs.append((hashes, lines))
        while len(runs) > 1 and len(runs[-2][0]) <= min(2 * len(runs[-1][0]), _FULL - len(runs[-1][0])):
            (ah, an), (bh, bn) = runs.pop(), runs.pop()
            merged = np.concatenate((bh, ah))
            order = np.argsort(merged, kind="stable")
            runs.append((merged[order], np.concatenate((bn, an))[order]))
