"""``audit verify --from-nats`` for the check nodes: the node audit stream's own copy of their chains and signed
heads, compared with what ``audit sink`` stored (issue 20 point 3).

Whoever can write the database can edit an entry, re-chain every hash after it and delete the stored heads: the
walk then holds and nothing is left to anchor it. The stream, outside that writer's reach, still holds what the
nodes published. Only messages the sink has acknowledged are read (its durable consumer's ack floor: the sink
acknowledges after its commit), so entries not yet sunk are not mistaken for deleted ones. Each entry there must
be in the database with the same hash; the heads there join the stored ones (by signature) for the anchor check.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from .sink import read_message
from .verify import stored_hashes

__all__ = ["StreamCopy", "read_stream_copy"]


@dataclass
class StreamCopy:
    source: str  # "nats:<stream>", for the reports
    upto: int = 0  # the stream sequence read up to (the sink's ack floor)
    compared: int = 0  # entries compared with the database
    heads: dict[str, list[str]] = field(default_factory=dict)  # node -> head lines held by the stream
    problems: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # node -> (seq, problem)
    note: str | None = None  # why nothing was compared, when nothing was

    def bad(self, node: str, seq: int, problem: str) -> None:
        self.problems.setdefault(node, []).append((seq, problem))


def _compare(conn: Connection, copy: StreamCopy, msg_seq: int, entries: list[Any]) -> None:
    if not entries:
        return
    node = entries[0].node
    stored = stored_hashes(conn, node)([e.seq for e in entries])
    for e in entries:
        copy.compared += 1
        have = stored.get(e.seq)
        if have is None:
            copy.bad(node, e.seq, f"in {copy.source} (message {msg_seq}) but not in the database: deleted")
        elif have != e.hash:
            copy.bad(
                node,
                e.seq,
                f"not the entry {copy.source} holds (message {msg_seq}): edited, re-chained or replaced",
            )


def read_stream_copy(
    conn: Connection, url: str, stream: str, prefix: str, durable: str, *, timeout: float = 5.0
) -> StreamCopy:
    """Compare the sunk part of ``stream`` with the database on ``conn``; raises when NATS cannot be read."""
    import nats
    from nats.js.api import DeliverPolicy
    from nats.js.errors import NotFoundError

    copy = StreamCopy(f"nats:{stream}")

    async def go() -> None:
        nc: Any = await nats.connect(url, connect_timeout=timeout, max_reconnect_attempts=1)
        try:
            js = nc.jetstream(timeout=timeout)
            try:
                info = await js.stream_info(stream)
                floor = int((await js.consumer_info(stream, durable)).ack_floor.stream_seq)
            except NotFoundError:
                copy.note = f"no stream {stream} with a sink consumer {durable}: no node entry compared"
                return
            copy.upto = floor = min(floor, int(info.state.last_seq))
            if floor < int(info.state.first_seq):
                copy.note = f"{copy.source}: nothing the sink {durable} acknowledged is held any more"
                return
            sub = await js.subscribe(
                f"{prefix}.>", stream=stream, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
            )
            try:
                while True:
                    try:
                        msg = await sub.next_msg(timeout=timeout)
                    except TimeoutError:  # the floor's own message is gone (deleted): all before it read
                        break
                    seq = int(msg.metadata.sequence.stream)
                    if seq > floor:
                        break
                    try:
                        entries, head = read_message(prefix, msg.subject, msg.data)
                    except (ValueError, UnicodeDecodeError):
                        continue  # refused by the sink too (it logged it): its entries are reported missing
                    if head is not None:
                        copy.heads.setdefault(head[0], []).append(head[1])
                    _compare(conn, copy, seq, entries)
                    if seq == floor:
                        break
            finally:
                await sub.unsubscribe()
        finally:
            await nc.close()

    asyncio.run(go())
    return copy
