"""What a run has done so far, as the pages, the CLI and the store's heartbeat show it."""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .plain_words import person


class RowOutcome(enum.StrEnum):
    """What a run says of one of its rows so far (a row it has not reached has none)."""

    SENDING = "sending"  # claimed in the journal, the request in flight
    SENT = "sent"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    FAILED = "failed"  # never got through: safe to send again
    SKIPPED = "skipped"  # gifted from another list meanwhile (checked at send time)
    LIMITED = "limited"  # the run's cap or the team's daily limit kept it back


@dataclass
class RunProgress:
    total: int = 0
    done: int = 0
    sent: int = 0
    rejected: int = 0
    unknown: int = 0
    failed: int = 0
    already: int = 0  # held by the journal from an earlier run: not sent again
    skipped: int = 0  # gifted from another list while this run went (look-back, checked at send time)
    limited: int = 0  # not sent: this run's cap or the team's daily limit was reached
    resolved: int = 0  # rows shown as unknown that &Open's own updates resolved while this run went
    created: int = 0  # gifts &Open answered with an id, counted before the store records them
    retries: int = 0
    throttled: int = 0
    flushes: int = 0
    flush_errors: int = 0
    writeback_error: str = ""
    waiting: str = ""  # "Waiting for the database… (12 s of 60 s; why)" while a store blip pauses the run
    state: str = "pending"  # pending / running / completed / stopped
    message: str = ""
    started: float = 0.0
    finished: float = 0.0
    run_id: str = ""

    @property
    def elapsed(self) -> float:
        return ((self.finished or time.monotonic()) - self.started) if self.started else 0.0

    @property
    def rate(self) -> float:
        return (self.done / self.elapsed) if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        left = self.total - self.done - self.already - self.skipped - self.limited  # never sent by this run
        return (left / self.rate) if self.rate > 0 and left > 0 else (0.0 if left <= 0 else None)

    @property
    def unrecorded(self) -> int:
        """Gifts &Open created that the store failed to record (a fault right after the answer):
        gifts all the same, so a summary counts them as sent."""
        return max(0, self.created - self.sent)

    def sent_text(self, template: str = "Sent {n}") -> str:
        """`Sent 3`, counting what &Open created even when the store failed to record it, so a
        summary after a fault never says 0 while a gift exists."""
        text = template.format(n=self.sent + self.unrecorded)
        if not self.unrecorded:
            return text
        return (
            f"{text} ({self.unrecorded} created by &Open but not recorded: the store failed right after; "
            "check them in &Open before sending them again)"
        )

    def counts(self) -> dict:
        return {
            k: getattr(self, k)
            for k in (
                "total",
                "done",
                "sent",
                "rejected",
                "unknown",
                "failed",
                "already",
                "skipped",
                "limited",
                "retries",
                "throttled",
                "resolved",
            )
        }


HEARTBEAT_INTERVAL = 5.0  # well inside store.STALE_RUN_SECONDS
STOP_POLL_INTERVAL = 0.5  # a Stop pressed in another process takes effect within a second


def start_keep_alive(
    store: Any, run_id: str, done: threading.Event, stop: Callable[[str], None], counts: Callable[[], dict], name: str
) -> threading.Thread:
    """`keep_alive` on a daemon thread of its own, the way every kind of run starts it."""
    thread = threading.Thread(target=keep_alive, args=(store, run_id, done, stop, counts), daemon=True, name=name)
    thread.start()
    return thread


def keep_alive(
    store: Any,
    run_id: str,
    done: threading.Event,
    stop: Callable[[str], None],
    counts: Callable[[], dict],
    *,
    poll: float = STOP_POLL_INTERVAL,
    beat_every: float = HEARTBEAT_INTERVAL,
) -> None:
    """A run's heartbeat thread (gifts and emails alike): it tells other processes the run is
    alive and hears a Stop pressed in any of them, until `done`. On its own thread, so a slow
    write-back never makes a live run look dead; a busy store is tried again at the next tick."""
    ticks, stopped, missed = 0, False, False
    while not done.wait(poll):
        ticks += 1
        try:
            who = store.stop_requested(run_id)
            if who and not stopped:
                stopped = True
                stop(f"Stopped by {person(who)}.")
            if missed or ticks % max(1, round(beat_every / poll)) == 0:
                store.heartbeat(run_id, counts())  # at once after a blip
            missed = False
        except Exception as exc:  # a busy or absent store: the run itself says it waits
            missed = True
            logging.getLogger("giftrun.runs").debug("run heartbeat failed: %s", exc)
