"""Signed heads: what a key holder vouches for, one JSON line each in an append-only file (and on NATS).

A head is ``{"v": 1, "key", "at", "seq", "hash", "seen", "covers", "sig"}``:

* ``seq``, ``hash``: the newest entry the signer itself appended (0 and 64 zeros if none yet): the chain must
  hold that entry with that hash for as long as it exists, so any rewrite or removal at or before it shows;
* ``seen``: how many entries the database held when the head was signed: the chain may never be shorter;
* ``covers``: ``[first, last]`` ranges of entries the signer appended since its previous head, each checked
  committed, so an entry no head covers was not written by a key holder (a forged append);
* ``sig``: Ed25519 over the canonical JSON (sorted keys, no spaces, UTF-8) of every other field, hex.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..audit import GENESIS
from .keys import key_id

__all__ = [
    "HeadsUnreadable",
    "SignedHead",
    "append_head",
    "merge_ranges",
    "parse_head",
    "parse_heads",
    "read_heads",
    "sign_head",
]

_FIELDS = {"v", "key", "at", "seq", "hash", "seen", "covers", "sig"}


class HeadsUnreadable(ValueError):
    """The heads file cannot be read at all (bad input, not evidence of tampering)."""


@dataclass(frozen=True, slots=True)
class SignedHead:
    key: str
    at: dt.datetime
    seq: int
    hash: str
    seen: int
    covers: tuple[tuple[int, int], ...]
    sig: str

    def body(self) -> dict[str, Any]:
        return {
            "v": 1,
            "key": self.key,
            "at": self.at.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "seq": self.seq,
            "hash": self.hash,
            "seen": self.seen,
            "covers": [list(r) for r in self.covers],
        }

    def line(self) -> str:
        return json.dumps({**self.body(), "sig": self.sig}, sort_keys=True, separators=(",", ":"))


def merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, overlapping or adjacent ``[first, last]`` ranges joined."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign_head(
    key: Ed25519PrivateKey,
    at: dt.datetime,
    seq: int,
    digest: str,
    seen: int,
    covers: list[tuple[int, int]],
) -> SignedHead:
    unsigned = SignedHead(key_id(key.public_key()), at, seq, digest, seen, tuple(covers), "")
    sig = key.sign(_canonical(unsigned.body())).hex()
    return SignedHead(unsigned.key, at, seq, digest, seen, unsigned.covers, sig)


def _int(v: Any) -> int:
    if type(v) is not int or v < 0:
        raise ValueError("not a non-negative integer")
    return v


def parse_head(text: str, public: Ed25519PublicKey) -> SignedHead:
    """One head from its JSON line; ``ValueError`` naming why it is refused (malformed, another key, edited)."""
    try:
        raw = json.loads(text)
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(raw, dict) or set(raw) != _FIELDS or raw["v"] != 1:
        raise ValueError(
            f"not a version 1 signed head (fields {sorted(raw) if isinstance(raw, dict) else '?'})"
        )
    want = key_id(public)
    if raw["key"] != want:
        raise ValueError(f"signed by key {raw['key']!r}, not by {want}")
    try:  # the signature first: an altered line is named as such, whatever was altered
        public.verify(
            bytes.fromhex(str(raw["sig"])), _canonical({k: v for k, v in raw.items() if k != "sig"})
        )
    except (InvalidSignature, ValueError):
        raise ValueError(f"signature does not verify with key {want}: the line was altered") from None
    try:
        seq, seen = _int(raw["seq"]), _int(raw["seen"])
        covers = tuple((_int(a), _int(b)) for a, b in raw["covers"])
        at = dt.datetime.fromisoformat(str(raw["at"]).replace("Z", "+00:00"))
    except (ValueError, TypeError):
        raise ValueError("a field has the wrong form") from None
    digest = str(raw["hash"])
    if at.tzinfo is None or len(digest) != len(GENESIS) or seq > seen or (seq == 0) != (digest == GENESIS):
        raise ValueError("a field has the wrong form")
    if any(not 1 <= a <= b <= seen for a, b in covers):
        raise ValueError("a covered range lies outside what the head saw")
    return SignedHead(want, at, seq, digest, seen, covers, str(raw["sig"]))


def parse_heads(
    lines: list[str], public: Ed25519PublicKey, source: str
) -> tuple[list[SignedHead], list[str]]:
    """The heads among ``lines``, and one "SOURCE:N: reason" per line refused."""
    heads: list[SignedHead] = []
    refused: list[str] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            heads.append(parse_head(line, public))
        except ValueError as exc:
            refused.append(f"{source}:{n}: {exc}")
    return heads, refused


def read_heads(path: Path, public: Ed25519PublicKey) -> tuple[list[SignedHead], list[str]]:
    """Every head in the file, and one "FILE:N: reason" per line refused. A missing file has no heads."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], []
    except (OSError, UnicodeDecodeError) as exc:
        raise HeadsUnreadable(f"{path}: cannot read the signed heads ({exc})") from None
    return parse_heads(text.splitlines(), public, str(path))


def append_head(path: Path, head: SignedHead) -> None:
    """Append one line (``O_APPEND``: workers sharing the file never interleave a line) and fsync it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (head.line() + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
