"""``socialcredit feed``, ``subscription``, ``dispatch``, ``watchlist`` and ``monitor``: the feed at the
command line. Output is JSON. Subscriptions and watchlists made here belong to ``--owner`` (default
``cli``); an API key's own are reached with ``--owner <key id>``.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import feed
from ..engine.rules import compile_rules
from ..feed.grades import Grader
from ..registry import parse_instant
from ..screening.monitor import RunConflict, run_watch
from ..settings import get_settings
from .common import (
    EXIT_NOT_FOUND,
    allowlist,
    cli_actor,
    console,
    err_console,
    fail,
    open_catalogue,
    open_db,
    utcnow,
)

__all__ = ["register"]

feed_group = typer.Typer(help="The pull feed of lifecycle events.", no_args_is_help=True)
sub_group = typer.Typer(help="Webhook subscriptions and their deliveries.", no_args_is_help=True)
dispatch_group = typer.Typer(help="The dispatcher: webhooks, NATS, expiry.", no_args_is_help=True)
watch_group = typer.Typer(help="Watchlists: a subscriber's own subject ids.", no_args_is_help=True)
monitor_group = typer.Typer(
    help="Re-screen a watchlist or a saved screening and report what changed.", no_args_is_help=True
)

Owner = Annotated[str, typer.Option(help="The owner (an API key id, or cli).")]


def _out(value: Any) -> None:
    console.print_json(json.dumps(value, ensure_ascii=False, default=str))


@feed_group.command("show")
def feed_show(
    after: Annotated[str, typer.Option(help="Cursor: show events after it (0: from the start).")] = "0",
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many events.")] = 100,
) -> None:
    """Print events after --after, in commit order, and the cursor to resume from."""
    try:
        start = feed.parse_cursor(after)
    except feed.FeedInvalid as exc:
        fail(f"--after: {exc.value!r}: {exc.reason}")
    with open_db().engine.connect() as conn:
        page = feed.read_after(conn, start, limit)
    _out(
        {
            "events": [e.as_json() for e in page.events],
            "next_cursor": str(page.next_cursor),
            "head": str(page.head),
        }
    )


@sub_group.command("create")
def sub_create(
    url: Annotated[str, typer.Argument(help="The endpoint (http:// or https://).")],
    watchlist: Annotated[str | None, typer.Option(help="Only events about this watchlist's members.")] = None,
    types: Annotated[
        list[str] | None, typer.Option("--type", help="Only these event types (repeatable).")
    ] = None,
    from_start: Annotated[bool, typer.Option("--from-start", help="Deliver the whole outbox.")] = False,
    owner: Owner = "cli",
) -> None:
    """Subscribe URL; prints the signing secret (shown only this once)."""
    try:
        with open_db().engine.begin() as conn:
            out = feed.create_subscription(
                conn, owner, url, utcnow(), watchlist_id=watchlist, types=types, from_start=from_start
            )
    except feed.FeedInvalid as exc:
        fail(str(exc))
    except LookupError as exc:
        fail(str(exc).strip("'\""), EXIT_NOT_FOUND)
    _out(out)


@sub_group.command("list")
def sub_list(owner: Annotated[str | None, typer.Option(help="Only this owner's.")] = None) -> None:
    """Subscriptions with their delivery counts (pending, delivered, dead)."""
    with open_db().engine.connect() as conn:
        _out(feed.list_subscriptions(conn, owner))


@sub_group.command("deliveries")
def sub_deliveries(
    subscription: Annotated[str, typer.Argument(help="The subscription id.")],
    status: Annotated[str | None, typer.Option(help="pending, delivered or dead.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
) -> None:
    """Recent deliveries: status, attempts, next attempt, last error."""
    try:
        with open_db().engine.connect() as conn:
            _out(feed.list_deliveries(conn, subscription, None, status, limit))
    except feed.FeedInvalid as exc:
        fail(str(exc))
    except LookupError as exc:
        fail(str(exc).strip("'\""), EXIT_NOT_FOUND)


@sub_group.command("redeliver")
def sub_redeliver(subscription: Annotated[str, typer.Argument(help="The subscription id.")]) -> None:
    """Queue the subscription's dead-lettered deliveries again."""
    try:
        with open_db().engine.begin() as conn:
            _out({"requeued": feed.redeliver(conn, subscription, None, utcnow())})
    except LookupError as exc:
        fail(str(exc).strip("'\""), EXIT_NOT_FOUND)


