"""`invite`: email each approved row that has a gift its redemption link, from the team's own
mailbox; `send --invite` calls the same steps after its gifts. Planning is lib/invite_plan.py,
the run lib/invitations.py: the app's Review & send uses both too."""

from __future__ import annotations

import argparse
import re
import signal
import threading
import time
from datetime import timedelta
from pathlib import Path

from ..control_chars import visible
from ..invitations import InviteRun, run_key, send_test
from ..invite_plan import InviteAction, InvitePlan, Reminding, plan_invitations
from ..invite_template import Template, bind_columns, build_message, message_id, parse_template, render
from ..mailer import MailError, SmtpMailer
from ..models import utcnow
from ..own_columns import refuse_foreign_invitation_columns
from ..runtime import open_store
from ..settings import Settings
from ..smtp_url import Sender
from ..store import RunInProgress, Store
from ..store.invitations import InviteKind
from .common import EXIT_OK, EXIT_STOPPED, CliError, _out
from .sources import Source, _parse_map, _print_notes

MAX_TEMPLATE_BYTES = 400_000
_DURATION = re.compile(r"^\s*(\d{1,6})\s*(d|h|min|w)\s*$", re.I)
_UNITS = {"d": "days", "h": "hours", "min": "minutes", "w": "weeks"}


def read_template(path: str | None, option: str) -> Template:
    """A template file, or one clear line saying why it cannot be used (exit 2)."""
    if not path:
        raise CliError(
            f"{option} FILE is required: a file whose first line is 'Subject: …', then a blank line, then the body."
        )
    p = Path(path)
    try:
        if not p.is_file():
            raise CliError(f"{option}: {visible(path)} is not a file.")
        if p.stat().st_size > MAX_TEMPLATE_BYTES:
            raise CliError(f"{option}: {visible(path)} is larger than {MAX_TEMPLATE_BYTES:,} bytes.")
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise CliError(f"{option}: {visible(path)} is not UTF-8 text; save it as UTF-8.") from None
    except OSError as exc:
        raise CliError(f"{option}: cannot read {visible(path)} ({exc.strerror or exc}).") from None
    return parse_template(text, name=f"{option} {p.name}")


def parse_duration(text: str) -> timedelta:
    m = _DURATION.match(text or "")
    if not m:
        raise CliError(f"--remind-after '{visible(text)}': give a duration such as 5d, 36h, 90min or 2w.")
    return timedelta(**{_UNITS[m.group(2).lower()]: int(m.group(1))})


def mail_setup(settings: Settings, *, sending: bool) -> tuple[Sender, SmtpMailer | None]:
    if settings.invite_from is None:
        raise CliError(
            "GIFTRUN_INVITE_FROM is not set: the name and address invitations come from, 'Ana Lima <ana@example.com>'."
        )
    if not sending:
        return settings.invite_from, None
    if settings.smtp_url is None:
        raise CliError(
            "GIFTRUN_SMTP_URL is not set: the mailbox invitations are sent from, such as "
            "smtp://USER:PASSWORD@smtp.example.com:587 (see docs/invitations.md)."
        )
    return settings.invite_from, SmtpMailer(settings.smtp_url, ca_file=settings.smtp_ca_file)


def cmd_invite(args: argparse.Namespace, settings: Settings) -> int:
    kind, template, reminding = _what_to_send(args)
    sender, mailer = mail_setup(settings, sending=not args.dry_run)
    store = open_store(settings)
    source = Source(args.source, settings, _parse_map(args.map), args.worksheet)
    _print_notes(source.loaded)
    source.loaded.require_columns(approval=True)
    for email in args.clear_unknown_invite or ():
        n = store.clear_unknown_invitation(source.loaded.list_key, email, args.actor)
        _out(
            f"Cleared {n} unknown email{'s' if n != 1 else ''} for {email}."
            if n
            else f"No unknown email recorded for {email}."
        )
    return invite_list(args, settings, store, source, template, sender, mailer, kind=kind, reminding=reminding)


def _what_to_send(args: argparse.Namespace) -> tuple[InviteKind, Template, Reminding | None]:
    if args.remind_after is None:
        if args.reminder_template:
            raise CliError("--reminder-template goes with --remind-after DURATION.")
        return InviteKind.INVITATION, read_template(args.template, "--template"), None
    after = parse_duration(args.remind_after)
    return InviteKind.REMINDER, read_template(args.reminder_template, "--reminder-template"), Reminding(after, utcnow())


