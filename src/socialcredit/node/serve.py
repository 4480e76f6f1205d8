"""Putting a node together: the snapshot loaded (or refused), the store opened for keys and re-syncs, the
auditor (the node's own audit chain on JetStream, :class:`~.audit.NodeAuditLog`, decision 1103), the follower
and the app (``socialcredit node serve``; tests build nodes with the same function)."""

from __future__ import annotations

import logging
import re
import socket
from pathlib import Path

from fastapi import FastAPI

from ..catalogue import Catalogue, default_catalogue
from ..settings import Settings, get_settings
from ..store import Database
from .app import create_node_app
from .audit import NodeAuditLog
from .chain import check_node_id
from .follow import Follower
from .keys import KeyTable
from .live import LiveIndex
from .snapshot import load_snapshot
from .state import Auditor, NodeState

__all__ = ["default_name", "node_app"]

log = logging.getLogger("socialcredit.node")


def default_name(port: int) -> str:
    """``node-HOST-PORT``, a valid node id (a NATS subject token) whatever the host name: dots and anything
    else outside ``[A-Za-z0-9_-]`` become ``-``, and the host part is cut to fit 64 characters."""
    host = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[: 64 - len(f"node--{port}")]
    return f"node-{host}-{port}"


def node_app(
    snapshot: Path,
    nats_url: str | None,
    *,
    name: str,
    db: Database | None = None,
    catalogue: Catalogue | None = None,
    settings: Settings | None = None,
    auditor: Auditor | None = None,
    audit_nats: str | None = None,
    stream: str | None = None,
    prefix: str | None = None,
    freeze_gc: bool = False,
) -> FastAPI:
    """A node's app from ``snapshot``; raises :class:`~.snapshot.SnapshotRefused` (with the reason) for a
    snapshot of another catalogue, truncated or corrupt, before anything else is started. ``nats_url`` None:
    no feed (the index stays at the snapshot; for tests of the routes). ``name`` is the node id (its audit
    chain's, and its durable consumer's): ``ValueError`` naming it unless 1 to 64 letters, digits, ``-`` or ``_``.

    The auditor, unless one is given: :meth:`NodeAuditLog.from_settings` on ``audit_nats``, else ``nats_url``,
    else ``SOCIALCREDIT_NATS_URL`` (the audit stream and the feed are usually on the same server). The feed:
    ``stream`` and ``prefix``, else ``SOCIALCREDIT_NATS_STREAM`` and ``_SUBJECT_PREFIX`` (decision 1121)."""
    check_node_id(name)
    settings = settings or get_settings()
    if auditor is None:
        url = audit_nats or nats_url or settings.nats_url
        if url is None:
            raise ValueError(f"node {name}: no NATS server for its audit stream (give one, or an auditor)")
        auditor = NodeAuditLog.from_settings(settings, url, name)
    catalogue = catalogue or default_catalogue()
    loaded = load_snapshot(snapshot, catalogue)
    db = db or Database.open(settings.database_url)
    live = LiveIndex.of(
        db.engine, catalogue, loaded.index, loaded.seq, f"snapshot {snapshot} (seq {loaded.seq})"
    )
    keys = KeyTable(db.engine, settings.node_key_refresh_seconds)
    try:  # before the first request if the store answers; else the refresh keeps trying (not ready till then)
        keys.load()
    except Exception as exc:
        log.warning("node %s: key table not read at start (%s); retrying every %s s", name, exc, keys.every)
    state = NodeState(
        db,
        catalogue,
        settings,
        live,
        auditor,
        keys,
        name,
    )
    follower = None
    if nats_url is not None:
        follower = Follower(
            state,
            nats_url,
            snapshot=snapshot,
            stream=stream or settings.nats_stream,
            prefix=prefix or settings.nats_subject_prefix,
        )
    else:
        state.set_unsynced("no stream to follow (started without NATS)")
    log.info(
        "node %s: loaded %s: %d entries, %d known subjects, catalogue %s",
        name,
        snapshot,
        loaded.header.counts["entries"],
        loaded.header.counts["known"],
        catalogue.version,
    )
    app = create_node_app(state, follower, freeze_gc=freeze_gc)
    app.state.follower = follower
    return app
