"""`send`: review the list, say what will happen, run, and report (the steps are lib/send_job.py's,
shared with the app)."""

from __future__ import annotations

import argparse
import signal
import threading
import time
from collections.abc import Sequence

from .. import eligibility as elig
from .. import guardrails
from ..andopen import AndOpenClient, AndOpenError, RunStoppingError
from ..control_chars import visible
from ..models import Campaign, utcnow
from ..own_columns import describe_overwrites
from ..plan import RowAction
from ..recipients import YES_TEXT, is_unclear_approval
from ..runtime import open_store
from ..send_job import PreparedSend, SendChoices, prepare_send
from ..sending import SendRun
from ..settings import Settings
from ..sheet_rows import spreadsheet_rows
from ..sources import LoadedList
from ..store import RunInProgress, Store, StoreError
from ..unknowns import ago, unknowns_report
from .common import EXIT_OK, EXIT_STOPPED, CliError, _client, _out
from .sources import Source, _import_shared_history, _parse_map, _print_notes


def cmd_send(args: argparse.Namespace, settings: Settings) -> int:
    try:
        window = elig.parse_window(args.lookback)
    except ValueError as exc:
        raise CliError(f"--lookback: {exc}") from None
    campaign_id = args.campaign or settings.campaign_id
    if not campaign_id:
        raise CliError("No campaign: pass --campaign ID or set ANDOPEN_CAMPAIGN_ID.")
    client = _client(settings)
    store = open_store(settings, notify=_out)  # a database restarting is waited for, saying so
    source = Source(args.source, settings, _parse_map(args.map), args.worksheet)
    loaded = source.loaded
    _print_notes(loaded)
    loaded.require_columns(approval=True)
    campaign = _usable_campaign(client, campaign_id)
    store.mark_orphans_unknown(loaded.list_key)  # a killed run's attempts: unknown, clearable below
    _clear_unknowns(store, loaded.list_key, args.clear_unknown or (), args.actor)
    _import_shared_history(settings, store)
    limits = guardrails.RunLimits(args.max_gifts, settings.daily_limit)
    prepared = prepare_send(
        loaded,
        store,
        SendChoices(campaign.id, args.actor, window, limits, args.rate, args.concurrency, args.overwrite_columns),
        now=utcnow(),
    )
    loaded.frame = prepared.review.frame
    _print_plan(prepared, store, full=args.dry_run)
    if args.dry_run:
        _out("Dry run: nothing sent, nothing written.")
        return EXIT_OK
    if prepared.plan.items:
        _out(
            f'Sending to campaign "{campaign.name}" ({campaign.id}) at up to {args.rate:g} requests/s '
            f"with key {client.masked_token}."
        )
    else:
        _out("Nothing new to send; writing what the journal holds back to the list.")
    run = prepared.new_run(client, store, source.sink, to_sheet=source.is_sheet)
    run.begin(_out)  # the list's lock before the first write: a refused run (RunInProgress) leaves the list alone
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
            raise CliError(
                f"Campaign {campaign_id} was not found in &Open. Check the id "
                "(python -m lib.cli campaigns lists them).",
                EXIT_STOPPED,
            ) from None
        raise CliError(f"Could not check the campaign: {exc}", EXIT_STOPPED) from None
    if (campaign.state or "").lower() == "archived":
        raise CliError(
            f'Campaign "{campaign.name}" ({campaign.id}) is archived in &Open: pick an available one '
            "(python -m lib.cli campaigns lists them).",
            EXIT_STOPPED,
        )
    return campaign


def _clear_unknowns(store: Store, list_key: str, emails: Sequence[str], actor: str) -> None:
    for email in emails:  # the person was checked in &Open: their unknown outcome in any list no longer holds them
        if store.clear_unknown(list_key, email, actor, every_list=True):
            _out(f"Cleared the unknown outcome for {email}: it will be sent in this run if approved.")
        else:
            _out(f"No unknown outcome recorded for {email}; nothing cleared.")


def _print_plan(prepared: PreparedSend, store: Store, *, full: bool) -> None:
    """What the run will do, row counts first; every row on a dry run."""
    loaded, plan, window, limits = prepared.loaded, prepared.plan, prepared.choices.window, prepared.choices.limits
    counts = plan.counts()
    _out(
        f"{loaded.name}: {len(plan.rows)} rows — {counts['send']} to send, {counts['not approved']} not approved, "
        f"{counts['invalid']} invalid, {counts['duplicate']} duplicate, {counts['skip']} skipped "
        f"(look-back {window.label if window else 'off'}), {counts['do not gift']} on the do-not-gift list, "
        f"{counts['already sent']} already sent, "
        f"{counts['unknown outcome'] + counts['blocked']} waiting for a check in &Open."
    )
    since = next((r.finished_at for r in store.runs() if r.list_key == loaded.list_key and r.finished_at), None)
    resolved = unknowns_report(store, loaded.list_key, since=since)
    if resolved.resolved or resolved.waiting:
        _out(f"Unknown outcomes{' since the last run' if since else ''}: {resolved.describe()}.")
    _explain_rows(loaded, plan, full=full, max_gifts=limits.max_gifts)
    room = store.daily_room(limits.daily_limit) if limits.daily_limit else None
    for line in guardrails.preflight(counts["send"], limits, room):
        _out(line)
    if prepared.overwrites:
        overwrite = prepared.choices.overwrite_columns
        _out(f"Note: {describe_overwrites(prepared.overwrites, overwrite=overwrite, how=OVERWRITE_HOW)}")


