"""The run engine shared by the app and the CLI: paced, concurrent, journalled, stoppable.

Every send is journalled in the store before it is attempted and with its outcome after,
so a crash, a kill or a lost write-back never leads to a second gift: a row the journal
holds as sent or unknown is never sent again by a later run.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta

from .andopen import AndOpenClient, AndOpenError, RejectedError, RetryableError, RunStoppingError, UnknownOutcomeError
from .guardrails import RunCap, RunLimits, cap_message
from .journal_results import UNKNOWN_MESSAGE, result_for_entry
from .models import (
    GiftRequest,
    Recipient,
    SendState,
    iso,
    normalize_email,
    status_label,
    utcnow,
)
from .plan import SendItem
from .ratelimit import AdaptiveRateLimiter, LatencyGauge, RetryPolicy, retry_delay, workers_for
from .run_journal import RunJournal
from .run_progress import RowOutcome, RunProgress, start_keep_alive
from .run_writeback import RunWriteBack
from .store import NO_LOOKBACK, Claim, Refusal, Store
from .store.spill import Fact, SpilledFact, gift_fact, sent_event
from .store_pause import StorePause
from .timefmt import shown
from .writeback import (
    ELIGIBILITY,
    GIFT_REQUEST_ID,
    GIFT_STATUS,
    REDEMPTION_URL,
    SEND_ERROR,
    SENT_AT,
    SKIP_REASON,
    ResultSink,
    RowResult,
)

log = logging.getLogger(__name__)

DEFAULT_RATE = 10.0  # requests/s; &Open documents no limit, so stay polite and adapt on 429
DEFAULT_CONCURRENCY = 8  # workers a run starts with; more join as slow answers show they are needed
MAX_CONCURRENCY = 64  # the most requests a run keeps in flight, unless told fewer
SUPERVISE_INTERVAL = 0.05  # how often the pool is fitted to rate x latency
FLUSH_INTERVAL = 2.0  # seconds between a run's write-backs to a file
SHEET_FLUSH_INTERVAL = 4.0  # to a sheet: well inside Google's 60 writes a minute

NOT_SENT_UNAVAILABLE = "Not sent: &Open was unavailable. Nothing was created; press Send again later."
NOT_SENT_STOPPED = "Not sent: the run was stopped before this row. Press Send again to send it."


class SendRun(RunWriteBack):
    """One run over a list. `run()` blocks; call it from a thread to run in the background."""

    def __init__(
        self,
        client: AndOpenClient,
        store: Store,
        list_key: str,
        items: Sequence[SendItem],
        campaign_id: str,
        *,
        actor: str = "local",
        rate: float = DEFAULT_RATE,
        concurrency: int = MAX_CONCURRENCY,
        sink: ResultSink | None = None,
        flush_interval: float = FLUSH_INTERVAL,
        policy: RetryPolicy = RetryPolicy(),
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        preamble: Sequence[RowResult] = (),
        lookback_days: int | None | object = NO_LOOKBACK,
        limits: RunLimits = RunLimits(),
        store_wait: float | None = None,
    ) -> None:
        self.client, self.store, self.list_key = client, store, list_key
        self.items = list(items)
        self.campaign_id = campaign_id
        self.actor = actor
        self.concurrency = max(1, concurrency)  # the most requests in flight; the pool follows rate x latency
        self.limiter = AdaptiveRateLimiter(rate, sleep=sleep)
        self.latency = LatencyGauge()
        self.peak_workers = 0
        self.sink = sink
        self.flush_interval = flush_interval
        self.policy = policy
        self.rng = rng or random.Random()
        self._sleep = sleep
        self.progress = RunProgress(total=len(self.items))
        # A store blip pauses the run for up to `store_wait` s (default: the store's retry setting).
        wait = store_wait if store_wait is not None else getattr(store, "retry_seconds", 60.0)
        self._journal = RunJournal(StorePause(wait, sleep=sleep), getattr(store, "keep_unsaved", None))
        self._lock = threading.RLock()  # re-entrant: a signal handler may stop() inside snapshot()
        self._stop = threading.Event()
        self._sending_over = threading.Event()
        self.lookback_days = lookback_days  # None = forever; NO_LOOKBACK = off
        self.limits = limits
        self._cap = RunCap(limits.max_gifts) if limits.max_gifts is not None else None
        self._daily_stop: Claim | None = None  # the claim the team's daily limit refused, once it has
        self._answered: set[str] = set()  # rows this run has given a result
        self._outcomes: dict[str, RowOutcome] = {}  # row key -> what became of it (the live view)
        self._in_flight: set[str] = set()  # rows claimed whose request has no answer yet
        self._limited: dict[str, RowResult] = {}  # rows a limit kept from being sent: not in the journal
        self._pending: list[RowResult] = list(preamble)  # results to show before any send (why rows skip)
        self._watch: dict[str, str] = {}  # row key -> email of rows shown as unknown: resolved ones are rewritten
        self._done = threading.Event()
        self.run_id = ""
        self.crash: BaseException | None = None  # what ended run() in a caller's thread, for that caller to report

    # -- control --
    def stop(self, message: str = "Stopped by user.") -> None:
        with self._lock:
            if not self.progress.message:
                self.progress.message = message
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def snapshot(self) -> RunProgress:
        with self._lock:
            return replace(self.progress, waiting=self._journal.pause.waiting)

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    # -- the run --
    def run(self) -> RunProgress:
        """Acquire the list's run lock (raises RunInProgress), send, flush, release."""
        self.begin()
        return self.execute()

    def begin(self, notify: Callable[[str], None] | None = None) -> str:
        """Take the list's run lock: one run per list across every process sharing the
        store. Call from the thread that must hear about RunInProgress. A store blip is
        waited out as during the run (`notify` hears that it waits); the run id is chosen
        first, so a lock taken by an attempt whose answer was lost is found to be ours."""
        run_id = uuid.uuid4().hex
        self._journal.pause.notify = notify
        try:
            self.run_id = self._journal.read(
                lambda: self.store.acquire_run(
                    self.list_key, self.actor, max_gifts=self.limits.max_gifts, run_id=run_id
                )
            )
            self._journal.read(lambda: self.store.mark_orphans_unknown(self.list_key))
        finally:
            self._journal.pause.notify = None
        with self._lock:
            self.progress.state, self.progress.started, self.progress.run_id = "running", time.monotonic(), self.run_id
        start_keep_alive(  # alive for other processes; a Stop pressed in any of them is heard
            self.store, self.run_id, self._done, self.stop, lambda: self.snapshot().counts(), "send-heartbeat"
        )
        return self.run_id

    def execute(self) -> RunProgress:
        try:
            work = self._exclude_journalled()
            q: queue.SimpleQueue[SendItem] = queue.SimpleQueue()
            for item in work:
                q.put(item)
            self.client.keep_connections(self.concurrency)
            flusher = threading.Thread(target=self._flush_loop, daemon=True, name="send-flush")
            flusher.start()
            self._run_workers(q)
            self._not_sent_after_daily_limit(work)
            self._settle_journal()
            self._sending_over.set()
            flusher.join()
            self._flush()
        except BaseException as exc:
            self._finish("stopped", f"The run failed: {exc}")
            raise
        else:
            self._finish("stopped" if self._stop.is_set() else "completed", self.progress.message)
        return self.snapshot()

    def _finish(self, state: str, message: str) -> None:
        with self._lock:
            self.progress.state, self.progress.finished = state, time.monotonic()
            self.progress.message = message
            counts = self.progress.counts()
        try:
            self._journal.write(lambda: self.store.finish_run(self.run_id, state, counts, message))
        finally:
            self._done.set()

    def _settle_journal(self) -> None:
        """Journal writes the store refused during the run get one more try (it may be back);
        what is still not written is on its rows already, and the run says so."""
        if self._journal.kept and (left := self._journal.settle()):
            with self._lock:
                note = f" {left} results are on their rows but not in the journal yet (the store is away)."
                self.progress.message = (self.progress.message or "The run stopped.") + note

    def _exclude_journalled(self) -> list[SendItem]:
        """Rows the journal already holds (sent, unknown) are not sent; their results are
        written back again in case the sheet or file lost them."""
        journal = self._journal.read(lambda: self.store.journal(self.list_key))
        work = []
        for item in self.items:
            entry = journal.get(normalize_email(item.recipient.email))
            if entry and entry.state in (SendState.SENT, SendState.UNKNOWN, SendState.ATTEMPTING):
                self._emit(result_for_entry(item.row_key, entry), already=True, state=entry.state)
                if entry.state != SendState.SENT:
                    self._watch[item.row_key] = item.recipient.email
            else:
                work.append(item)
        return work

    def _run_workers(self, q: queue.SimpleQueue[SendItem]) -> None:
        """Start a few workers, add more while rate x latency says more requests must be in
        flight (a slow API still gets the full rate), and wait for them all."""
        workers: list[threading.Thread] = []
        wanted = min(DEFAULT_CONCURRENCY, self.concurrency)
        while True:
            alive = [t for t in workers if t.is_alive()]
            for _ in range(min(wanted - len(alive), q.qsize()) if not self._stop.is_set() else 0):
                t = threading.Thread(target=self._worker, args=(q,), daemon=True, name=f"send-{len(workers)}")
                t.start()
                workers.append(t)
                alive.append(t)
            self.peak_workers = max(self.peak_workers, len(alive))
            if not alive:
                return
            alive[0].join(SUPERVISE_INTERVAL)
            wanted = workers_for(
                self.limiter.target,
                self.latency.seconds(),
                least=min(DEFAULT_CONCURRENCY, self.concurrency),
                most=self.concurrency,
            )

    def _worker(self, q: queue.SimpleQueue[SendItem]) -> None:
        while not self._stop.is_set():
            try:
                item = q.get_nowait()
            except queue.Empty:
                return
            try:
                self._send_within_cap(item)
            except Exception as exc:  # the store failed for good or stayed away: stop rather than guess
                log.info("run stopped: %s: %s", type(exc).__name__, exc)
                self.stop(self._journal.stop_message(exc))
        # Stopped: the rest of the queue was never attempted; it stays unsent (not journalled).

    def _send_one(self, item: SendItem) -> None:
        r = item.recipient
        attempt = 0
        while True:
            if not self.limiter.acquire(self._stop.is_set):
                if attempt:  # journalled, only refused so far (429/503): certainly not created
                    self._record(item, SendState.FAILED, error=NOT_SENT_STOPPED)
                return  # stopped before the first try: nothing journalled, nothing sent
            if attempt == 0 and not self._claim(item):
                return  # refused: the row says why (look-back, do-not-gift, already sent, the daily limit)
            if not self.limiter.gate(self._stop.is_set):  # stopped in the last moment: nothing sent
                if attempt:
                    self._record(item, SendState.FAILED, error=NOT_SENT_STOPPED)
                else:
                    self._forget(item)
                return
            attempt += 1
            try:
                gift = self._create(r)
            except RunStoppingError as exc:
                # Nothing was created (401/403/bad campaign): undo the journal line, stop the run.
                self._forget(item)
                self.stop(exc.message)
                return
            except RetryableError as exc:
                self.limiter.on_error(exc)  # measured from this thread's slot
                delay = retry_delay(attempt, exc, self.rng, self.policy)
                if delay is None or self._stop.is_set():
                    msg = NOT_SENT_STOPPED if self._stop.is_set() else NOT_SENT_UNAVAILABLE
                    self._record(item, SendState.FAILED, error=msg, request_id=exc.request_id)
                    return
                with self._lock:
                    self.progress.retries += 1
                    self.progress.throttled += exc.status == 429
                if not self._interruptible_sleep(delay):
                    self._record(item, SendState.FAILED, error=NOT_SENT_STOPPED, request_id=exc.request_id)
                    return
                continue
            except RejectedError as exc:
                self._record(
                    item, SendState.REJECTED, error=f"&Open rejected this row: {exc.message}", request_id=exc.request_id
                )
                return
            except UnknownOutcomeError as exc:
                self._record(item, SendState.UNKNOWN, error=exc.message, request_id=exc.request_id)
                return
            except AndOpenError as exc:  # any future class: treat as unknown, never retry blindly
                self._record(item, SendState.UNKNOWN, error=str(exc), request_id=exc.request_id)
                return
            except Exception as exc:  # a bug or a transport surprise after the journal line
                log.exception("unexpected error while sending")
                self._record(item, SendState.UNKNOWN, error=f"unexpected error ({type(exc).__name__})")
                return
            with self._lock:
                self.progress.created += 1  # a gift, whatever happens to the store next
            self._record_sent(item, gift)
            return

    def _claim(self, item: SendItem) -> bool:
        """Journal the row before its first request (look-back, do-not-gift and the daily limit
        checked in the same step); False when refused, the row then saying why. A store blip is
        waited out; a claim given up (a Stop, or the store stayed away) is undone when the store
        is back, as it may have been written: that row was never sent."""
        try:
            claim = self._journal.read(
                lambda: self.store.claim(
                    self.list_key,
                    item.recipient,
                    row_key=item.row_key,
                    campaign_id=self.campaign_id,
                    run_id=self.run_id,
                    lookback_since=self._lookback_since(),
                    daily_limit=self.limits.daily_limit,
                ),
                give_up=self._stop.is_set,
            )
        except Exception as exc:
            self._journal.keep(
                lambda: self.store.forget_attempt(self.list_key, item.recipient.email, self.run_id),
                exc,
                self._fact(item, Fact.NEVER_SENT),
            )
            if self._stop.is_set():
                return False
            raise
        if not claim.claimed:
            if claim.refusal == Refusal.DAILY_LIMIT:
                self._stop_at_daily_limit(item, claim)
                return False
            entry = self._journal.read(lambda: self.store.journal(self.list_key)).get(
                normalize_email(item.recipient.email)
            )
            ours = (SendState.ATTEMPTING, self.run_id, item.row_key)
            if entry and (entry.state, entry.run_id, entry.row_key) == ours:
                return True  # our own claim, written before a blip hid the answer: tried again, it is ours
            if claim.refusal in (Refusal.LOOKBACK, Refusal.DO_NOT_GIFT, Refusal.UNKNOWN_ELSEWHERE):  # skip it, go on
                self._emit(
                    RowResult(item.row_key, item.recipient.email, {ELIGIBILITY: "skip", SKIP_REASON: claim.reason}),
                    skipped=True,
                )
            elif entry:
                self._emit(result_for_entry(item.row_key, entry), already=True, state=entry.state)
            return False
        with self._lock:
            self._in_flight.add(item.row_key)
        return True

    def _record_sent(self, item: SendItem, gift: GiftRequest) -> None:
        """A created gift: journal line, status history, and the row's result, with one timestamp.
        The row gets its id even when the store is away (the journal gets it when it is back)."""
        now = iso(utcnow())
        fact = gift_fact(self.list_key, self.run_id, item.recipient.email, gift, at=now, actor=self.actor)

        def journal() -> None:  # both upserts: safe to repeat after a blip
            self.store.record_outcome(
                self.list_key,
                item.recipient.email,
                SendState.SENT,
                gift_request_id=gift.id,
                redemption_url=gift.redemption_url,
                at=now,
            )
            self.store.add_event(sent_event(fact))

        journalled = self._journal.write(journal, fact)
        self._emit(
            RowResult(
                item.row_key,
                item.recipient.email,
                {
                    GIFT_REQUEST_ID: gift.id,
                    REDEMPTION_URL: gift.redemption_url or "",
                    SEND_ERROR: "",
                    GIFT_STATUS: status_label(gift.status or "submitted"),
                    SENT_AT: shown(now),
                },
            ),
            state=SendState.SENT,
        )
        if not journalled:
            self._stop_for_store()

    def _forget(self, item: SendItem) -> None:
        """Undo this run's journal line of a row that was never sent (now, or when the store is back)."""
        with self._lock:
            self._in_flight.discard(item.row_key)
        if not self._journal.write(
            lambda: self.store.forget_attempt(self.list_key, item.recipient.email, self.run_id),
            self._fact(item, Fact.NEVER_SENT),
        ):
            self._stop_for_store()

    def _fact(self, item: SendItem, fact: Fact, **fields: str | None) -> SpilledFact:
        """What this run decided about a row, in the form kept on disk when the store is away."""
        return SpilledFact(fact, self.list_key, item.recipient.email, self.run_id, fields)

    def _stop_for_store(self) -> None:
        error = self._journal.error
        self.stop(self._journal.stop_message(error) if error is not None else "The run stopped: the store failed.")

    def _create(self, r: Recipient) -> GiftRequest:
        """One POST, timed: how long answers take decides how many requests are kept in flight."""
        token = self.latency.begin()
        try:
            return self.client.create_gift_request(self.campaign_id, r.first_name, r.last_name, r.email)
        finally:
            self.latency.end(token)

    def _send_within_cap(self, item: SendItem) -> None:
        """A row takes a place under this run's cap before its claim; a row that finds the
        cap reached is not journalled and says why."""
        if self._cap is None:
            return self._send_one(item)
        if not self._cap.take(item.row_key, self._stop.is_set):
            if not self._stop.is_set():
                self._emit(
                    RowResult(item.row_key, item.recipient.email, {SEND_ERROR: cap_message(self._cap.limit)}),
                    limited=True,
                )
            return None
        try:
            return self._send_one(item)
        finally:
            self._cap.give_back(item.row_key)  # unless _emit kept it: it became (or may be) a gift

    def _stop_at_daily_limit(self, item: SendItem, claim: Claim) -> None:
        """The team's daily limit refused a claim: stop the run with one message; this row and
        every row not tried yet say why (none of them is journalled)."""
        with self._lock:
            first = self._daily_stop is None
            if first:
                self._daily_stop = claim
        room = claim.room
        assert room is not None  # a daily-limit refusal always says how the limit stands
        self._emit(RowResult(item.row_key, item.recipient.email, {SEND_ERROR: room.row_message()}), limited=True)
        if first:
            self.stop(room.stop_message())
            self._journal.write(
                lambda: self.store.audit(
                    self.actor,
                    "daily limit stop",
                    f"run {self.run_id[:8]}: {room.stop_message()}",
                    list_key=self.list_key,
                )
            )

    def _not_sent_after_daily_limit(self, work: Sequence[SendItem]) -> None:
        """Rows the run never got to (or stopped waiting for) once the daily limit stopped it."""
        room = self._daily_stop.room if self._daily_stop is not None else None
        if room is None:
            return
        for item in work:
            if item.row_key not in self._answered:
                self._emit(
                    RowResult(item.row_key, item.recipient.email, {SEND_ERROR: room.row_message()}), limited=True
                )

    def _lookback_since(self) -> str | None | object:
        days = self.lookback_days
        if not isinstance(days, int):  # NO_LOOKBACK (off) or None (forever)
            return days
        return iso(utcnow() - timedelta(days=days))

    def _record(self, item: SendItem, state: SendState, *, error: str, request_id: str | None = None) -> None:
        if not self._journal.write(
            lambda: self.store.record_outcome(
                self.list_key, item.recipient.email, state, error=error, request_id=request_id
            ),
            self._fact(item, Fact.OUTCOME, state=state.value, error=error, request_id=request_id),
        ):
            self._stop_for_store()
        if state == SendState.UNKNOWN:
            with self._lock:
                self._watch[item.row_key] = item.recipient.email
        text = UNKNOWN_MESSAGE + f" ({error})" if state == SendState.UNKNOWN else error
        if request_id and state != SendState.FAILED:
            text += f" [Request-Id {request_id}]"
        self._emit(RowResult(item.row_key, item.recipient.email, {SEND_ERROR: text}), state=state)

    def _emit(
        self,
        result: RowResult,
        *,
        state: SendState | None = None,
        already: bool = False,
        skipped: bool = False,
        limited: bool = False,
    ) -> None:
        if self._cap is not None and state in (SendState.SENT, SendState.UNKNOWN):
            self._cap.keep(result.row_key)  # a gift, or maybe one: its place under the cap stays taken
        with self._lock:
            self._pending.append(result)
            self._answered.add(result.row_key)
            self._in_flight.discard(result.row_key)
            self._outcomes[result.row_key] = _outcome(state, skipped=skipped, limited=limited)
            if limited:
                self.progress.limited += 1
                self._limited[result.row_key] = result
            elif skipped:
                self.progress.skipped += 1
            elif already:
                self.progress.already += 1
            else:
                self.progress.done += 1
                if state == SendState.SENT:
                    self.progress.sent += 1
                elif state == SendState.REJECTED:
                    self.progress.rejected += 1
                elif state == SendState.UNKNOWN:
                    self.progress.unknown += 1
                elif state == SendState.FAILED:
                    self.progress.failed += 1

    def _interruptible_sleep(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._stop.is_set():
                return False
            self._sleep(min(left, 0.1))
        return True

    def live(self) -> tuple[RunProgress, dict[str, RowOutcome]]:
        """The progress and the rows' outcomes at one moment, so a page shows them in agreement."""
        with self._lock:
            return self.snapshot(), self.row_outcomes()

    def row_outcomes(self) -> dict[str, RowOutcome]:
        """Row key -> what this run has made of it so far, rows in flight as SENDING; a row
        the run has not reached yet is absent."""
        with self._lock:
            return {**dict.fromkeys(self._in_flight, RowOutcome.SENDING), **self._outcomes}

    def limited_results(self) -> list[RowResult]:
        """Why the rows a limit kept back were not sent. The journal holds nothing for them, so a
        page showing the list from the journal shows these until the rows are sent."""
        with self._lock:
            return list(self._limited.values())


def _outcome(state: SendState | None, *, skipped: bool, limited: bool) -> RowOutcome:
    if limited:
        return RowOutcome.LIMITED
    if skipped:
        return RowOutcome.SKIPPED
    if state == SendState.SENT:
        return RowOutcome.SENT
    if state == SendState.REJECTED:
        return RowOutcome.REJECTED
    if state == SendState.FAILED:
        return RowOutcome.FAILED
    return RowOutcome.UNKNOWN  # unknown, or a journal line another run still holds as attempting


__all__ = [
    "SendRun",
    "SendItem",
    "RunProgress",
    "result_for_entry",
    "UNKNOWN_MESSAGE",
    "DEFAULT_RATE",
    "DEFAULT_CONCURRENCY",
    "MAX_CONCURRENCY",
]