def invite_list(
    args: argparse.Namespace,
    settings: Settings,
    store: Store,
    source: Source,
    template: Template,
    sender: Sender,
    mailer: SmtpMailer | None,
    *,
    kind: InviteKind = InviteKind.INVITATION,
    reminding: Reminding | None = None,
) -> int:
    """Plan, say what will happen, then dry-run, test-send or run."""
    loaded = source.loaded
    store.mark_invitation_orphans_unknown(run_key(loaded.list_key))
    plan = plan_invitations(loaded, store, template, sender, kind=kind, reminding=reminding)
    _print_plan(plan, loaded.name, store, settings, full=args.dry_run)
    if args.dry_run:
        _print_first(plan, template, sender, kind)
        _out("Dry run: nothing sent, nothing written.")
        return EXIT_OK
    assert mailer is not None
    if args.test_to:
        return _test_send(plan, template, sender, mailer, args.test_to)
    run = InviteRun(
        store,
        mailer,
        loaded.list_key,
        plan.items,
        template,
        sender,
        kind=kind,
        rate_per_minute=settings.email_rate,
        daily_limit=settings.email_daily_limit,
        max_emails=args.max,
        sink=source.sink,
        preamble=plan.results(),
        actor=args.actor,
        status_check=_status_check(settings) if kind == InviteKind.REMINDER else None,
    )
    try:
        run.begin()
    except RunInProgress as exc:
        raise CliError(f"Invitations for this list are being sent already: {exc.message}", EXIT_STOPPED) from None
    if plan.items:
        _out(f"Emailing {len(plan.items)} {kind}s from {sender.address} at {settings.email_rate:g} a minute.")
    _in_foreground(run)
    return _report(run, loaded.name)


def _print_plan(plan: InvitePlan, name: str, store: Store, settings: Settings, *, full: bool) -> None:
    c = plan.counts()
    held = c["already emailed"] + c["unknown outcome"]
    _out(
        f"{name}: {len(plan.rows)} rows — {c['email']} to email ({plan.kind}s), {c['not approved']} not approved, "
        f"{c['no gift yet']} without a gift yet, {c['gift cancelled']} cancelled, {c['do not gift']} on the "
        f"do-not-gift list, {held} already emailed or unknown, {c['template value missing']} missing a template value."
    )
    shown = 0
    for r in plan.rows:
        quiet = r.action in (InviteAction.EMAIL, InviteAction.NOT_APPROVED, InviteAction.NO_GIFT, InviteAction.ALREADY)
        if (full and r.action != InviteAction.EMAIL) or (not quiet and shown < 50):
            _out(
                f"  row {r.row_number} {r.email or '(no email)'}: {r.action}" + (f" — {r.message}" if r.message else "")
            )
            shown += 1
        elif full:
            _out(f"  row {r.row_number} {r.email}: {r.action}")
    if settings.email_daily_limit:
        room = store.email_room(settings.email_daily_limit)
        _out(
            f"Email daily limit (GIFTRUN_EMAIL_DAILY_LIMIT): {room.limit:,} in any 24 hours across the team; "
            f"{room.used:,} sent in the last 24 hours, {room.left:,} left now."
        )


def _print_first(plan: InvitePlan, template: Template, sender: Sender, kind: InviteKind) -> None:
    items = plan.items
    if not items:
        return
    first = items[0]
    rendered = render(template, first.values, first.sources)
    msg = build_message(
        rendered,
        sender=sender,
        to=first.email,
        to_name=first.name,
        msg_id=message_id(first.gift_request_id, kind, sender),
    )
    _out(f"The first email, to row {first.row_number}, exactly as it would be sent (plain-text part):")
    for header in ("From", "To", "Subject", "Message-ID"):
        _out(f"  {header}: {msg[header]}")
    _out("")
    for line in rendered.text.split("\n"):
        _out(f"  {line}")
    _out("")


