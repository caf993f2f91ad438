"""Headless commands: `send`, `status`, `do-not-gift`, `store`, `webhooks`, `sandbox`.

Exit codes: 0 the run completed (row errors included); 1 the run was stopped (bad key,
unusable campaign, interrupted); 2 the input or configuration is unusable. Never a
traceback: every expected failure prints one clear line.
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import re
import signal
import stat
import sys
import threading
import time
from pathlib import Path
from typing import Sequence

from . import donotgift
from . import eligibility as elig
from . import guardrails
from .andopen import AndOpenClient, AndOpenError, RunStoppingError
from .models import Campaign
from .control_chars import visible
from .errors import EXIT_INPUT, EXIT_OK, EXIT_STOPPED, GiftrunError
from .models import status_label, utcnow
from .polling import poll_statuses
from .recipients import YES_TEXT, ColumnMappingError, is_unclear_approval
from .review import describe_overwrites, held_results, status_results
from .runtime import http_session, make_client, open_store
from .sandbox_limiters import LimiterKind
from .send_job import PreparedSend, SendChoices, prepare_send
from .sending import DEFAULT_RATE, MAX_CONCURRENCY, SendRun
from .settings import Settings
from .sources import CsvFileSink, LoadedList, load_csv_path
from .plan import apply_results
from .store import RunInProgress, Store
from .timefmt import shown
from .unknowns import ago, unknowns_report
from .writeback import GIFT_REQUEST_ID, ResultSink, merge_results, result_values


class CliError(GiftrunError):
    """A command cannot go on; the second argument is the exit code (default 2, input)."""

    def __init__(self, message: str, exit_code: int = EXIT_INPUT) -> None:
        super().__init__(message, exit_code=exit_code)


def _out(msg: str = "") -> None:
    """Every line the CLI prints: list content in it (names, emails, file names) may hold
    control or direction characters, shown as escapes so they never act on the terminal."""
    print(visible(msg), flush=True)


def _err(msg: str) -> None:
    print(f"error: {visible(msg)}", file=sys.stderr, flush=True)


# -- sources ----------------------------------------------------------------------------
def _parse_map(pairs: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or ():
        field, sep, column = pair.partition("=")
        field = field.strip().lower().replace("-", "_")
        if not sep or field not in {"first_name", "last_name", "email", "approved"} or not column.strip():
            raise CliError(f"--map {pair!r}: use FIELD=COLUMN with FIELD one of first_name, last_name, email, approved.")
        if out.get(field, column.strip()) != column.strip():
            raise CliError(f"--map gives {field} twice ('{out[field]}' and '{column.strip()}'): give each field once.")
        out[field] = column.strip()
    return out


class Source:
    """A CSV path or a Google Sheet, loaded, with the sink that writes results back."""

    def __init__(self, text: str, settings: Settings, overrides: dict[str, str], worksheet: str | None) -> None:
        self.text = text
        self.is_sheet = _source_kind(text) == "sheet"
        self.sink: ResultSink
        self.sheet_sink = None
        if self.is_sheet:
            from .sheet_source import SheetColumnsError, load_sheet

            try:
                self.loaded, self.sheet_sink = load_sheet(text, settings, overrides, worksheet)
            except SheetColumnsError as exc:
                raise CliError(f"--map: {exc}") from None
            self.sink = self.sheet_sink
        else:
            try:
                self.loaded = load_csv_path(text, overrides)
            except ColumnMappingError as exc:
                raise CliError(f"--map: {exc}") from None
            self.sink = CsvFileSink(text, self.loaded)

    def finish(self, store: Store) -> None:
        """For a sheet: settle moved writes and append this list's status events to its
        `Gift history` tab (created when missing)."""
        if self.sheet_sink is None:
            return
        from . import sheets
        from .sheet_source import mirror_events

        self.sheet_sink.settle()
        sheet = self.sheet_sink.sheet
        ids = {g.strip() for g in _gift_ids(self.loaded) if g.strip()}
        ids |= {e.gift_request_id for e in store.journal(self.loaded.list_key).values() if e.gift_request_id}
        events = [e for gid in sorted(ids) for e in store.events(gift_request_id=gid)]
        if events:
            n = mirror_events(store, sheets.history_target(sheet.ref), lambda: sheet.history_tab(create=True), events)
            _out(f"Gift history tab: {n} new events appended.")


def _print_notes(loaded: LoadedList) -> None:
    """What reading the file worked around (a title above the header), said once."""
    for note in loaded.document.notes if loaded.document is not None else ():
        _out(f"Note: {note}")


def _gift_ids(loaded: LoadedList) -> list[str]:
    ids = result_values(loaded.frame, GIFT_REQUEST_ID)
    return [] if ids is None else ids.tolist()


def _import_shared_history(settings: Settings, store: Store) -> None:
    if not settings.history_sheet:
        return
    from .sheet_source import import_shared_history

    try:
        n = import_shared_history(settings, store)
    except Exception as exc:  # the local store still works; say so and go on
        _out(f"Warning: could not read the shared Gift history ({exc}); using the local store only.")
    else:
        if n:
            _out(f"Imported {n} events from the shared Gift history.")


MAX_SOURCE_CHARS = 4096  # PATH_MAX on Linux; a Google Sheet link is shorter still (sheets.MAX_SHEET_LINK)
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def _looks_like_sheet(raw: str) -> bool:
    from .sheets import looks_like_sheet  # only when needed: a CSV run does not load gspread

    return looks_like_sheet(raw)


def _source_kind(text: str) -> str:
    """"csv" for a regular file, "sheet" for a Google Sheet link or key. Anything else
    (a folder, a pipe, a device, another kind of URL) is refused before it is opened: a
    pipe or /dev/zero would never finish reading. An existing file wins over a name that
    could also be a sheet key (`sheets.looks_like_sheet` is the one rule for what is a sheet)."""
    raw = text.strip()
    shown = visible(raw if len(raw) <= 80 else raw[:79] + "…")
    if not raw:
        raise CliError("SOURCE is empty: give a CSV file path or a Google Sheet link.")
    if len(text) > MAX_SOURCE_CHARS:
        raise CliError(f"SOURCE is {len(text):,} characters long: a file path or a Google Sheet link is at most "
                       f"{MAX_SOURCE_CHARS:,}.")
    if m := _URL.match(raw):
        scheme = m.group(1).lower()
        if scheme == "file":
            from urllib.parse import unquote, urlsplit

            raise CliError(f"'{shown}' is a file URL: give the file's path instead ({visible(unquote(urlsplit(raw).path))}).")
        if scheme in ("http", "https") and _looks_like_sheet(raw):
            return "sheet"
        if scheme in ("http", "https"):
            raise CliError(f"'{shown}' is a web address but not a Google Sheet link: download the CSV and give its "
                           "path, or give the sheet's link (https://docs.google.com/spreadsheets/d/…/edit).")
        raise CliError(f"'{shown}': {scheme}:// addresses are not read; SOURCE is a CSV file path or a Google Sheet "
                       "link.")
    try:
        info = os.stat(text)
    except (FileNotFoundError, NotADirectoryError):
        if _looks_like_sheet(raw):  # an existing file by that name wins
            return "sheet"
        raise CliError(f"File not found: {shown}") from None
    except OSError as exc:
        raise CliError(f"Cannot open {shown}: {exc.strerror or exc}.") from None
    except ValueError:  # an embedded NUL byte
        raise CliError(f"'{shown}' is not a usable file path.") from None
    mode = info.st_mode
    if stat.S_ISREG(mode):
        return "csv"
    what = ("a folder" if stat.S_ISDIR(mode) else "a named pipe" if stat.S_ISFIFO(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "not a regular file")
    raise CliError(f"'{shown}' is {what}, not a CSV file: save the list to a file and give its path.")


# -- send ---------------------------------------------------------------------------------
def cmd_send(args: argparse.Namespace, settings: Settings) -> int:
    try:
        window = elig.parse_window(args.lookback)
    except ValueError as exc:
        raise CliError(f"--lookback: {exc}") from None
    campaign_id = args.campaign or settings.campaign_id
    if not campaign_id:
        raise CliError("No campaign: pass --campaign ID or set ANDOPEN_CAMPAIGN_ID.")
    client = _client(settings)
    store = open_store(settings)
    source = Source(args.source, settings, _parse_map(args.map), args.worksheet)
    loaded = source.loaded
    _print_notes(loaded)
    loaded.require_columns(approval=True)
    campaign = _usable_campaign(client, campaign_id)
    store.mark_orphans_unknown(loaded.list_key)  # a killed run's attempts: unknown, clearable below
    _clear_unknowns(store, loaded.list_key, args.clear_unknown or (), args.actor)
    _import_shared_history(settings, store)
    limits = guardrails.RunLimits(args.max_gifts, settings.daily_limit)
    prepared = prepare_send(loaded, store, SendChoices(campaign.id, args.actor, window, limits, args.rate,
                                                       args.concurrency), now=utcnow())
    loaded.frame = prepared.review.frame
    _print_plan(prepared, store, full=args.dry_run)
    if args.dry_run:
        _out("Dry run: nothing sent, nothing written.")
        return EXIT_OK
    if prepared.plan.items:
        _out(f"Sending to campaign \"{campaign.name}\" ({campaign.id}) at up to {args.rate:g} requests/s "
             f"with key {client.masked_token}.")
    else:
        _out("Nothing new to send; writing what the journal holds back to the list.")
    run = prepared.new_run(client, store, source.sink, to_sheet=source.is_sheet)
    run.begin()  # the list's lock before the first write: a refused run (RunInProgress) leaves the list alone
    try:
        run.write_preamble()  # validation errors, eligibility etc. land at once
    except BaseException:
        store.finish_run(run.run_id, "stopped", run.snapshot().counts(), "writing to the list failed")
        raise
    _run_in_foreground(run, len(prepared.plan.items))
    return _after_run(run, store, source, limits)


def _usable_campaign(client: AndOpenClient, campaign_id: str) -> Campaign:
    try:
        campaign = client.get_campaign(campaign_id)
    except RunStoppingError as exc:
        raise CliError(f"Stopped before sending: {exc}", EXIT_STOPPED) from None
    except AndOpenError as exc:
        if exc.status == 404:
            raise CliError(f"Campaign {campaign_id} was not found in &Open. Check the id "
                           "(python -m lib.cli campaigns lists them).", EXIT_STOPPED) from None
        raise CliError(f"Could not check the campaign: {exc}", EXIT_STOPPED) from None
    if (campaign.state or "").lower() == "archived":
        raise CliError(f"Campaign \"{campaign.name}\" ({campaign.id}) is archived in &Open: pick an available one "
                       "(python -m lib.cli campaigns lists them).", EXIT_STOPPED)
    return campaign


def _clear_unknowns(store: Store, list_key: str, emails: Sequence[str], actor: str) -> None:
    for email in emails:
        if store.clear_unknown(list_key, email, actor):
            _out(f"Cleared the unknown outcome for {email}: it will be sent in this run if approved.")
        else:
            _out(f"No unknown outcome recorded for {email} in this list; nothing cleared.")


def _print_plan(prepared: PreparedSend, store: Store, *, full: bool) -> None:
    """What the run will do, row counts first; every row on a dry run."""
    loaded, plan, window, limits = prepared.loaded, prepared.plan, prepared.choices.window, prepared.choices.limits
    counts = plan.counts()
    _out(f"{loaded.name}: {len(plan.rows)} rows — {counts['send']} to send, {counts['not approved']} not approved, "
         f"{counts['invalid']} invalid, {counts['duplicate']} duplicate, {counts['skip']} skipped "
         f"(look-back {window.label if window else 'off'}), {counts['do not gift']} on the do-not-gift list, "
         f"{counts['already sent']} already sent, "
         f"{counts['unknown outcome'] + counts['blocked']} waiting for a check in &Open.")
    since = next((r.finished_at for r in store.runs() if r.list_key == loaded.list_key and r.finished_at), None)
    resolved = unknowns_report(store, loaded.list_key, since=since)
    if resolved.resolved or resolved.waiting:
        _out(f"Unknown outcomes{' since the last run' if since else ''}: {resolved.describe()}.")
    _explain_rows(loaded, plan, full=full, max_gifts=limits.max_gifts)
    room = store.daily_room(limits.daily_limit) if limits.daily_limit else None
    for line in guardrails.preflight(counts["send"], limits, room):
        _out(line)
    if prepared.overwrites:
        _out(f"Note: {describe_overwrites(prepared.overwrites)}")


def _run_in_foreground(run: SendRun, planned: int) -> None:
    """Run on a worker thread, printing progress every 5 s; Ctrl-C or SIGTERM stops it cleanly."""
    stop_signals = _stop_on_signals(run)
    worker = threading.Thread(target=_run_safely, args=(run,), daemon=True)
    try:
        worker.start()
        last = 0.0
        while worker.is_alive():
            worker.join(0.2)
            if time.monotonic() - last > 5 and planned:
                p = run.snapshot()
                if p.state == "running":
                    eta = f", about {p.eta:.0f}s left" if p.eta else ""
                    _out(f"  … {p.done}/{planned} done, {p.sent} sent, {p.rate:.1f}/s{eta}")
                last = time.monotonic()
    finally:
        stop_signals()
    if isinstance(getattr(run, "crash", None), BaseException):
        if isinstance(run.crash, RunInProgress):
            raise CliError(str(run.crash), EXIT_STOPPED)
        raise CliError(f"The run failed: {run.crash}. Everything sent so far is journalled; "
                       "run the command again to continue.", EXIT_STOPPED)


def _after_run(run: SendRun, store: Store, source: Source, limits: guardrails.RunLimits) -> int:
    """The run's figures, what still needs a person, and the list's last write-back."""
    loaded = source.loaded
    p = run.snapshot()
    _out(f"Sent {p.sent} · rejected {p.rejected} · unknown outcome {p.unknown} · not sent (safe to retry) "
         f"{p.failed} · skipped at send time {p.skipped} · not sent (a limit was reached) {p.limited} · "
         f"retries {p.retries} · 429s {p.throttled} · {p.elapsed:.1f}s")
    if p.limited and p.state == "completed" and limits.max_gifts is not None:
        _out(f"{p.limited} approved rows were not sent: this run's limit of {limits.max_gifts:,} gifts was reached. "
             "Their Send error says so; run again to send them.")
    report = unknowns_report(store, loaded.list_key)
    if p.resolved:
        _out(f"{p.resolved} unknown outcome{'s' if p.resolved != 1 else ''} resolved during the run from &Open's "
             "own updates: their rows have the gift id.")
    if report.waiting:
        _out(f"{report.waiting} rows need checking in &Open (the oldest attempt {ago(report.oldest_wait)}; see their "
             "Send error). They resolve by themselves when &Open's update for the gift arrives (a webhook receiver "
             "or `status --poll`); if &Open has no gift for one, run again with --clear-unknown EMAIL to send it.")
    try:
        source.finish(store)
    except Exception as exc:
        _out(f"Warning: finishing the write-back failed ({exc}); the journal keeps every result.")
    if run.unflushed:
        _out(f"Warning: {len(run.unflushed)} results could not be written to {loaded.name} "
             f"({p.writeback_error}). They are kept in the journal and written by the next run.")
    else:
        _out(f"Results written to {loaded.name}.")
    if p.state == "stopped":
        _out(f"Run stopped: {p.message}")
        return EXIT_STOPPED
    return EXIT_OK


EXPLAINED_ACTIONS = ("invalid", "duplicate", "skip", "do not gift", "unknown outcome", "blocked")


def _explain_rows(loaded: LoadedList, plan, *, full: bool, max_gifts: int | None = None, limit: int = 50) -> None:
    """Say which rows will not be sent and why (every row on a dry run, which writes no
    reason into the list, including the rows beyond the run's cap), and warn about Approved
    values that are neither a yes nor a no."""
    shown = 0
    beyond = set(guardrails.beyond_cap([i.row_key for i in plan.items], max_gifts)) if full else set()
    for r in plan.rows:
        if str(r.action) in EXPLAINED_ACTIONS or (full and r.action.value != "send") or r.row_key in beyond:
            if full or shown < limit:
                why = f"beyond this run's cap of {max_gifts:,} gifts, not sent" if r.row_key in beyond else r.message
                _out(f"  row {r.row_number} {r.recipient.email or '(no email)'}: {r.action}"
                     + (f" — {why}" if why else ""))
            shown += 1
    if shown > limit and not full:
        _out(f"  … and {shown - limit} more rows (see Send error / Skip reason in the list).")
    col = loaded.cmap.approved
    if col:
        odd = [(i + 1, v) for i, v in enumerate(loaded.frame[col].astype(str)) if is_unclear_approval(v)]
        for n, v in odd[:10]:
            _out(f"  row {n}: Approved is '{v}', which is not a recognised yes ({YES_TEXT}): not sent.")


def _run_safely(run: SendRun) -> None:
    try:
        run.execute()  # cmd_send has taken the list's lock (run.begin())
    except BaseException as exc:  # reported by the main thread
        run.crash = exc


def _stop_on_signals(run: SendRun):
    def handler(signum, frame):  # noqa: ARG001
        _out("Stopping: no new sends; waiting for the ones in flight…")
        run.stop("Interrupted.")

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    return lambda: [signal.signal(s, h) for s, h in old.items()]


# -- do-not-gift ----------------------------------------------------------------------------
def cmd_do_not_gift(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    command = args.dng_command
    try:
        if command == "add":
            entry = donotgift.new_entry(args.value, args.reason)
            report = store.add_do_not_gift([entry], args.actor)
            what = "Added" if report.added else "Updated the reason of" if report.changed else "Already listed:"
            _out(f"{what} {entry.label}" + (f" ({entry.reason})" if entry.reason else "")
                 + (" and every subdomain of it." if entry.is_domain and report.added else "."))
        elif command == "remove":
            gone = store.remove_do_not_gift(args.value, args.actor)
            if gone is None:
                raise CliError(f"{donotgift.canonical(args.value)} is not on the do-not-gift list; nothing removed.")
            _out(f"Removed {gone.label} (added by {gone.added_by} on {gone.added_at[:10]}); recorded in the audit "
                 "trail. It can be gifted again.")
        elif command == "import":
            return _import_do_not_gift(args, store)
        else:
            entries = store.do_not_gift()
            _out(f"{donotgift.entries_text(len(entries))} on the do-not-gift list"
                 + (" (a domain also blocks its subdomains):" if entries else "."))
            width = max((len(e.label) for e in entries), default=0)
            for e in entries:
                _out(f"  {e.label:<{width}}  {e.reason or '(no reason)'} — added by {e.added_by} "
                     f"{shown(e.added_at, seconds=False)}")
    except donotgift.DoNotGiftError as exc:
        raise CliError(str(exc)) from None
    return EXIT_OK


def _import_do_not_gift(args: argparse.Namespace, store: Store) -> int:
    from .csvio import MAX_UPLOAD_BYTES

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
    _out(f"Imported {path.name}: {report.added} added, {report.changed} reasons changed, {report.unchanged} already "
         "listed.")
    return EXIT_OK


# -- status -------------------------------------------------------------------------------
def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    if args.source is None:
        return _poll_everything(args, settings, store)
    source = Source(args.source, settings, _parse_map(args.map), args.worksheet)
    loaded = source.loaded
    _print_notes(loaded)
    journal = store.journal(loaded.list_key)
    ids = [g for g in _gift_ids(loaded) if g.strip()]
    ids += [e.gift_request_id for e in journal.values() if e.gift_request_id]
    _import_shared_history(settings, store)  # final statuses known elsewhere need no GET
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
    source.sink.write(results)
    source.finish(store)
    _out(f"Wrote Gift status for {len(results)} of {len(loaded.frame)} rows to {loaded.name}.")
    report = unknowns_report(store, loaded.list_key)
    if report.waiting or report.resolved:
        _out(report.describe() + ".")
    return EXIT_OK


def _poll_everything(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    """`status --poll` with no SOURCE: every gift the store knows that is not final yet, from
    every list and host (a scheduled job keeps a shared database current without webhooks)."""
    if not args.poll:
        raise CliError("Give a SOURCE to write statuses onto, or --poll to ask &Open about every gift in the store.")
    _import_shared_history(settings, store)
    ids = [g.gift_request_id for g in store.gifts()]
    ids += [e.gift_request_id for e in store.all_sends() if e.gift_request_id]
    summary = poll_statuses(_client(settings), store, ids, rate=args.rate)
    _out(f"Polled {summary.checked} gifts ({summary.skipped_final} already final): {summary.changed} changed "
         f"(store: {store.info.backend} {store.info.where}).")
    for err in summary.errors[:10]:
        _out(f"  {err}")
    counts: dict[str, int] = {}
    for g in store.gifts():
        counts[status_label(g.status) or "(none)"] = counts.get(status_label(g.status) or "(none)", 0) + 1
    _out("Gifts by status: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"))
    return EXIT_STOPPED if summary.errors and summary.checked == 0 else EXIT_OK


# -- the store ------------------------------------------------------------------------------
def cmd_store_info(args: argparse.Namespace, settings: Settings) -> int:
    from .store.migrations import version

    store = open_store(settings)
    _out(f"{store.info.backend}: {store.info.where} (schema version {version(store.db)})")
    _out(f"{len(store.all_sends())} journal lines, {len(store.gifts())} gifts, {len(store.events())} status events, "
         f"{len(store.runs(limit=100000))} runs, {len(store.saved_lists())} saved lists")
    return EXIT_OK


def cmd_store_copy(args: argparse.Namespace, settings: Settings) -> int:
    """Copy the local SQLite store into a database, idempotently (run it again at any time)."""
    from .store.copy import copy_store

    url = args.to or (settings.database_url.reveal() if settings.database_url else None)
    if not url:
        raise CliError("Where to? Pass --to postgresql://… or set GIFTRUN_DATABASE_URL.")
    from .store import is_database_url

    if not is_database_url(url):
        raise CliError("--to must be a PostgreSQL URL (postgresql://user:password@host:5432/dbname). "
                       "The value is not shown: it may hold a password.")
    folder = Path(args.from_folder) if args.from_folder else settings.data_dir
    if not (folder / "giftrun.sqlite3").is_file():
        raise CliError(f"No Giftrun store in {folder} (no giftrun.sqlite3 there). Pass --from FOLDER.")
    source = Store(folder)
    target = Store(url, schema=args.schema or settings.database_schema)
    _out(f"Copying {source.info.backend} {source.info.where} → {target.info.backend} {target.info.where}")
    for line in copy_store(source, target).lines():
        _out(f"  {line}")
    _out("Done. Run it again at any time: rows already there are kept, and a send the file holds as sent "
         "or unknown always wins over one the database could send again.")
    return EXIT_OK


# -- servers ------------------------------------------------------------------------------
def cmd_sandbox(args: argparse.Namespace, settings: Settings) -> int:
    from .sandbox import DEFAULT_TOKEN, Faults, Lifecycle, Sandbox

    faults = Faults(latency=args.latency, rate_limit=args.rate_limit, limiter=LimiterKind(args.limiter),
                    retry_after=args.retry_after, error_503=args.p503,
                    error_500_after_create=args.p500_after_create, hang_after_create=args.p_hang,
                    hang_seconds=args.hang_seconds, seed=args.seed)
    secret = args.webhook_secret or (settings.webhook_secret.reveal() if settings.webhook_secret else None)
    sandbox = Sandbox(args.token or DEFAULT_TOKEN, port=args.port, faults=faults, webhook_url=args.webhook_url,
                      webhook_secret=secret if args.webhook_url else None,
                      lifecycle=Lifecycle(speed=args.speed) if args.lifecycle else None)
    sandbox.start()
    _out(f"# &Open sandbox listening on {sandbox.url} (a fake &Open: nothing is really sent)")
    _out("# paste these lines into another shell to point the CLI at it (a sandbox token, not a secret):")
    _out(f"export ANDOPEN_BASE_URL={sandbox.url}")
    _out(f"export ANDOPEN_API_KEY={sandbox.token}")
    _out(f"export ANDOPEN_CAMPAIGN_ID={sandbox.campaign_ids[0]}")
    _out(f"# {len(sandbox.campaign_ids)} campaigns; `python -m lib.cli campaigns` lists them")
    if faults.rate_limit and faults.rate_limit > 0:
        _out(f"# gift requests limited to {faults.rate_limit:g}/s by a {faults.limiter.value.replace('-', ' ')}; "
             f"429s {'carry Retry-After' if faults.retry_after else 'carry no Retry-After'}")
    if args.webhook_url:
        _out(f"  webhooks → {args.webhook_url}")
    _wait_for_signal()
    sandbox.stop()
    return EXIT_OK


def cmd_webhooks(args: argparse.Namespace, settings: Settings) -> int:
    from .httpguard import Limits
    from .webhooks import serve

    if not settings.webhook_secret:
        raise CliError("ANDOPEN_WEBHOOK_SECRET is not set: the receiver refuses unsigned events.")
    store = open_store(settings)
    _out(f"Webhook receiver on http://{args.host}:{args.port}/webhooks/andopen "
         f"(store: {store.info.backend} {store.info.where})")
    on_accepted = None
    if settings.history_sheet:
        from .sheet_source import history_mirror

        on_accepted = history_mirror(settings, store)
        _out("  accepted events are also appended to the Gift history tab of GIFTRUN_HISTORY_SHEET")
    serve(store, settings.webhook_secret.reveal(), host=args.host, port=args.port, on_accepted=on_accepted,
          limits=Limits.from_settings(settings))
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


def _client(settings: Settings) -> AndOpenClient:
    if not settings.api_key:
        raise CliError("ANDOPEN_API_KEY is not set. Set it (and ANDOPEN_CAMPAIGN_ID) in the environment; "
                       "for a try-out, start `python -m lib.cli sandbox` and use the URL and token it prints.")
    try:
        return make_client(settings, http_session())
    except AndOpenError as exc:
        raise CliError(str(exc)) from None


# -- entry point ----------------------------------------------------------------------------
def _number(kind: type, low: float, high: float, unit: str = ""):
    """An argparse type: a finite number of `kind` within [low, high], or a one-line refusal.
    nan, inf, 1e-300 and 10**12 all get the same clear answer instead of a hang or a crash."""
    def parse(text: str):
        try:
            value = kind(text)
        except (TypeError, ValueError, OverflowError):
            value = None
        if value is None or not math.isfinite(value) or not low <= value <= high:
            what = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"'{visible(text)}' is not allowed: give {what} from {low:g} to {high:g}"
                                             + (f" ({unit})" if unit else "") + ".")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its own messages
    return parse


RATE = _number(float, 0.1, 1000, "requests per second")
CONCURRENCY = _number(int, 1, MAX_CONCURRENCY, "requests in flight")
PORT = _number(int, 1, 65535)
SANDBOX_PORT = _number(int, 0, 65535, "0 picks a free port")
SHARE = _number(float, 0, 1, "a share: 0.05 is 5%")
SECONDS = _number(float, 0, 3600, "seconds")
MAX_GIFTS = _number(int, 1, guardrails.MAX_GIFTS_CEILING, "gifts in this run")


class _Parser(argparse.ArgumentParser):
    """argparse, but every refusal is one line (no usage block) and echoes no raw control
    characters from the command line."""

    def error(self, message: str):  # noqa: D401 (argparse's name)
        self.exit(EXIT_INPUT, f"error: {visible(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m lib.cli", description="Giftrun: send &Open gifts to a reviewed list.")
    sub = p.add_subparsers(dest="command", required=True)

    def list_args(sp: argparse.ArgumentParser, optional: bool = False) -> None:
        sp.add_argument("source", nargs="?" if optional else None, help="a CSV file path or a Google Sheet URL")
        sp.add_argument("--map", action="append", metavar="FIELD=COLUMN",
                        help="use COLUMN for FIELD (first_name, last_name, email, approved)")
        sp.add_argument("--worksheet", help="worksheet title (Google Sheets; default: the first)")

    s = sub.add_parser("send", help="send approved, eligible, unsent rows and write results back",
                       description=f"Send a gift to each approved, valid, eligible row never sent. An Approved cell "
                                   f"of {YES_TEXT} (any case) approves its row.")
    list_args(s)
    s.add_argument("--campaign", help="campaign id (default: ANDOPEN_CAMPAIGN_ID)")
    s.add_argument("--rate", type=RATE, default=DEFAULT_RATE, help="requests per second (default %(default)s)")
    s.add_argument("--concurrency", type=CONCURRENCY, default=MAX_CONCURRENCY, help=argparse.SUPPRESS)  # most in flight
    s.add_argument("--lookback", default=elig.DEFAULT,
                   help="skip people gifted within: off, 30d, 60d, 90d, 12m, forever or Nd (default %(default)s)")
    s.add_argument("--clear-unknown", action="append", metavar="EMAIL",
                   help="after checking &Open: allow this person's unknown-outcome row to be sent again")
    s.add_argument("--actor", help="who is sending (audit trail; default GIFTRUN_ACTOR, else cli)")
    s.add_argument("--dry-run", action="store_true", help="show what would be sent; send and write nothing")
    s.add_argument("--max-gifts", type=MAX_GIFTS, default=None, metavar="N",
                   help="send at most N gifts in this run; the approved rows beyond say why")
    s.set_defaults(func=cmd_send)

    d = sub.add_parser("do-not-gift", help="people (emails) and domains (@example.com) never to gift: "
                                           "add, remove, list, import")
    d_sub = d.add_subparsers(dest="dng_command", required=True)
    da = d_sub.add_parser("add", help="add a person or a whole domain (@example.com, subdomains included)")
    da.add_argument("value", help="an email (ana@example.com) or a domain (@example.com)")
    da.add_argument("--reason", default="", help="why (shown on every row it blocks)")
    dr = d_sub.add_parser("remove", help="remove an entry (recorded in the audit trail)")
    dr.add_argument("value")
    di = d_sub.add_parser("import", help="add every entry of a CSV (columns Email or Domain or Value, and Reason)")
    di.add_argument("file")
    for sp in (da, dr, di):
        sp.add_argument("--actor", help="who (audit trail; default GIFTRUN_ACTOR, else cli)")
    d_sub.add_parser("list", help="every entry, with its reason, who added it and when")
    d.set_defaults(func=cmd_do_not_gift)

    st_ = sub.add_parser("status", help="write each row's latest Gift status onto SOURCE; with no SOURCE and "
                                        "--poll, refresh every gift in the store")
    list_args(st_, optional=True)
    st_.add_argument("--poll", action="store_true", help="first ask &Open for every gift not yet final")
    st_.add_argument("--rate", type=RATE, default=5.0, help="polling requests per second")
    st_.set_defaults(func=cmd_status)

    w = sub.add_parser("webhooks", help="run the standalone webhook receiver")
    w.add_argument("--port", type=PORT, default=8502)
    w.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to accept from other hosts")
    w.set_defaults(func=cmd_webhooks)

    sto = sub.add_parser("store", help="the store: `info`, or `copy` a local SQLite store into a database")
    store_sub = sto.add_subparsers(dest="store_command", required=True)
    info = store_sub.add_parser("info", help="which store is in use, its schema version and what it holds")
    info.set_defaults(func=cmd_store_info)
    cp = store_sub.add_parser("copy", help="copy the SQLite store into a PostgreSQL database (idempotent)")
    cp.add_argument("--to", help="postgresql://… (default: GIFTRUN_DATABASE_URL)")
    cp.add_argument("--from", dest="from_folder", help="the folder holding giftrun.sqlite3 (default: GIFTRUN_DATA_DIR)")
    cp.add_argument("--schema", help="the database schema (default: GIFTRUN_DATABASE_SCHEMA or giftrun)")
    cp.set_defaults(func=cmd_store_copy)

    c = sub.add_parser("campaigns", help="list the campaigns the key can use")
    c.set_defaults(func=cmd_campaigns)

    sb = sub.add_parser("sandbox", help="run the fake &Open server on its own")
    sb.add_argument("--port", type=SANDBOX_PORT, default=8600)
    sb.add_argument("--token", help="token the sandbox accepts (default: a fixed staging-shaped token)")
    sb.add_argument("--latency", type=SECONDS, default=0.0, help="seconds added to every request")
    sb.add_argument("--rate-limit", type=RATE, default=None, help="gift requests/s before 429")
    sb.add_argument("--limiter", choices=[k.value for k in LimiterKind], default=LimiterKind.TOKEN_BUCKET.value,
                    help="how --rate-limit is kept: a token bucket (burst of one second), a fixed one-second window "
                         "or a sliding one-second window (default %(default)s)")
    sb.add_argument("--no-retry-after", dest="retry_after", action="store_false",
                    help="answer 429 without a Retry-After header")
    sb.add_argument("--p503", type=SHARE, default=0.0, help="share answered 503 (nothing created)")
    sb.add_argument("--p500-after-create", type=SHARE, default=0.0, help="share answered 500 after creating")
    sb.add_argument("--p-hang", type=SHARE, default=0.0, help="share that hang after creating")
    sb.add_argument("--hang-seconds", type=SECONDS, default=30.0)
    sb.add_argument("--seed", type=_number(int, 0, 2**63 - 1), default=None)
    sb.add_argument("--lifecycle", action="store_true", help="gifts move to redeemed, dispatched, delivered")
    sb.add_argument("--speed", type=_number(float, 0.01, 10000, "speed-up factor"), default=1.0,
                    help="lifecycle speed-up factor")
    sb.add_argument("--webhook-url", help="deliver signed webhooks here")
    sb.add_argument("--webhook-secret", help="secret to sign with (default ANDOPEN_WEBHOOK_SECRET)")
    sb.set_defaults(func=cmd_sandbox)
    return p


class _NoTraceback(logging.Formatter):
    """The CLI promises one clear line per problem, never a traceback."""

    def formatException(self, ei) -> str:  # noqa: N802 (logging's name)
        return ""

    def format(self, record: logging.LogRecord) -> str:
        record.exc_text = ""
        return visible(super().format(record).rstrip())


def main(argv: Sequence[str] | None = None) -> int:
    handler = logging.StreamHandler()
    handler.setFormatter(_NoTraceback("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        if "actor" in vars(args) and not args.actor:
            args.actor = settings.actor or "cli"
        return args.func(args, settings)
    except GiftrunError as exc:  # each says what to do, and how the command ends
        _err(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return EXIT_STOPPED
    except BrokenPipeError:  # `… | head`: the reader left; not an error worth a message
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # as the Python docs advise
        return EXIT_OK
    except Exception as exc:  # a bug: say so plainly, keep the details in the log file
        logging.getLogger("giftrun").debug("unexpected", exc_info=True)
        _err(f"unexpected {type(exc).__name__}: {exc}. Everything sent so far is journalled.")
        return EXIT_STOPPED


if __name__ == "__main__":
    sys.exit(main())

