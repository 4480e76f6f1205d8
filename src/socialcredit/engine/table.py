"""The index's subjects as arrays, so that a batch of checks is answered by whole-array steps, not per query.

At a million subjects every lookup in a Python dict or set is a chain of cache misses (its slot, its entry, the
stored key string to compare), and a Python loop takes them one at a time. Array gathers over a whole batch
let the processor overlap those misses. :class:`SubjectTable` holds, for ``Checker.check_many``:

* **rows**, one per known subject (row 0 is a placeholder that matches nothing): the identifier as ASCII bytes,
  its length, and the id of its current index value;
* **a hash table** of buckets of four slots (32 bytes: one cache line holds a bucket), each slot one integer:
  the high 32 bits of the subject's ``hash()`` over its row number. A lookup takes the subject's bucket (then
  the next, while a full bucket does not hold it) and *verifies* the row's bytes against the query, so a hash
  collision can never answer for another subject;
* **values**, append-only: value id 0 is "no entries"; every other id holds an index value (an ``Entry`` or a
  tuple of them), and, for a single entry without suspensions, its start, its end and its rule's number, so
  the common verdict is one gather in a precomputed (rule, action) -> verdict matrix. A value id is never
  reused for another value: a batch that captured ids can build its decisions later, exactly as of its instant.

A subject the table does not find (or cannot verify) is not an answer: the caller looks it up in the index's
dict and set, which stay the reference (``Checker.check`` uses them). The table only makes the common case
fast; it never decides anything the dict and set would decide otherwise. Mutations and batch lookups hold
:attr:`SubjectTable.lock`. See docs/decisions/0307-subject-table.md.
"""

from __future__ import annotations

import math
import secrets
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from .rules import Rules

__all__ = ["GENERAL", "MAX_KEY", "SubjectTable", "key_width"]

_WAYS = 4  # slots per bucket
MAX_KEY = 255  # longer identifiers (none are valid) stay out of the table: the dict and set answer them
_NO_EFFECTS: tuple[str, ...] = ()
GENERAL = -1  # verdict code: the answer needs decide() (several entries, a suspension, withheld benefits)

Ints = npt.NDArray[np.int64]
_HIGH = -(1 << 32)  # the high 32 bits of a hash, as a mask
_ROW = (1 << 32) - 1
_SPAN = np.uint64(1 << 32)
_MUL1, _MUL2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9)
_S31, _S32 = np.uint64(31), np.uint64(32)


def _pow2(n: int) -> int:
    return 1 << max(4, (n - 1).bit_length())


