"""NATS restarted under load (decision 1104): a ``dispatch run`` publishing the outbox to JetStream while records
are filed goes on after nats-server restarts, and the stream then holds the outbox exactly: every event once,
in outbox order, none missed, none twice."""

from __future__ import annotations

import signal
from pathlib import Path

from sqlalchemy import Engine

from socialcredit.catalogue import Catalogue

from .harness import PrivateNats, running, start_dispatcher, wait_until
from .streams import Filer, outbox_ids, stream_count, stream_ids


def _published(nats: PrivateNats, engine: Engine) -> bool:
    return stream_count(nats.url) >= len(outbox_ids(engine))


def test_the_stream_holds_the_outbox_exactly_after_nats_restarts_under_load(
    nats_private: PrivateNats, registry: tuple[str, Engine], catalogue: Catalogue, workdir: Path
) -> None:
    url, engine = registry
    dispatcher = start_dispatcher(workdir, url, nats_private.url)
    with running(dispatcher):
        filer = Filer(engine, catalogue, 200).start()
        wait_until(lambda: stream_count(nats_private.url) >= 60, 90, "the first events in the stream")
        nats_private.restart(down=0.5)  # SIGTERM, as systemd restarts it; the store directory is kept
        wait_until(lambda: len(filer.filed) >= 110, 60, "more filings")
        nats_private.stop(signal.SIGKILL)  # and a crash, for good measure
        nats_private.start()
        filer.join()
        wait_until(lambda: _published(nats_private, engine), 60, "every event in the stream")
        assert dispatcher.alive(), dispatcher.tail()
    got, expected = stream_ids(nats_private.url), outbox_ids(engine)
    assert len(expected) >= 170  # filings and revocations
    assert len(got) == len(set(got)), f"{len(got) - len(set(got))} events twice in the stream"
    assert set(expected) - set(got) == set(), "events missing from the stream"
    assert got == expected, "the stream's order is not the outbox's"