def _run_in_foreground(run: SendRun, planned: int) -> None:
    """Run on a worker thread, printing progress every 5 s; Ctrl-C or SIGTERM stops it cleanly."""
    stop_signals = _stop_on_signals(run)
    worker = threading.Thread(target=_run_safely, args=(run,), daemon=True)
    try:
        worker.start()
        last, waiting = 0.0, False
        while worker.is_alive():
            worker.join(0.2)
            p = run.snapshot()
            if bool(p.waiting) != waiting and p.state == "running":  # a store blip began or ended: say so at once
                waiting, last = bool(p.waiting), 0.0
                if not waiting:
                    _out("  … the database is back: sending again.")
            if time.monotonic() - last > 5 and planned:
                if p.state == "running":
                    eta = f", about {p.eta:.0f}s left" if p.eta else ""
                    _out(
                        f"  … {p.waiting}"
                        if p.waiting
                        else f"  … {p.done}/{planned} done, {p.sent} sent, {p.rate:.1f}/s{eta}"
                    )
                last = time.monotonic()
    finally:
        stop_signals()
    if isinstance(getattr(run, "crash", None), BaseException):
        if isinstance(run.crash, RunInProgress):
            raise CliError(str(run.crash), EXIT_STOPPED)
        p = run.snapshot()
        kept = (
            f"{p.sent_text()}; run the command again to continue."
            if p.unrecorded
            else "Everything sent so far is journalled; run the command again to continue."
        )
        raise CliError(f"The run failed: {run.crash}. {kept}", EXIT_STOPPED)


def _after_run(run: SendRun, store: Store, source: Source, limits: guardrails.RunLimits) -> int:
    """The run's figures, what still needs a person, and the list's last write-back."""
    loaded = source.loaded
    p = run.snapshot()
    _out(
        f"{p.sent_text()} · rejected {p.rejected} · unknown outcome {p.unknown} · not sent (safe to retry) "
        f"{p.failed} · skipped at send time {p.skipped} · not sent (a limit was reached) {p.limited} · "
        f"retries {p.retries} · 429s {p.throttled} · {p.elapsed:.1f}s"
    )
    if found := run.limiter.found():
        _out(found)
    if p.limited and p.state == "completed" and limits.max_gifts is not None:
        _out(
            f"{p.limited} approved rows were not sent: this run's limit of {limits.max_gifts:,} gifts was reached. "
            "Their Send error says so; run again to send them."
        )
    try:
        report = unknowns_report(store, loaded.list_key)
    except StoreError:  # the store is away: the run's own message says so
        report = None
    if p.resolved:
        _out(
            f"{p.resolved} unknown outcome{'s' if p.resolved != 1 else ''} resolved during the run from &Open's "
            "own updates: their rows have the gift id."
        )
    if report is not None and report.waiting:
        _out(
            f"{report.waiting} rows need checking in &Open (the oldest attempt {ago(report.oldest_wait)}; see their "
            "Send error). They resolve by themselves when &Open's update for the gift arrives (a webhook receiver "
            "or `status --poll`); if &Open has no gift for one, run again with --clear-unknown EMAIL to send it."
        )
    try:
        source.finish(store)
    except Exception as exc:
        _out(f"Warning: finishing the write-back failed ({exc}); the journal keeps every result.")
    _say_unplaced(source)
    refusal = getattr(source.sink, "refusal", "")
    if run.unflushed and refusal:  # a CSV edited so that results cannot be merged: left as it is
        _out(
            f"Warning: {refusal} Its {len(run.unflushed)} results are kept in the journal: "
            f"`python -m lib.cli status {source.text}` (or the next send) writes them."
        )
    elif run.unflushed:
        _out(
            f"Warning: {len(run.unflushed)} results could not be written to {loaded.name} "
            f"({p.writeback_error}). They are kept in the journal and written by the next run."
        )
    else:
        _out(f"Results written to {loaded.name}.")
    if p.state == "stopped":
        _out(f"Run stopped: {p.message}")
        return EXIT_STOPPED
    return EXIT_OK


def _say_unplaced(source: Source) -> None:
    """Results whose person has no row in the list any more (removed, or the email changed)."""
    n = len(getattr(source.sink, "unplaced", ()))
    if n:
        _out(
            f"Note: {n} result{' has' if n == 1 else 's have'} no row in {source.loaded.name} any more (removed, or "
            f"the email changed, during the run); {'it is' if n == 1 else 'they are'} kept in the journal."
        )


OVERWRITE_HOW = "To write over them instead, pass --overwrite-columns."
EXPLAINED_ACTIONS = ("invalid", "duplicate", "skip", "do not gift", "unknown outcome", "blocked")


def _explain_rows(loaded: LoadedList, plan, *, full: bool, max_gifts: int | None = None, limit: int = 50) -> None:
    """Say which rows will not be sent and why; on a dry run, which writes nothing into the
    list, every row with what would happen to it (send, or why not, the rows beyond the run's
    cap included). Warn about Approved values that are neither a yes nor a no."""
    shown = 0
    beyond = set(guardrails.beyond_cap([i.row_key for i in plan.items], max_gifts)) if full else set()
    for r in plan.rows:
        if full or str(r.action) in EXPLAINED_ACTIONS:
            if full or shown < limit:
                what, why = str(r.action), r.message
                if r.row_key in beyond:
                    what, why = "not sent", f"beyond this run's cap of {max_gifts:,} gifts"
                elif r.action == RowAction.SEND:
                    what = "would be sent"
                email = visible(r.recipient.email, joiners=True) or "(no email)"
                _out(f"  row {r.row_number} {email}: {what}" + (f" — {why}" if why else ""))
            shown += 1
    if shown > limit and not full:
        _out(f"  … and {shown - limit} more rows (see Send error / Skip reason in the list).")
    col = loaded.cmap.approved
    if col:
        rows = spreadsheet_rows(loaded)
        odd = [(n, v) for n, v in zip(rows, loaded.frame[col].astype(str)) if is_unclear_approval(v)]
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
