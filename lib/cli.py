"""Headless commands: `send`, `status`, `webhooks`, `sandbox`.

Exit codes: 0 the run completed (row errors included); 1 the run was stopped (bad key,
unusable campaign, interrupted); 2 the input or configuration is unusable. Never a
traceback: every expected failure prints one clear line.
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Sequence

from . import eligibility as elig
from .andopen import AndOpenClient, AndOpenError, RunStoppingError
from .models import utcnow
from .polling import poll_statuses
from .recipients import is_approved
from .review import review, status_results
from .runtime import http_session, make_client, open_store
from .sandbox_limiters import LimiterKind
from .sending import DEFAULT_RATE, FLUSH_INTERVAL, MAX_CONCURRENCY, SendRun
from .settings import Settings, SettingsError
from .csvio import CsvError
from .sources import CsvFileSink, LoadedList, SourceError, load_csv_path
from .store import NO_LOOKBACK, RunInProgress, Store
from .writeback import GIFT_REQUEST_ID

EXIT_OK, EXIT_STOPPED, EXIT_INPUT = 0, 1, 2


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_INPUT) -> None:
        super().__init__(message)
        self.code = code


def _out(msg: str = "") -> None:
    print(msg, flush=True)


# -- sources ----------------------------------------------------------------------------
def _parse_map(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs or ():
        field, sep, column = pair.partition("=")
        field = field.strip().lower().replace("-", "_")
        if not sep or field not in {"first_name", "last_name", "email", "approved"} or not column.strip():
            raise CliError(f"--map {pair!r}: use FIELD=COLUMN with FIELD one of first_name, last_name, email, approved.")
        out[field] = column.strip()
    return out


class Source:
    """A CSV path or a Google Sheet, loaded, with the sink that writes results back."""

    def __init__(self, text: str, settings: Settings, overrides: dict[str, str], worksheet: str | None) -> None:
        self.text = text
        self.is_sheet = _looks_like_sheet(text)
        if self.is_sheet:
            from .sheet_source import SHEET_FLUSH_INTERVAL, load_sheet

            self.loaded, self.sink = load_sheet(text, settings, overrides, worksheet)
            self.flush_interval = SHEET_FLUSH_INTERVAL
        else:
            self.loaded = load_csv_path(text, overrides)
            self.sink = CsvFileSink(text, self.loaded)
            self.flush_interval = FLUSH_INTERVAL

    def finish(self, store: Store) -> None:
        """For a sheet: settle moved writes and append this list's status events to its
        `Gift history` tab (created when missing)."""
        if not self.is_sheet:
            return
        from . import sheets
        from .sheet_source import mirror_events

        self.sink.settle()
        sheet = self.sink.sheet
        ids = {g.strip() for g in self.loaded.frame.get(GIFT_REQUEST_ID, []) if str(g).strip()}
        ids |= {e.gift_request_id for e in store.journal(self.loaded.list_key).values() if e.gift_request_id}
        events = [e for gid in sorted(ids) for e in store.events(gift_request_id=gid)]
        if events:
            n = mirror_events(store, sheets.history_target(sheet.ref), lambda: sheet.history_tab(create=True), events)
            _out(f"Gift history tab: {n} new events appended.")


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


def _looks_like_sheet(text: str) -> bool:
    if Path(text).exists():
        return False
    return "docs.google.com/spreadsheets" in text or bool(re.fullmatch(r"[A-Za-z0-9_-]{30,}", text.strip()))


# -- send ---------------------------------------------------------------------------------
def cmd_send(args: argparse.Namespace, settings: Settings) -> int:
    try:
        window = elig.parse_window(args.lookback)
    except ValueError as exc:
        raise CliError(f"--lookback: {exc}") from None
    if args.rate <= 0 or args.concurrency <= 0:
        raise CliError("--rate and --concurrency must be positive numbers.")
    campaign_id = args.campaign or settings.campaign_id
    if not campaign_id:
        raise CliError("No campaign: pass --campaign ID or set ANDOPEN_CAMPAIGN_ID.")
    client = _client(settings)
    store = open_store(settings)
    source = Source(args.source, settings, _parse_map(args.map), args.worksheet)
    loaded = source.loaded
    loaded.require_columns(approval=True)
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
    store.mark_orphans_unknown(loaded.list_key)  # a killed run's attempts: unknown, clearable below
    for email in args.clear_unknown or ():
        if store.clear_unknown(loaded.list_key, email, args.actor):
            _out(f"Cleared the unknown outcome for {email}: it will be sent in this run if approved.")
        else:
            _out(f"No unknown outcome recorded for {email} in this list; nothing cleared.")
    _import_shared_history(settings, store)
    rev = review(loaded, store, window, now=utcnow())
    loaded.frame = rev.frame
    plan = rev.plan
    counts = plan.counts()
    _out(f"{loaded.name}: {len(plan.rows)} rows — {counts['send']} to send, {counts['not approved']} not approved, "
         f"{counts['invalid']} invalid, {counts['duplicate']} duplicate, {counts['skip']} skipped "
         f"(look-back {window.label if window else 'off'}), {counts['already sent']} already sent, "
         f"{counts['unknown outcome'] + counts['blocked']} waiting for a check in &Open.")
    _explain_rows(loaded, plan, full=args.dry_run)
    if args.dry_run:
        _out("Dry run: nothing sent, nothing written.")
        return EXIT_OK
    if plan.items:
        _out(f"Sending to campaign \"{campaign.name}\" ({campaign.id}) at up to {args.rate:g} requests/s "
             f"with key {client.masked_token}.")
    else:
        _out("Nothing new to send; writing what the journal holds back to the list.")
    run = SendRun(client, store, loaded.list_key, plan.items, campaign.id, actor=args.actor, rate=args.rate,
                  concurrency=args.concurrency, sink=source.sink,
                  flush_interval=source.flush_interval,
                  lookback_days=NO_LOOKBACK if window is None else window.days)
    run.begin()  # the list's lock before the first write: a refused run (RunInProgress) leaves the list alone
    try:
        source.sink.write(rev.results())  # validation errors, eligibility etc. land at once
    except BaseException:
        store.finish_run(run.run_id, "stopped", run.snapshot().counts(), "writing to the list failed")
        raise
    stop_signals = _stop_on_signals(run)
    worker = threading.Thread(target=_run_safely, args=(run,), daemon=True)
    try:
        worker.start()
        last = 0.0
        while worker.is_alive():
            worker.join(0.2)
            if time.monotonic() - last > 5 and plan.items:
                p = run.snapshot()
                if p.state == "running":
                    eta = f", about {p.eta:.0f}s left" if p.eta else ""
                    _out(f"  … {p.done}/{len(plan.items)} done, {p.sent} sent, {p.rate:.1f}/s{eta}")
                last = time.monotonic()
    finally:
        stop_signals()
    if isinstance(getattr(run, "crash", None), BaseException):
        if isinstance(run.crash, RunInProgress):
            raise CliError(str(run.crash), EXIT_STOPPED)
        raise CliError(f"The run failed: {run.crash}. Everything sent so far is journalled; "
                       "run the command again to continue.", EXIT_STOPPED)
    p = run.snapshot()
    _out(f"Sent {p.sent} · rejected {p.rejected} · unknown outcome {p.unknown} · not sent (safe to retry) "
         f"{p.failed} · skipped at send time {p.skipped} · retries {p.retries} · 429s {p.throttled} · "
         f"{p.elapsed:.1f}s")
    if p.unknown:
        _out(f"{p.unknown} rows need checking in &Open (see their Send error). If &Open has no gift for one, "
             "run again with --clear-unknown EMAIL to send it.")
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


EXPLAINED_ACTIONS = ("invalid", "duplicate", "skip", "unknown outcome", "blocked")


def _explain_rows(loaded: LoadedList, plan, *, full: bool, limit: int = 50) -> None:
    """Say which rows will not be sent and why (all of them on a dry run), and warn about
    Approved values that are neither a yes nor a no."""
    shown = 0
    for r in plan.rows:
        if str(r.action) in EXPLAINED_ACTIONS or (full and r.action.value != "send"):
            if shown < limit:
                _out(f"  row {r.row_number} {r.recipient.email or '(no email)'}: {r.action}"
                     + (f" — {r.message}" if r.message else ""))
            shown += 1
    if shown > limit:
        _out(f"  … and {shown - limit} more rows (see Send error / Skip reason in the list).")
    col = loaded.cmap.approved
    if col:
        odd = [(i + 1, v) for i, v in enumerate(loaded.frame[col].astype(str))
               if v.strip() and not is_approved(v) and v.strip().lower() not in FALSY]
        for n, v in odd[:10]:
            _out(f"  row {n}: Approved is '{v}', which is not a recognised yes (true, yes, y, 1, x, ✓): not sent.")


FALSY = {"false", "no", "n", "0", "-", "off", "unchecked"}


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


# -- status -------------------------------------------------------------------------------
def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    source = Source(args.source, settings, _parse_map(args.map), args.worksheet)
    loaded = source.loaded
    journal = store.journal(loaded.list_key)
    ids = [g for g in loaded.frame.get(GIFT_REQUEST_ID, []) if str(g).strip()]
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
    results = status_results(loaded.frame, store)
    source.sink.write(results)
    source.finish(store)
    _out(f"Wrote Gift status for {len(results)} of {len(loaded.frame)} rows to {loaded.name}.")
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
    from .webhooks import serve

    if not settings.webhook_secret:
        raise CliError("ANDOPEN_WEBHOOK_SECRET is not set: the receiver refuses unsigned events.")
    _out(f"Webhook receiver on http://{args.host}:{args.port}/webhooks/andopen (store: {settings.data_dir})")
    on_accepted = None
    if settings.history_sheet:
        from .sheet_source import history_mirror

        on_accepted = history_mirror(settings, Store(settings.data_dir))  # the receiver's own store
        _out("  accepted events are also appended to the Gift history tab of GIFTRUN_HISTORY_SHEET")
    serve(settings.data_dir, settings.webhook_secret.reveal(), host=args.host, port=args.port,
          on_accepted=on_accepted)
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
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lib.cli", description="Giftrun: send &Open gifts to a reviewed list.")
    sub = p.add_subparsers(dest="command", required=True)

    def list_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("source", help="a CSV file path or a Google Sheet URL")
        sp.add_argument("--map", action="append", metavar="FIELD=COLUMN",
                        help="use COLUMN for FIELD (first_name, last_name, email, approved)")
        sp.add_argument("--worksheet", help="worksheet title (Google Sheets; default: the first)")

    s = sub.add_parser("send", help="send approved, eligible, unsent rows and write results back")
    list_args(s)
    s.add_argument("--campaign", help="campaign id (default: ANDOPEN_CAMPAIGN_ID)")
    s.add_argument("--rate", type=float, default=DEFAULT_RATE, help="requests per second (default %(default)s)")
    s.add_argument("--concurrency", type=int, default=MAX_CONCURRENCY, help=argparse.SUPPRESS)  # most in flight
    s.add_argument("--lookback", default=elig.DEFAULT,
                   help="skip people gifted within: off, 30d, 60d, 90d, 12m, forever or Nd (default %(default)s)")
    s.add_argument("--clear-unknown", action="append", metavar="EMAIL",
                   help="after checking &Open: allow this person's unknown-outcome row to be sent again")
    s.add_argument("--actor", default=os.environ.get("GIFTRUN_ACTOR") or "cli", help="who is sending (audit trail)")
    s.add_argument("--dry-run", action="store_true", help="show what would be sent; send and write nothing")
    s.set_defaults(func=cmd_send)

    st_ = sub.add_parser("status", help="write each row's latest Gift status onto SOURCE")
    list_args(st_)
    st_.add_argument("--poll", action="store_true", help="first ask &Open for every gift not yet final")
    st_.add_argument("--rate", type=float, default=5.0, help="polling requests per second")
    st_.set_defaults(func=cmd_status)

    w = sub.add_parser("webhooks", help="run the standalone webhook receiver")
    w.add_argument("--port", type=int, default=8502)
    w.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to accept from other hosts")
    w.set_defaults(func=cmd_webhooks)

    c = sub.add_parser("campaigns", help="list the campaigns the key can use")
    c.set_defaults(func=cmd_campaigns)

    sb = sub.add_parser("sandbox", help="run the fake &Open server on its own")
    sb.add_argument("--port", type=int, default=8600)
    sb.add_argument("--token", help="token the sandbox accepts (default: a fixed staging-shaped token)")
    sb.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    sb.add_argument("--rate-limit", type=float, default=None, help="gift requests/s before 429")
    sb.add_argument("--limiter", choices=[k.value for k in LimiterKind], default=LimiterKind.TOKEN_BUCKET.value,
                    help="how --rate-limit is kept: a token bucket (burst of one second), a fixed one-second window "
                         "or a sliding one-second window (default %(default)s)")
    sb.add_argument("--no-retry-after", dest="retry_after", action="store_false",
                    help="answer 429 without a Retry-After header")
    sb.add_argument("--p503", type=float, default=0.0, help="share answered 503 (nothing created)")
    sb.add_argument("--p500-after-create", type=float, default=0.0, help="share answered 500 after creating")
    sb.add_argument("--p-hang", type=float, default=0.0, help="share that hang after creating")
    sb.add_argument("--hang-seconds", type=float, default=30.0)
    sb.add_argument("--seed", type=int, default=None)
    sb.add_argument("--lifecycle", action="store_true", help="gifts move to redeemed, dispatched, delivered")
    sb.add_argument("--speed", type=float, default=1.0, help="lifecycle speed-up factor")
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
        return super().format(record).rstrip()


def main(argv: Sequence[str] | None = None) -> int:
    handler = logging.StreamHandler()
    handler.setFormatter(_NoTraceback("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        return args.func(args, settings)
    except (CliError,) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except (SourceError, SettingsError, RunInProgress, CsvError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT if not isinstance(exc, RunInProgress) else EXIT_STOPPED
    except AndOpenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_STOPPED
    except _sheets_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return EXIT_STOPPED
    except BrokenPipeError:  # `… | head`: the reader left; not an error worth a message
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # as the Python docs advise
        return EXIT_OK
    except Exception as exc:  # a bug: say so plainly, keep the details in the log file
        logging.getLogger("giftrun").debug("unexpected", exc_info=True)
        print(f"error: unexpected {type(exc).__name__}: {exc}. Everything sent so far is journalled.",
              file=sys.stderr)
        return EXIT_STOPPED


def _sheets_errors() -> tuple[type[BaseException], ...]:
    try:
        from .sheets import SheetsError
    except ImportError:
        return ()
    return (SheetsError,)


if __name__ == "__main__":
    sys.exit(main())