@dispatch_group.command("run")
def dispatch_run(
    once: Annotated[
        bool, typer.Option("--once", help="One round (enqueue, deliver, publish, expire), then exit.")
    ] = False,
    max_attempts: Annotated[
        int, typer.Option(min=1, help="Attempts before a delivery is dead-lettered.")
    ] = feed.DispatchSettings.max_attempts,  # one default (decision 0401), not a second literal
    backoff: Annotated[
        float, typer.Option(min=0.0, help="Seconds before the second attempt; doubles.")
    ] = 1.0,
    backoff_max: Annotated[float, typer.Option(min=0.0, help="The longest wait between attempts.")] = 600.0,
    poll: Annotated[float, typer.Option(min=0.001, help="Idle wait between rounds, in seconds.")] = 0.02,
    timeout: Annotated[float, typer.Option(min=0.1, help="Per-request timeout, in seconds.")] = 5.0,
    expire: Annotated[bool, typer.Option(help="Sweep records past their end date every 10 s.")] = True,
    grades: Annotated[
        bool, typer.Option(help="Append a grade.changed event after each record event that moves a grade.")
    ] = True,
    lease: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            help="Seconds a claim on deliveries holds unless renewed (default SOCIALCREDIT_DISPATCH_LEASE).",
        ),
    ] = None,
) -> None:
    """Deliver webhooks (and publish to NATS when SOCIALCREDIT_NATS_URL is set) until stopped.

    NATS: stream SOCIALCREDIT_NATS_STREAM (made if absent), subjects SOCIALCREDIT_NATS_SUBJECT_PREFIX.TYPE.

    Several may run on one database: they share the subscriptions, each delivered in order by one at a time."""
    settings = feed.DispatchSettings(
        max_attempts=max_attempts,
        backoff_base=backoff,
        backoff_max=backoff_max,
        timeout=timeout,
        poll_interval=poll,
        lease=lease if lease is not None else get_settings().dispatch_lease,
    )
    publisher = None
    env = get_settings()
    if env.nats_url:
        from ..feed.nats import NatsPublisher

        publisher = NatsPublisher(
            env.nats_url, stream=env.nats_stream, prefix=env.nats_subject_prefix, lease=settings.lease
        )
    catalogue = open_catalogue()
    rules = compile_rules(catalogue)  # checkpoint subscriptions follow their key's scope
    grader = Grader(catalogue) if grades else None
    d = feed.Dispatcher(open_db().engine, settings, publisher=publisher, rules=rules, grader=grader)
    try:
        if once:
            result = d.run_once()
            if expire:
                result.expired = d.sweep_expired()
            _out({k: v for k, v in vars(result).items()})
            if result.errors:
                raise typer.Exit(2)
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        err_console.print(f"dispatching (nats: {'on' if publisher else 'off'}); stop with Ctrl-C")
        d.run(stop, expire=expire)
    finally:
        d.close()


@watch_group.command("create")
def watch_create(
    name: Annotated[str, typer.Argument(help="A name for the list.")], owner: Owner = "cli"
) -> None:
    """Create an empty watchlist; prints its id."""
    try:
        with open_db().engine.begin() as conn:
            _out(feed.create_watchlist(conn, owner, name, utcnow()))
    except feed.FeedInvalid as exc:
        fail(str(exc))


