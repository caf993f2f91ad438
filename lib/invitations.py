"""The invitation run: email each planned row its redemption link from the team's mailbox,
paced evenly, journalled before every SMTP transaction, stoppable from anywhere.

- **Pace.** `GIFTRUN_EMAIL_RATE` emails a minute, one every 60/rate seconds on a fixed
  schedule; a run that fell behind (a slow store or write-back) makes up at most one second
  of it, so no burst is ever larger than a second's worth. A temporary refusal (4xx, a
  timeout before the server took the message) backs off and slows the pace for the rest of
  the run; after `RETRIES` tries the row says "not sent, safe to retry".
- **Never twice.** `Store.claim_invitation` journals the email before the transaction; the
  outcome follows (sent / failed / refused / unknown). Unknown is only what the server may
  have accepted without our hearing its answer; it is never sent again by itself.
- **Stops.** Authentication refused or TLS impossible stop the run before its first email;
  the team's daily email limit stops it where it is reached; a Stop from any process (the
  store's stop request) or `stop()` ends it after the email in flight.

Clock and sleep are injected, so tests pace against a fake clock and a real SMTP server.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from .invite_plan import UNKNOWN_INVITE, InviteItem
from .invite_template import Template, build_message, message_id, render
from .mailer import MailRecipientRefused, MailStop, MailTemporary, MailUnknown, SmtpMailer
from .models import GiftStatus
from .run_progress import start_keep_alive
from .smtp_url import Sender
from .store import Store
from .store.invitations import InviteKind, InviteRefusal, InviteState
from .timefmt import shown
from .writeback import INVITATION_ERROR, INVITATION_SENT_AT, ResultSink, RowResult, merge_results

log = logging.getLogger(__name__)

RETRIES = 4  # tries of one email after temporary refusals
BACKOFF = (5.0, 20.0, 60.0)  # seconds before the 2nd, 3rd, 4th try
SLOWER = 1.5  # each temporary refusal stretches the pace by this much …
MAX_INTERVAL = 120.0  # … up to one email every two minutes
FLUSH_INTERVAL = 2.0
CATCH_UP = 1.0  # seconds a run that fell behind (a slow store or write-back) may make up, no more


@dataclass
class InviteProgress:
    total: int = 0
    sent: int = 0
    failed: int = 0
    refused: int = 0
    unknown: int = 0
    skipped: int = 0  # held by the journal when claimed (another run took it)
    moved_on: int = 0  # reminders: &Open says the gift is no longer Submitted (or could not say)
    limited: int = 0  # not emailed: this run's --max or the team's daily limit
    retries: int = 0
    state: str = "pending"  # pending / running / completed / stopped
    message: str = ""
    started: float = 0.0
    finished: float = 0.0

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.refused + self.unknown + self.skipped + self.moved_on + self.limited

    @property
    def elapsed(self) -> float:
        return ((self.finished or time.monotonic()) - self.started) if self.started else 0.0

    def counts(self) -> dict:
        keys = ("total", "sent", "failed", "refused", "unknown", "skipped", "moved_on", "limited", "retries")
        return {k: getattr(self, k) for k in keys}


def run_key(list_key: str) -> str:
    """The run lock of a list's emails: apart from its gift runs, so `send --invite` can email
    right after its gifts, and two invite runs on one list never overlap."""
    return f"invite:{list_key}"


class InviteRun:
    """One invitation (or reminder) run over planned items. `begin()` takes the list's email
    run lock; `execute()` sends (blocking; call it from a thread to run in the background)."""

    def __init__(
        self,
        store: Store,
        mailer: SmtpMailer,
        list_key: str,
        items: Sequence[InviteItem],
        template: Template,
        sender: Sender,
        *,
        kind: InviteKind = InviteKind.INVITATION,
        rate_per_minute: float = 20.0,
        daily_limit: int | None = None,
        max_emails: int | None = None,
        sink: ResultSink | None = None,
        preamble: Sequence[RowResult] = (),
        actor: str = "local",
        status_check: Callable[[str], str | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        flush_interval: float = FLUSH_INTERVAL,
    ) -> None:
        self.store, self.mailer, self.list_key = store, mailer, list_key
        self.items, self.template, self.sender, self.kind = list(items), template, sender, kind
        self.interval = 60.0 / rate_per_minute
        self.daily_limit, self.max_emails = daily_limit, max_emails
        self.sink, self.actor, self.status_check = sink, actor, status_check
        self.clock = clock
        self._stop = threading.Event()
        self._sleep = sleep or (lambda s: self._stop.wait(s))
        self.flush_interval = flush_interval
        self._pending: list[RowResult] = list(preamble)
        self.unflushed: list[RowResult] = []
        self.writeback_error = ""
        self._lock = threading.Lock()
        self._done = threading.Event()
        self.progress = InviteProgress(total=len(self.items))
        self.run_id = ""
        self.crash: BaseException | None = None

    # -- control --------------------------------------------------------------------------
    def stop(self, message: str = "Stopped by user.") -> None:
        with self._lock:
            self.progress.message = self.progress.message or message
        self._stop.set()

    def snapshot(self) -> InviteProgress:
        with self._lock:
            return replace(self.progress)

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def begin(self) -> str:
        key = run_key(self.list_key)
        self.run_id = self.store.acquire_run(key, self.actor)
        self.store.mark_invitation_orphans_unknown(key)
        with self._lock:
            self.progress.state, self.progress.started = "running", time.monotonic()
        start_keep_alive(
            self.store, self.run_id, self._done, self.stop, lambda: self.snapshot().counts(), "invite-heartbeat"
        )
        return self.run_id

    # -- the run ----------------------------------------------------------------------------
    def execute(self) -> InviteProgress:
        state = "completed"
        try:
            if self.items:
                self.mailer.connect()  # auth or TLS refused: the run stops before any email
            self._send_all()
            if self._stop.is_set():
                state = "stopped"
        except MailStop as exc:
            self.stop(exc.message)
            state = "stopped"
        except BaseException as exc:
            self.stop(f"The run failed: {exc}")
            self._finish("stopped")
            raise
        finally:
            self.mailer.close()
            self._flush(final=True)
        self._finish(state)
        return self.snapshot()

    def _finish(self, state: str) -> None:
        with self._lock:
            self.progress.state, self.progress.finished = state, time.monotonic()
            counts, message = self.progress.counts(), self.progress.message
        try:
            self.store.finish_run(self.run_id, state, counts, message)
        finally:
            self._done.set()

    def _send_all(self) -> None:
        slot = self.clock()
        last_flush = self.clock()
        for n, item in enumerate(self.items):
            if self._stop.is_set():
                return
            if self.max_emails is not None and self.progress.sent + self.progress.unknown >= self.max_emails:
                self._limited(
                    self.items[n:], f"Not emailed: this run's limit of {self.max_emails:,} emails was reached."
                )
                return
            wait = slot - self.clock()
            if wait > 0:
                self._sleep(wait)
                if self._stop.is_set():
                    return
            slot = max(slot, self.clock() - CATCH_UP) + self.interval
            retries = self.progress.retries
            if not self._one(item):
                return
            if self.progress.retries != retries:  # after a backoff the slower pace counts from now
                slot = self.clock() + self.interval
            if self.clock() - last_flush >= self.flush_interval:
                self._flush()
                last_flush = self.clock()

    def _one(self, item: InviteItem) -> bool:
        """Claim, send, record one email; False when the run must stop."""
        if self.kind == InviteKind.REMINDER and self.status_check is not None:
            status = (self.status_check(item.gift_request_id) or "").lower()
            if status and status != GiftStatus.SUBMITTED:
                log.info("no reminder for gift %s: &Open says %s", item.gift_request_id, status)
                self._count("moved_on")
                return True
        msg_id = message_id(item.gift_request_id, self.kind, self.sender)
        claim = self.store.claim_invitation(
            item.gift_request_id,
            self.kind,
            email=item.email,
            list_key=self.list_key,
            row_key=item.row_key,
            run_id=self.run_id,
            message_id=msg_id,
            daily_limit=self.daily_limit,
        )
        if not claim.claimed:
            if claim.refusal == InviteRefusal.DAILY_LIMIT:
                self.stop(daily_limit_message(self.daily_limit or 0))
                self._limited(
                    [item, *self.items[self.items.index(item) + 1 :]], daily_limit_message(self.daily_limit or 0)
                )
                return False
            if claim.refusal == InviteRefusal.DO_NOT_GIFT:
                self._result(item, {INVITATION_ERROR: claim.reason})
            self._count("skipped")
            return True
        rendered = render(self.template, item.values, item.sources)
        message = build_message(rendered, sender=self.sender, to=item.email, to_name=item.name, msg_id=msg_id)
        return self._deliver(item, message)

    def _deliver(self, item: InviteItem, message) -> bool:
        for attempt in range(1, RETRIES + 1):
            try:
                self.mailer.send(message, self.sender.address, item.email.strip())
            except MailTemporary as exc:
                if attempt < RETRIES and not self._stop.is_set():
                    self._count("retries")
                    self.interval = min(MAX_INTERVAL, self.interval * SLOWER)
                    self._sleep(BACKOFF[min(attempt, len(BACKOFF)) - 1])
                    continue
                self._outcome(item, InviteState.FAILED, f"{exc.message} Not sent: safe to retry (run invite again).")
                return True
            except MailRecipientRefused as exc:
                self._outcome(item, InviteState.REFUSED, exc.message)
                return True
            except MailUnknown:
                self._outcome(item, InviteState.UNKNOWN, UNKNOWN_INVITE.format(email=item.email.strip()))
                return True
            except MailStop as exc:  # nothing was taken: the claim goes, the run stops
                self.store.forget_invitation(item.gift_request_id, self.kind, self.run_id)
                raise exc
            except Exception as exc:  # a bug after the claim: it may have gone out
                log.exception("invitation to row %s", item.row_number)
                self._outcome(item, InviteState.UNKNOWN, f"{UNKNOWN_INVITE.format(email=item.email.strip())} ({exc})")
                return True
            self._outcome(item, InviteState.SENT, None)
            return True
        return True

    def _outcome(self, item: InviteItem, state: InviteState, error: str | None) -> None:
        at = self.store.record_invitation(item.gift_request_id, self.kind, state, error=error)
        self._count({InviteState.SENT: "sent", InviteState.FAILED: "failed"}.get(state, state.value))
        if state == InviteState.SENT:
            self._result(item, {INVITATION_SENT_AT: shown(at), INVITATION_ERROR: ""})
        else:
            self._result(item, {INVITATION_ERROR: error or ""})

    def _limited(self, items: Sequence[InviteItem], why: str) -> None:
        for item in items:
            self._count("limited")
            self._result(item, {INVITATION_ERROR: why})

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self.progress, name, getattr(self.progress, name) + 1)

    def _result(self, item: InviteItem, values: dict[str, str]) -> None:
        if self.kind != InviteKind.INVITATION:
            return  # a reminder lives in the journal and on Gift status, not in the row's columns
        with self._lock:
            self._pending.append(RowResult(item.row_key, item.email, values))

    def _flush(self, *, final: bool = False) -> None:
        with self._lock:
            batch, self._pending = merge_results(self.unflushed + self._pending), []
        if not batch or self.sink is None:
            return
        try:
            self.sink.write(batch)
        except Exception as exc:  # the journal keeps every outcome; the next flush or run writes it
            self.writeback_error = str(exc)
            log.warning("writing invitation results failed: %s", exc)
            self.unflushed = batch
        else:
            self.unflushed = []


def daily_limit_message(limit: int) -> str:
    return (
        f"Not emailed: the team's limit of {limit:,} emails in any 24 hours (GIFTRUN_EMAIL_DAILY_LIMIT) was reached. "
        "Run invite again later to go on."
    )


def send_test(mailer: SmtpMailer, item: InviteItem, template: Template, sender: Sender, to: str) -> str:
    """`--test-to` / Send a test to me: the first row's email, `[Test]` before its subject, to
    `to` only; nothing is journalled and no row changes. Returns the subject sent."""
    rendered = render(template, item.values, item.sources)
    msg_id = message_id(f"test:{time.time_ns()}:{item.gift_request_id}", "test", sender)
    message = build_message(rendered, sender=sender, to=to, msg_id=msg_id, test=True)
    mailer.connect()
    try:
        mailer.send(message, sender.address, to)
    finally:
        mailer.close()
    return str(message["Subject"])
