"""Pacing and retry decisions for sending: pure where possible, clock and sleep injected."""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Callable

from .andopen import AndOpenError, RateLimitedError, RetryableError


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8  # total tries of one row, first one included
    base: float = 0.5
    cap: float = 20.0


def retry_delay(attempt: int, error: AndOpenError, rng: random.Random, policy: RetryPolicy = RetryPolicy()) -> float | None:
    """Seconds to wait before try number `attempt + 1`, or None when the row must not be
    retried: only outcomes &Open certainly did not process are retried (docs/andopen-contract.md)."""
    if not isinstance(error, RetryableError) or attempt >= policy.max_attempts:
        return None
    backoff = min(policy.cap, policy.base * 2 ** (attempt - 1))
    delay = backoff / 2 + rng.uniform(0, backoff / 2)  # "equal jitter": never zero, never in lockstep
    if error.retry_after is not None:
        delay = max(delay, min(error.retry_after, 120.0))
    return delay


class AdaptiveRateLimiter:
    """A token bucket at `rate` requests/s that halves its pace when &Open answers 429
    (and pauses for Retry-After), then climbs back to the target after successes."""

    def __init__(self, rate: float, *, burst: float = 1.0, min_rate: float = 0.5,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.target = rate
        self.rate = rate
        self.min_rate = min(min_rate, rate)
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = clock()  # the earliest moment the next request may start
        self._paused_until = 0.0
        self.throttles = 0

    def acquire(self, should_stop: Callable[[], bool] = lambda: False, slice_s: float = 0.1) -> bool:
        """Wait for a slot; False when stopped first. Waits in short slices so a Stop
        takes effect within a second."""
        with self._lock:
            now = self._clock()
            start = max(self._next, now - (self.burst - 1) / self.rate, self._paused_until)
            self._next = start + 1.0 / self.rate
        while True:
            if should_stop():
                return False
            wait = start - self._clock()
            if wait <= 0:
                return True
            self._sleep(min(wait, slice_s))

    def throttled(self, retry_after: float | None) -> None:
        with self._lock:
            self.throttles += 1
            self.rate = max(self.min_rate, self.rate * 0.5)
            if retry_after:
                self._paused_until = max(self._paused_until, self._clock() + retry_after)
                self._next = max(self._next, self._paused_until)

    def succeeded(self) -> None:
        with self._lock:
            if self.rate < self.target:
                self.rate = min(self.target, self.rate + self.target / 20)

    def on_error(self, error: AndOpenError) -> None:
        if isinstance(error, RateLimitedError):
            self.throttled(error.retry_after)
