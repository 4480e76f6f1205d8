"""Anchoring the audit chain outside the database: signed heads, as Certificate Transparency's signed tree heads.

The hash chain (:mod:`socialcredit.audit`) shows an edited, deleted or reordered entry, but not one cut off
the end, nor a forged one appended or a chain rewritten with fresh hashes. A holder of the Ed25519 key
(:mod:`.keys`, a file the database does not hold) signs heads (:mod:`.heads`) of what it appended, published
to an append-only file and NATS (:mod:`.publisher`); :func:`check_heads` (:mod:`.check`) finds what the
database's writer removed, rewrote or forged since. Decision 0313 has the reasoning.
"""

from __future__ import annotations

from .check import GRACE, AnchorCheck, check_heads
from .heads import HeadsUnreadable, SignedHead, append_head, parse_head, read_heads, sign_head
from .keys import AnchorKeyError, key_id, load_or_create_key, load_public_key
from .publisher import Anchor, AnchorPaths, anchor_paths, publish_witnessed, publishing

__all__ = [
    "GRACE",
    "Anchor",
    "AnchorCheck",
    "AnchorKeyError",
    "AnchorPaths",
    "HeadsUnreadable",
    "SignedHead",
    "anchor_paths",
    "append_head",
    "check_heads",
    "key_id",
    "load_or_create_key",
    "load_public_key",
    "parse_head",
    "publish_witnessed",
    "publishing",
    "read_heads",
    "sign_head",
]
