"""The other commands: `do-not-gift`, `status`, `store`, `sandbox`, `webhooks`, `campaigns`."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from .. import donotgift
from ..models import status_label
from ..own_columns import OwnColumnsSink, Written, describe_overwrites, values_not_giftruns
from ..plan import apply_results
from ..polling import poll_statuses
from ..review import held_results, status_results
from ..runtime import open_store
from ..sandbox_limiters import LimiterKind
from ..settings import Settings
from ..store import Store
from ..store.invitations import HELD
from ..timefmt import shown
from ..unknowns import unknowns_report
from ..writeback import merge_results
from .common import EXIT_OK, EXIT_STOPPED, CliError, _client, _out
from .sources import Source, _gift_ids, _import_shared_history, _parse_map, _print_notes, _source_kind


def cmd_do_not_gift(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    command = args.dng_command
    try:
        if command == "add":
            entry = donotgift.new_entry(args.value, args.reason)
            report = store.add_do_not_gift([entry], args.actor)
            what = "Added" if report.added else "Updated the reason of" if report.changed else "Already listed:"
            _out(
                f"{what} {entry.label}"
                + (f" ({entry.reason})" if entry.reason else "")
                + (" and every subdomain of it." if entry.is_domain and report.added else ".")
            )
        elif command == "remove":
            gone = store.remove_do_not_gift(args.value, args.actor)
            if gone is None:
                raise CliError(f"{donotgift.canonical(args.value)} is not on the do-not-gift list; nothing removed.")
            _out(
                f"Removed {gone.label} (added by {gone.added_by} on {gone.added_at[:10]}); recorded in the audit "
                "trail. It can be gifted again."
            )
        elif command == "import":
            return _import_do_not_gift(args, store)
        else:
            entries = store.do_not_gift()
            _out(
                f"{donotgift.entries_text(len(entries))} on the do-not-gift list"
                + (" (a domain also blocks its subdomains):" if entries else ".")
            )
            width = max((len(e.label) for e in entries), default=0)
            for e in entries:
                _out(
                    f"  {e.label:<{width}}  {e.reason or '(no reason)'} — added by {e.added_by} "
                    f"{shown(e.added_at, seconds=False)}"
                )
    except donotgift.DoNotGiftError as exc:
        raise CliError(str(exc)) from None
    return EXIT_OK


def _import_do_not_gift(args: argparse.Namespace, store: Store) -> int:
    from ..csvio import MAX_UPLOAD_BYTES

    if _source_kind(args.file) != "csv":
        raise CliError("do-not-gift import reads a CSV file: download the sheet as CSV and give the file's path.")
    path = Path(args.file)
    if path.stat().st_size > MAX_UPLOAD_BYTES:
        raise CliError(f"{path.name} is larger than {MAX_UPLOAD_BYTES // 2**20} MB.")
    try:
        parsed = donotgift.parse_csv(path.read_bytes(), name=path.name)
    except OSError as exc:
        raise CliError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    if parsed.problems:
        for line in parsed.problems[:50]:
            _out(f"  {line}")
        more = len(parsed.problems) - 50
        raise CliError(parsed.refusal(path.name) + (f" ({more} more rows not shown.)" if more > 0 else ""))
    report = store.add_do_not_gift(parsed.entries, args.actor, source=f"imported from {path.name}")
    _out(
        f"Imported {path.name}: {report.added} added, {report.changed} reasons changed, {report.unchanged} already "
        "listed."
    )
    return EXIT_OK


# -- status -------------------------------------------------------------------------------
def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    if args.source is None:
        if not args.poll:
            raise CliError("Give a SOURCE to write statuses onto, or --poll to ask &Open about every gift stored.")
        return _poll_everything(args, settings, _existing_store(settings))
    source = Source(args.source, settings, _parse_map(args.map), args.worksheet)
    loaded = source.loaded
    store = _existing_store(settings)
    _print_notes(loaded)
    journal = store.journal(loaded.list_key)
    ids = [g for g in _gift_ids(loaded) if g.strip()]
    _import_shared_history(settings, store)  # final statuses known elsewhere need no GET
    if args.poll and ids and not _known(store, journal.values()) & {g.strip() for g in ids}:
        raise CliError(
            f"None of the {len(ids)} gift ids in {loaded.name} is known to the store at {store.info.where}: it is "
            f"probably not the store that sent them. {_LIKELY_CAUSE} Nothing was polled or written."
        )
    ids += [e.gift_request_id for e in journal.values() if e.gift_request_id]
    if args.poll:
        client = _client(settings)
        summary = poll_statuses(client, store, ids, rate=args.rate)
        _out(f"Polled {summary.checked} gifts ({summary.skipped_final} already final): {summary.changed} changed.")
        for err in summary.errors[:10]:
            _out(f"  {err}")
        if summary.errors and summary.checked == 0:
            return EXIT_STOPPED
    store.mark_orphans_unknown(loaded.list_key)
    held = held_results(loaded, store)  # incl. sends resolved from &Open's updates since their run
    results = merge_results(held + status_results(apply_results(loaded.frame, held), store))
    sink = source.sink
    found = values_not_giftruns(loaded, apply_results(loaded.frame, results), (), Written.known(store, loaded))
    if found:  # the list's own columns named like results keep their values
        _out(f"Note: {describe_overwrites(found, overwrite=False, how='')}".rstrip())
        sink = OwnColumnsSink(sink, {o.canonical for o in found})
    sink.write(results)
    source.finish(store)
    _out(f"Wrote Gift status for {len(results)} of {len(loaded.frame)} rows to {loaded.name}.")
    report = unknowns_report(store, loaded.list_key)
    if report.waiting or report.resolved:
        _out(report.describe() + ".")
    return EXIT_OK


_LIKELY_CAUSE = (
    "Check GIFTRUN_DATABASE_URL and GIFTRUN_DATABASE_SCHEMA (or GIFTRUN_DATA_DIR), and ANDOPEN_BASE_URL: "
    "a sandbox's gifts are kept in a store of their own (the folder sandbox/, or the schema ending _sandbox)."
)


def _existing_store(settings: Settings) -> Store:
    """The store earlier sends recorded, or a one-line refusal that creates nothing: `status`
    reads what was sent, so an empty place means the configuration points elsewhere."""
    from ..store.presence import store_exists, where

    location, schema = settings.store_location()
    if not store_exists(location, schema):
        raise CliError(
            f"There is no Giftrun store at {where(location, schema)}: no send was ever recorded with this "
            f"configuration. {_LIKELY_CAUSE} Nothing was polled, written or created."
        )
    return open_store(settings)


def _known(store: Store, journal) -> set[str]:
    """Every gift id the store knows: its journal lines and the gifts it follows."""
    return {g.gift_request_id for g in store.gifts()} | {e.gift_request_id for e in journal if e.gift_request_id}


def _poll_everything(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    """`status --poll` with no SOURCE: every gift the store knows that is not final yet, from
    every list and host (a scheduled job keeps a shared database current without webhooks)."""
    _import_shared_history(settings, store)
    ids = [g.gift_request_id for g in store.gifts()]
    ids += [e.gift_request_id for e in store.all_sends() if e.gift_request_id]
    summary = poll_statuses(_client(settings), store, ids, rate=args.rate)
    _out(
        f"Polled {summary.checked} gifts ({summary.skipped_final} already final): {summary.changed} changed "
        f"(store: {store.info.backend} {store.info.where})."
    )
    for err in summary.errors[:10]:
        _out(f"  {err}")
    counts: dict[str, int] = {}
    for g in store.gifts():
        counts[status_label(g.status) or "(none)"] = counts.get(status_label(g.status) or "(none)", 0) + 1
    _out("Gifts by status: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"))
    return EXIT_STOPPED if summary.errors and summary.checked == 0 else EXIT_OK


# -- the store ------------------------------------------------------------------------------
def cmd_store_info(args: argparse.Namespace, settings: Settings) -> int:
    from ..store.migrations import version

    store = open_store(settings)
    _out(f"{store.info.backend}: {store.info.where} (schema version {version(store.db)})")
    _out(
        f"{len(store.all_sends())} journal lines, {len(store.gifts())} gifts, {len(store.events())} status events, "
        f"{len(store.runs(limit=100000))} runs, {len(store.saved_lists())} saved lists"
    )
    emails = store.invitations().values()
    held = sum(1 for r in emails if r.state in HELD)
    _out(f"{len(emails)} invitation lines ({held} sent or held: never emailed again by themselves)")
    return EXIT_OK


def cmd_store_copy(args: argparse.Namespace, settings: Settings) -> int:
    """Copy the local SQLite store into a database, idempotently (run it again at any time)."""
    from ..store.copy import copy_store

    url = args.to or (settings.database_url.reveal() if settings.database_url else None)
    if not url:
        raise CliError("Where to? Pass --to postgresql://… or set GIFTRUN_DATABASE_URL.")
    from ..store import is_database_url

    if not is_database_url(url):
        raise CliError(
            "--to must be a PostgreSQL URL (postgresql://user:password@host:5432/dbname). "
            "The value is not shown: it may hold a password."
        )
    folder = Path(args.from_folder) if args.from_folder else settings.data_dir
    if not (folder / "giftrun.sqlite3").is_file():
        raise CliError(f"No Giftrun store in {folder} (no giftrun.sqlite3 there). Pass --from FOLDER.")
    source = Store(folder)
    target = Store(url, schema=args.schema or settings.database_schema)
    _out(f"Copying {source.info.backend} {source.info.where} → {target.info.backend} {target.info.where}")
    for line in copy_store(source, target).lines():
        _out(f"  {line}")
    _out(
        "Done. Run it again at any time: rows already there are kept, and a send the file holds as sent "
        "or unknown always wins over one the database could send again."
    )
    return EXIT_OK


# -- servers ------------------------------------------------------------------------------
def cmd_sandbox(args: argparse.Namespace, settings: Settings) -> int:
    from ..sandbox import DEFAULT_TOKEN, Faults, Lifecycle, Sandbox

    faults = Faults(
        latency=args.latency,
        rate_limit=args.rate_limit,
        limiter=LimiterKind(args.limiter),
        retry_after=args.retry_after,
        error_503=args.p503,
        error_500_after_create=args.p500_after_create,
        hang_after_create=args.p_hang,
        hang_seconds=args.hang_seconds,
        seed=args.seed,
    )
    secret = args.webhook_secret or (settings.webhook_secret.reveal() if settings.webhook_secret else None)
    sandbox = Sandbox(
        args.token or DEFAULT_TOKEN,
        port=args.port,
        faults=faults,
        webhook_url=args.webhook_url,
        webhook_secret=secret if args.webhook_url else None,
        lifecycle=Lifecycle(speed=args.speed) if args.lifecycle else None,
    )
    sandbox.start()
    _out(f"# &Open sandbox listening on {sandbox.url} (a fake &Open: nothing is really sent)")
    _out("# paste these lines into another shell to point the CLI at it (a sandbox token, not a secret):")
    _out(f"export ANDOPEN_BASE_URL={sandbox.url}")
    _out(f"export ANDOPEN_API_KEY={sandbox.token}")
    _out(f"export ANDOPEN_CAMPAIGN_ID={sandbox.campaign_ids[0]}")
    _out(f"# {len(sandbox.campaign_ids)} campaigns; `python -m lib.cli campaigns` lists them")
    if faults.rate_limit and faults.rate_limit > 0:
        _out(
            f"# gift requests limited to {faults.rate_limit:g}/s by a {faults.limiter.value.replace('-', ' ')}; "
            f"429s {'carry Retry-After' if faults.retry_after else 'carry no Retry-After'}"
        )
    if args.webhook_url:
        _out(f"  webhooks → {args.webhook_url}")
    _wait_for_signal()
    sandbox.stop()
    return EXIT_OK


def cmd_webhooks(args: argparse.Namespace, settings: Settings) -> int:
    from ..httpguard import Limits
    from ..webhooks import serve

    if not settings.webhook_secret:
        raise CliError("ANDOPEN_WEBHOOK_SECRET is not set: the receiver refuses unsigned events.")
    store = open_store(settings)
    _out(
        f"Webhook receiver on http://{args.host}:{args.port}/webhooks/andopen "
        f"(store: {store.info.backend} {store.info.where})"
    )
    on_accepted = None
    if settings.history_sheet:
        from ..sheet_source import history_mirror

        on_accepted = history_mirror(settings, store)
        _out("  accepted events are also appended to the Gift history tab of GIFTRUN_HISTORY_SHEET")
    serve(
        store,
        settings.webhook_secret.reveal(),
        host=args.host,
        port=args.port,
        on_accepted=on_accepted,
        limits=Limits.from_settings(settings),
    )
    return EXIT_OK


def cmd_campaigns(args: argparse.Namespace, settings: Settings) -> int:
    client = _client(settings)
    for c in client.iter_campaigns():
        _out(f"{c.id}  {c.name}" + (f"  [{c.state}]" if c.state and c.state != "available" else ""))
    return EXIT_OK


def _wait_for_signal() -> None:
    done = threading.Event()
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, lambda *_: done.set())
    while not done.wait(0.5):
        pass
