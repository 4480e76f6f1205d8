"""Check nodes (issue 20): index snapshots now; following the feed on NATS JetStream and a node's own audit
chain come next. See docs/scale.md."""

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