def _test_send(plan: InvitePlan, template: Template, sender: Sender, mailer: SmtpMailer, to: str) -> int:
    items = plan.items
    if not items:
        raise CliError("No row would get an email now, so there is nothing to send a test of.")
    if "@" not in to or any(ch.isspace() for ch in to.strip()):
        raise CliError(f"--test-to '{visible(to)}' is not an email address.")
    try:
        subject = send_test(mailer, items[0], template, sender, to.strip())
    except MailError as exc:
        raise CliError(f"The test email was not sent: {exc.message}", EXIT_STOPPED) from None
    _out(f"Test email sent to {to.strip()} (rendered for row {items[0].row_number}): {subject}. Nothing was recorded.")
    return EXIT_OK


def _status_check(settings: Settings):
    """For reminders: the gift's status asked of &Open just before the email (None without a key)."""
    if not settings.api_key:
        return None
    from .common import _client

    client = _client(settings)

    def check(gift_id: str) -> str | None:
        try:
            return client.get_gift_request(gift_id).status
        except Exception:  # noqa: BLE001 (any failure: no reminder on a guess)
            return "unchecked"

    return check


def _in_foreground(run: InviteRun) -> None:
    """Run on a worker thread, printing progress every 5 s; Ctrl-C or SIGTERM stops after the email in flight."""

    def handler(signum, frame):  # noqa: ARG001
        _out("Stopping: no new emails; finishing the one in flight…")
        run.stop("Interrupted.")

    on_main = threading.current_thread() is threading.main_thread()
    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)} if on_main else {}

    def work() -> None:
        try:
            run.execute()
        except BaseException as exc:  # reported below
            run.crash = exc

    worker = threading.Thread(target=work, daemon=True)
    try:
        worker.start()
        last = time.monotonic()
        while worker.is_alive():
            worker.join(0.2)
            if time.monotonic() - last > 5:
                p = run.snapshot()
                _out(f"  … {p.done}/{p.total} done, {p.sent} emailed")
                last = time.monotonic()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if run.crash is not None:
        raise CliError(f"The run failed: {run.crash}. Every email so far is journalled.", EXIT_STOPPED)


def _report(run: InviteRun, name: str) -> int:
    p = run.snapshot()
    _out(
        f"Emailed {p.sent} · refused {p.refused} · unknown {p.unknown} · not sent (safe to retry) {p.failed} · "
        f"skipped {p.skipped} · not sent (a limit was reached) {p.limited} · retries {p.retries} · {p.elapsed:.1f}s"
    )
    if p.unknown:
        _out(
            f"{p.unknown} emails may or may not have arrived (see Invitation error): they are never sent again by "
            "themselves; after checking, run again with --clear-unknown-invite EMAIL."
        )
    if p.moved_on:
        _out(
            f"{p.moved_on} reminders not sent: &Open says the gift is no longer Submitted (or could not be asked); "
            "nothing was recorded for them."
        )
    if run.kind == InviteKind.REMINDER:
        _out("Reminders write nothing to the list; Gift status shows each one.")
    elif run.unflushed:
        _out(
            f"Warning: {len(run.unflushed)} results could not be written to {name} ({run.writeback_error}); "
            "the journal keeps them."
        )
    else:
        _out(f"Results written to {name}.")
    if p.state == "stopped":
        _out(f"Run stopped: {p.message}")
        return EXIT_STOPPED
    return EXIT_OK


def cmd_send_and_invite(args: argparse.Namespace, settings: Settings) -> int:
    """`send`, and with `--invite` the invitations right after the gifts (the template and the
    mailbox are checked before the first gift)."""
    from .send import cmd_send

    if not args.invite:
        if args.template:
            raise CliError("--template goes with --invite (or use the invite command).")
        return cmd_send(args, settings)
    template = read_template(args.template, "--template")
    sender, mailer = mail_setup(settings, sending=not args.dry_run)
    before = Source(args.source, settings, _parse_map(args.map), args.worksheet).loaded
    bind_columns(template, before.user_columns)
    refuse_foreign_invitation_columns(before, open_store(settings))  # before the first gift, not after
    code = cmd_send(args, settings)
    if code != EXIT_OK or args.dry_run:
        return code
    _out("Gifts done; now the invitations.")
    source = Source(args.source, settings, _parse_map(args.map), args.worksheet)  # the list as the gifts left it
    invite_args = argparse.Namespace(dry_run=False, test_to=None, max=None, actor=args.actor)
    return invite_list(invite_args, settings, open_store(settings), source, template, sender, mailer)