@watch_group.command("upload")
def watch_upload(
    watchlist: Annotated[str, typer.Argument(help="The watchlist id.")],
    file: Annotated[Path, typer.Argument(help="One subject id a line (# comments and blank lines skipped).")],
    owner: Owner = "cli",
) -> None:
    """Replace the watchlist's members with FILE's ids; all or nothing, every bad line reported."""
    if not file.is_file():
        fail(f"{file}: no such file", EXIT_NOT_FOUND)
    try:
        ids = feed.parse_members(file.read_text(encoding="utf-8").splitlines(), allowlist())
    except feed.WatchlistInvalid as exc:
        for n, value, reason in exc.errors[:20]:
            err_console.print(f"{file}:{n}: {value!r}: {reason}", markup=False, soft_wrap=True)
        fail(f"{file}: {len(exc.errors)} invalid subject ids; nothing changed")
    except (feed.FeedInvalid, UnicodeDecodeError) as exc:
        fail(f"{file}: {exc}")
    try:
        with open_db().engine.begin() as conn:
            feed.upload_members(conn, watchlist, owner, ids)
            _out(feed.get_watchlist(conn, watchlist, owner))
    except LookupError as exc:
        fail(str(exc).strip("'\""), EXIT_NOT_FOUND)


@watch_group.command("show")
def watch_show(
    watchlist: Annotated[str, typer.Argument(help="The watchlist id.")],
    members: Annotated[bool, typer.Option("--members", help="List the members too.")] = False,
    owner: Owner = "cli",
) -> None:
    """The watchlist and its member count."""
    try:
        with open_db().engine.connect() as conn:
            out = feed.get_watchlist(conn, watchlist, owner)
            if members:
                out["subject_ids"] = feed.members(conn, watchlist)
    except LookupError as exc:
        fail(str(exc).strip("'\""), EXIT_NOT_FOUND)
    _out(out)


@monitor_group.command("run")
def monitor_run(
    watchlist: Annotated[str, typer.Argument(help="The watchlist id.")],
    at: Annotated[str | None, typer.Option("--at", help="Screen as of this instant (default now).")] = None,
    owner: Owner = "cli",
) -> None:
    """Re-screen WATCHLIST: its hits, and the hits new and lifted since its last run."""
    try:
        now = parse_instant(at) if at else utcnow()
    except ValueError:
        fail(f"--at: {at!r}: not an ISO 8601 date or datetime")
    try:
        report = feed.run_monitor(open_db().engine, watchlist, owner, now)
    except LookupError as exc:
        fail(str(exc).strip("'\""), EXIT_NOT_FOUND)
    _out(report.as_json())


@monitor_group.command("screening")
def monitor_screening(
    name: Annotated[str, typer.Argument(help="The saved screening (screen --save NAME).")],
    out: Annotated[Path, typer.Option("--out", help="CSV of the rows whose result changed.")],
    at: Annotated[str | None, typer.Option("--at", help="Screen as of this instant (default now).")] = None,
    owner: Owner = "cli",
) -> None:
    """Re-run a saved screening on what changed since its last run; only the rows whose result changed."""
    try:
        now = parse_instant(at) if at else utcnow()
    except ValueError:
        fail(f"--at: {at!r}: not an ISO 8601 date or datetime")
    db = open_db()
    try:
        report = run_watch(
            db.engine, open_catalogue(), name, owner, now, actor=(cli_actor(), "operator"), out=out
        )
    except LookupError as exc:
        fail(str(exc).strip("'\""), EXIT_NOT_FOUND)
    except RunConflict as exc:
        fail(str(exc))
    finally:
        db.engine.dispose()
    _out(report["summary"])


def register(app: typer.Typer) -> None:
    app.add_typer(feed_group, name="feed")
    app.add_typer(sub_group, name="subscription")
    app.add_typer(dispatch_group, name="dispatch")
    app.add_typer(watch_group, name="watchlist")
    app.add_typer(monitor_group, name="monitor")
