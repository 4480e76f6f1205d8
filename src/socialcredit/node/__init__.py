"""Check nodes (issue 20): index snapshots (snapshot.py, create.py) and ``node serve`` (serve.py: the API's check
routes over a snapshot kept current by a JetStream follower, follow.py). See docs/scale.md, decisions 1101, 1102."""

from .create import create_snapshot
from .snapshot import (
    FORMAT_VERSION,
    Loaded,
    SnapshotHeader,
    SnapshotRefused,
    load_snapshot,
    read_header,
    write_snapshot,
)

__all__ = [
    "FORMAT_VERSION",
    "Loaded",
    "SnapshotHeader",
    "SnapshotRefused",
    "create_snapshot",
    "load_snapshot",
    "read_header",
    "write_snapshot",
]
