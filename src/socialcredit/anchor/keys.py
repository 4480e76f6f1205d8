"""The Ed25519 key that signs the audit chain's heads, in a file the database does not hold.

The private key is PKCS#8 PEM, created on first use with mode 0600 (never overwritten: ``O_EXCL``, so several
server workers starting at once agree on one key); the public key is written beside it as ``<file>.pub``, for
auditors. A private key file that others can read is refused, as ssh refuses one. A key's id is the first 16
hex digits of SHA-256 over its raw 32 public bytes (Certificate Transparency names a log by its key's hash too).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = ["AnchorKeyError", "key_id", "load_or_create_key", "load_public_key"]


class AnchorKeyError(ValueError):
    """A key file that cannot be used: unreadable, not an Ed25519 key, or readable by others."""


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _create(path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker made it first: use that one
        return
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())
    pub = Path(f"{path}.pub")
    pub.write_bytes(_public_pem(key.public_key()))


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The signing key at ``path``, created (0600, with ``<path>.pub``) if there is none."""
    if not path.exists():
        _create(path)
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise AnchorKeyError(f"{path}: cannot read the audit signing key ({exc.strerror})") from None
    if mode & 0o077:
        raise AnchorKeyError(
            f"{path}: the audit signing key is readable by others (mode {mode & 0o777:o}); chmod 600"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise AnchorKeyError(f"{path}: not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AnchorKeyError(f"{path}: not an Ed25519 key")
    pub = Path(f"{path}.pub")
    if not pub.exists():  # the public half for auditors, if it went missing
        pub.write_bytes(_public_pem(key.public_key()))
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file holding either half of the pair (verify needs only the public)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AnchorKeyError(f"{path}: cannot read the public key ({exc.strerror})") from None
    try:
        if b"PRIVATE KEY" in data:
            private = serialization.load_pem_private_key(data, password=None)
            if isinstance(private, Ed25519PrivateKey):
                return private.public_key()
        else:
            public = serialization.load_pem_public_key(data)
            if isinstance(public, Ed25519PublicKey):
                return public
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise AnchorKeyError(f"{path}: not a PEM key") from None
    raise AnchorKeyError(f"{path}: not an Ed25519 key")