def key_width(n: int) -> int:
    """Key width in bytes: whole 8-byte words, so that keys hash and compare as integers."""
    return max(8, -(-n // 8) * 8)


def _tabled(s: str) -> bool:
    # No NUL: a fixed-width bytes array pads with NULs, and a key must be told from a padded one.
    return len(s) <= MAX_KEY and s.isascii() and "\x00" not in s


class SubjectTable:
    """Known subjects and their index values as arrays; see the module docstring."""

    def __init__(self, rules: Rules, entries: dict[str, Any], known: set[str]) -> None:
        """The table of ``known`` (and every subject of ``entries``), with their values from ``entries``."""
        self.lock = threading.Lock()
        self._compile(rules)
        with_values = list(entries)
        subjects = with_values + list(known - entries.keys())
        joined = "\x01".join(subjects)  # one test for all (canonical identifiers pass), else one by one
        longest = max(map(len, subjects), default=1)
        if not (joined.isascii() and "\x00" not in joined and longest <= MAX_KEY):
            with_values = [s for s in with_values if _tabled(s)]
            subjects = with_values + [s for s in known - entries.keys() if _tabled(s)]
            longest = max(map(len, subjects), default=1)
        del joined
        n = len(subjects) + 1
        self._seed = np.uint64(secrets.randbits(64))  # the bucket of a subject is not guessable from outside
        self._keys = np.zeros(n, f"S{key_width(longest)}")
        self._keys[1:] = subjects  # row 0, the placeholder, is never a candidate
        self._vid = np.zeros(n, np.int64)
        self._rows = n
        # Values: id 0 is "no entries"; its start, end and rule make it allowed, with no effects, at any instant.
        self._vals: list[Any] = [None]
        self._vstart = np.full(1, -math.inf)
        self._vuntil = np.full(1, math.inf)
        self._vrule = np.full(1, self._clean, np.int16)
        self._nvals = 1
        self._vid[1 : 1 + len(with_values)] = self._add_values([entries[s] for s in with_values])
        self._buckets = _pow2((n * 2) // _WAYS + 1)  # load at most one half
        self._slots = np.zeros((self._buckets, _WAYS), np.int64)
        self._place(np.arange(1, n, dtype=np.int64), self._hash(self._keys[1:]))

    @classmethod
    def from_rows(
        cls,
        rules: Rules,
        keys: npt.NDArray[np.bytes_],
        values: list[Any],
        single: tuple[
            npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.integer[Any]], list[Any]
        ],
        placed: tuple[int, Ints] | None = None,
    ) -> SubjectTable:
        """The table of ``keys`` (row 1 on; row 0 the placeholder, of the keys' width, a multiple of 8), whose
        first ``len(values)`` rows hold ``values``, as a snapshot stores them (node/snapshot.py).

        ``single`` is each value's start, end and rule when it is one entry without suspensions, the rule as a
        code into the list of rules that ends the tuple, and code -1 where it is not: what :meth:`_add_values`
        would derive one value at a time, given as arrays (no Python loop over the values).
        ``placed`` is the seed and the hash table of :meth:`placement` for these keys, which spares hashing
        and placing every key again (a second for five million).
        """
        self = cls.__new__(cls)
        self.lock = threading.Lock()
        self._compile(rules)
        n = len(keys)
        self._seed = np.uint64(secrets.randbits(64) if placed is None else placed[0])
        self._keys = keys
        self._vid = np.zeros(n, np.int64)
        self._rows = n
        k = len(values)
        self._vals = [None, *values]
        self._nvals = k + 1
        general = self._general
        # The table's number of each coded rule, and GENERAL at the end for code -1.
        number = np.array([self._rule_no[id(r)] for r in single[3]] + [general], np.int16)
        codes = single[2]
        if len(codes) != k or (k and (codes.min() < -1 or codes.max() >= len(single[3]))):
            raise ValueError("subject table: a rule code outside the rules given")
        self._vrule = np.r_[np.int16(self._clean), number[codes]]
        is_general = self._vrule == general
        self._vstart = np.where(is_general, -math.inf, np.r_[-math.inf, single[0]])
        self._vuntil = np.where(is_general, math.inf, np.r_[math.inf, single[1]])
        self._vid[1 : 1 + k] = np.arange(1, k + 1, dtype=np.int64)
        self._buckets = _pow2((n * 2) // _WAYS + 1)
        if placed is not None and placed[1].shape == (self._buckets, _WAYS):
            self._slots = placed[1]
        else:
            self._slots = np.zeros((self._buckets, _WAYS), np.int64)
            self._place(np.arange(1, n, dtype=np.int64), self._hash(self._keys[1:]))
        return self

    @property
    def keys(self) -> npt.NDArray[np.bytes_]:
        """The rows' identifiers, NUL-padded to :attr:`key_width` (row 0 the placeholder)."""
        return self._keys[: self._rows]

    @property
    def key_width(self) -> int:
        return int(self._keys.dtype.itemsize)

    def placement(self) -> tuple[int, Ints]:
        """The seed and the hash table (buckets x slots), for :meth:`from_rows` on the same keys."""
        return int(self._seed), self._slots

    # -- the catalogue as a verdict matrix --------------------------------------------------------------------

    def _compile(self, rules: Rules) -> None:
        """Verdict codes: 0 allowed with no effects, k > 0 outcome k, GENERAL needs decide()."""
        self.actions = {a: i for i, a in enumerate(rules.actions)}
        self.codes = np.array(list(rules.actions.values()), object)  # by action number: the interned code
        rule_list = list(rules.by_key.values())
        self._rule_no: dict[int, int] = {id(r): i for i, r in enumerate(rule_list)}
        self._clean, self._general = len(rule_list), len(rule_list) + 1
        if self._general >= 2**15:  # rule numbers are stored as int16
            raise ValueError(f"catalogue: {len(rule_list)} rules; the subject table holds at most 32,766")
        outcomes: dict[tuple[tuple[str, ...], bool], int] = {(_NO_EFFECTS, True): 0}
        matrix = np.zeros((len(rule_list) + 2, len(self.actions)), np.int32)
        matrix[self._general, :] = GENERAL
        for i, rule in enumerate(rule_list):
            for a, j in self.actions.items():
                sole = rule.sole.get(a)
                if sole is not None:
                    matrix[i, j] = outcomes.setdefault(sole, len(outcomes))
                elif a in rule.by_action:  # a black-list rule with an expedite measure: withheld by itself
                    matrix[i, j] = GENERAL
        self._matrix = matrix
        by_code = sorted(outcomes.items(), key=lambda kv: kv[1])
        self.effects = np.empty(len(by_code) + 1, object)  # index -1 (GENERAL) is filled in by the caller
        self.effects[: len(by_code)] = [e for (e, _), _ in by_code]
        self.effects[-1] = _NO_EFFECTS
        self.allowed = np.array([a for (_, a), _ in by_code] + [True])

    def _add_values(self, values: list[Any]) -> Ints:
        """Append values; returns their new ids."""
        first, k = self._nvals, len(values)
        need = first + k
        if need > len(self._vstart):
            cap = need if first == 1 else need + need // 4 + 16  # exact at build; room for refreshes after
            self._vstart = np.concatenate([self._vstart, np.full(cap - len(self._vstart), -math.inf)])
            self._vuntil = np.concatenate([self._vuntil, np.full(cap - len(self._vuntil), math.inf)])
            self._vrule = np.concatenate(
                [self._vrule, np.full(cap - len(self._vrule), self._clean, np.int16)]
            )
        # A single entry without suspensions: its start, end and rule; anything else goes through decide().
        general, number = (-math.inf, math.inf, self._general), self._rule_no
        fields = np.array(
            [
                general if v.__class__ is tuple or v.pauses else (v.start, v.until, number[id(v.rule)])
                for v in values
            ],
            np.float64,
        ).reshape(k, 3)
        self._vstart[first:need] = fields[:, 0]
        self._vuntil[first:need] = fields[:, 1]
        self._vrule[first:need] = fields[:, 2]
        self._vals.extend(values)
        self._nvals = need
        return np.arange(first, need, dtype=np.int64)

    # -- the hash table ----------------------------------------------------------------------------------------

    def _place(self, rows: Ints, hashes: Ints) -> None:
        """Insert rows (absent from the table) by their hashes, a round per bucket overflow."""
        mask = self._buckets - 1
        fill = np.count_nonzero(self._slots, axis=1)
        packed = (hashes & _HIGH) | rows
        bucket = hashes & mask
        pending = np.arange(len(rows), dtype=np.uint64)
        while pending.size:
            # By bucket, then by position: one sort of (bucket, position) packed in a word, which numpy's
            # vectorised sort does several times faster than a stable argsort (5x10^6 rows: 0.2 s, not 1 s).
            both = np.sort((bucket[pending].astype(np.uint64) << _S32) | pending)
            b, p = (both >> _S32).astype(np.int64), (both & np.uint64(_ROW)).astype(np.int64)
            starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
            sizes = np.diff(np.r_[starts, len(b)])
            before = fill[b[starts]]
            slot = np.repeat(before, sizes) + (np.arange(len(b)) - np.repeat(starts, sizes))
            ok = slot < _WAYS
            self._slots[b[ok], slot[ok]] = packed[p[ok]]
            fill[b[starts]] = np.minimum(before + sizes, _WAYS)  # one write per bucket (no ufunc.at)
            pending = p[~ok].astype(np.uint64)
            bucket[pending] = (bucket[pending] + 1) & mask

    def _hash(self, keys: npt.NDArray[np.bytes_]) -> Ints:
        """A seeded 64-bit hash of each fixed-width key, computed on its 8-byte words as whole-array steps."""
        words = keys.view(np.uint64).reshape(len(keys), keys.dtype.itemsize // 8)
        h = np.full(len(keys), self._seed, np.uint64)
        for i in range(words.shape[1]):
            h ^= words[:, i]
            h *= _MUL1
            h ^= h >> _S31
        h *= _MUL2
        h ^= h >> _S32
        return h.view(np.int64)

    def _rehash(self, buckets: int) -> None:
        """Place every row again in ``buckets`` buckets (rows keep their numbers)."""
        self._buckets = buckets
        self._slots = np.zeros((buckets, _WAYS), np.int64)
        self._place(np.arange(1, self._rows, dtype=np.int64), self._hash(self._keys[1 : self._rows]))

    def _find(self, key: npt.NDArray[np.bytes_], h: int) -> int:
        """The row of ``key`` (a one-element array of the keys' width; 0 if absent); scalar, for updates."""
        mask = self._buckets - 1
        b = h & mask
        high = h & _HIGH
        while True:
            for w in range(_WAYS):
                slot = int(self._slots[b, w])
                if slot == 0:
                    return 0
                r = slot & _ROW
                if slot & _HIGH == high and self._keys[r] == key[0]:
                    return r
            b = (b + 1) & mask

    def _row(self, subject: str) -> int:
        """The row of ``subject``, added if new; 0 if it cannot be tabled (the dict and set answer it)."""
        if not _tabled(subject):
            return 0
        if len(subject) > self._keys.dtype.itemsize:  # a wider key: every hash changes
            self._keys = self._keys.astype(f"S{key_width(len(subject))}")
            self._rehash(self._buckets)
        key = np.array([subject], self._keys.dtype)
        h = int(self._hash(key)[0])
        r = self._find(key, h)
        if r:
            return r
        r = self._rows
        if r == len(self._keys):
            cap = _pow2(r + r // 2)
            self._keys = np.resize(self._keys, cap)
            self._vid = np.resize(self._vid, cap)
        self._keys[r], self._vid[r] = key[0], 0
        self._rows = r + 1
        if self._rows * 2 > self._buckets * _WAYS:
            self._rehash(self._buckets * 2)
        else:
            self._place(np.array([r], np.int64), np.array([h], np.int64))
        return r

    # -- updates (under the lock) ------------------------------------------------------------------------------

    def set(self, changes: dict[str, Any]) -> None:
        """Record each subject's new index value (None: no entries; the subject stays known)."""
        with self.lock:
            rows = [self._row(s) for s in changes]
            fresh = [(r, v) for r, v in zip(rows, changes.values(), strict=True) if r and v is not None]
            for r, v in zip(rows, changes.values(), strict=True):
                if r and v is None:
                    self._vid[r] = 0
            if fresh:
                ids = self._add_values([v for _, v in fresh])
                self._vid[np.fromiter((r for r, _ in fresh), np.int64, len(fresh))] = ids
            if self._nvals > 2 * self._rows + 1024:
                self._compact()

    def _compact(self) -> None:
        """Drop the values no row holds any more, in new containers: a batch that captured the old list and
        ids keeps them."""
        vid = self._vid[: self._rows]
        live = np.unique(vid[vid != 0])
        remap = np.zeros(self._nvals, np.int32)
        remap[live] = np.arange(1, len(live) + 1, dtype=np.int32)
        old = self._vals
        self._vals = [None, *(old[i] for i in live.tolist())]
        keep = np.r_[0, live]
        self._vstart, self._vuntil, self._vrule = (
            self._vstart[keep],
            self._vuntil[keep],
            self._vrule[keep],
        )
        self._nvals = len(self._vals)
        self._vid[: self._rows] = remap[vid]

    # -- batch lookups (under the lock) ------------------------------------------------------------------------

    def lookup(self, subjects: list[str]) -> tuple[Ints, Ints]:
        """(rows, value ids) of ``subjects``; row 0 where the table cannot vouch for the subject.

        Raises TypeError or UnicodeEncodeError if a subject is not an ASCII str (the caller answers that batch
        per query).
        """
        m = len(subjects)
        if not m:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        q, whole = self._query_keys(subjects)
        words = q.view(np.uint64).reshape(m, q.dtype.itemsize // 8)
        h = self._hash(q)
        high = h & _HIGH
        rows = np.zeros(m, np.int64)
        mask = self._buckets - 1
        bucket = h & mask
        todo: npt.NDArray[np.intp] | slice = slice(None)
        while True:
            slots = self._slots[bucket[todo]]
            # A slot holding the query's hash bits XORs to its row (under 2**32); any other to more. An empty
            # slot XORs to the bits themselves: under 2**32 only when they are 0 (then the query is left over).
            x = (slots ^ high[todo, None]).view(np.uint64).min(axis=1)
            cand = np.where(x < _SPAN, x, 0).astype(np.int64)
            ok = (self._words(cand) == words[todo]).all(axis=1)
            ok &= cand != 0
            if whole is not None:
                ok &= whole[todo]
            idx = np.arange(m)[todo]
            rows[idx[ok]] = cand[ok]
            # No candidate in a full bucket: try the next. A candidate that failed to verify (another subject
            # with the same hash bits) is left to the caller's exact lookup.
            go_on = (cand == 0) & (slots[:, -1] != 0)
            if not go_on.any():
                break
            todo = idx[go_on]
            bucket[todo] = (bucket[todo] + 1) & mask
        return rows, self._vid[rows]

    def _query_keys(self, subjects: list[str]) -> tuple[npt.NDArray[np.bytes_], npt.NDArray[np.bool_] | None]:
        """The queries as keys of the table's width, and which of them the keys hold whole (None: all).

        The common batch, identifiers of one length, is cut from one joined buffer; any other goes through
        numpy's conversion of each string. The join also refuses anything but an ASCII str.
        """
        m = len(subjects)
        width = self._keys.dtype.itemsize
        buf = "\x01".join(subjects).encode("ascii")
        size, spare = divmod(len(buf) + 1, m)
        if not spare and 0 < size - 1 <= width and b"\x00" not in buf and buf.count(b"\x01") == m - 1:
            cut = np.frombuffer(buf + b"\x01", np.uint8).reshape(m, size)
            if (cut[:, -1] == 1).all():  # every separator where one-length queries put it: all of one length
                keys = np.zeros((m, width), np.uint8)
                keys[:, : size - 1] = cut[:, :-1]
                return keys.view(self._keys.dtype).reshape(m), None
        # A query the bytes do not hold whole (longer than the keys, or ending in NUL) is not vouched for.
        q = np.array(subjects, dtype=self._keys.dtype)
        return q, np.strings.str_len(q) == np.fromiter(map(len, subjects), np.int64, m)

    def _words(self, rows: Ints) -> npt.NDArray[np.uint64]:
        keys = self._keys[rows]
        return keys.view(np.uint64).reshape(len(rows), keys.dtype.itemsize // 8)

    def verdicts(self, vids: Ints, acts: Ints, t: float) -> npt.NDArray[np.int32]:
        """Each query's verdict code at ``t`` (see :meth:`_compile`); GENERAL where decide() must answer."""
        code = np.zeros(len(vids), np.int32)  # value id 0, no entries: allowed, no effects
        hit = np.flatnonzero(vids)
        if hit.size:
            v = vids[hit]
            inside = (self._vstart[v] <= t) & (t < self._vuntil[v])
            code[hit] = np.where(inside, self._matrix[self._vrule[v], acts[hit]], 0)
        return code

    def subject(self, row: int) -> str:
        """The subject of a row that :meth:`lookup` returned."""
        return bytes(self._keys[row]).decode("ascii")

    @property
    def values(self) -> list[Any]:
        """The values by id (append-only: a captured id keeps its value)."""
        return self._vals

    def nbytes(self) -> tuple[int, int]:
        """Bytes held (subjects: rows and hash table; values: their arrays and list slots)."""
        subjects = self._keys.nbytes + self._vid.nbytes + self._slots.nbytes
        values = self._vstart.nbytes + self._vuntil.nbytes + self._vrule.nbytes + 8 * len(self._vals)
        return subjects, values
