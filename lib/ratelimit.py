"""Pacing and retry decisions for sending: pure where possible, clock and sleep injected."""

from __future__ import annotations

import itertools
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .andopen import AndOpenError, RateLimitedError, RetryableError

RETRY_AFTER_CAP = 120.0  # seconds: a longer Retry-After is waited only this long (an absurd one never stalls a run)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8  # total tries of one row, first one included
    base: float = 0.5
    cap: float = 20.0


def retry_delay(
    attempt: int, error: AndOpenError, rng: random.Random, policy: RetryPolicy = RetryPolicy()
) -> float | None:
    """Seconds to wait before try number `attempt + 1`, or None when the row must not be
    retried: only outcomes &Open certainly did not process are retried (docs/andopen-contract.md)."""
    if not isinstance(error, RetryableError) or attempt >= policy.max_attempts:
        return None
    backoff = min(policy.cap, policy.base * 2 ** (attempt - 1))
    delay = backoff / 2 + rng.uniform(0, backoff / 2)  # "equal jitter": never zero, never in lockstep
    if error.retry_after is not None:
        delay = max(delay, min(error.retry_after, RETRY_AFTER_CAP))
    return delay


@dataclass(frozen=True)
class PacePolicy:
    """How the pace learns &Open's ceiling from 429s and looks above it again."""

    margin: float = 0.02  # resume this share under the learned ceiling
    measure: float = 3.0  # seconds of sending the ceiling is measured over (at least 2 requests' worth)
    trust: float = 0.1  # a measured rate this close under the pace counts as the pace
    probe_after: float = 60.0  # seconds without a 429 before the first step up
    probe_every: float = 10.0  # seconds between later steps
    probe_step: float = 0.01  # the first step, a share of the ceiling; it doubles at each step
    lone_hold: float = 1.0  # a lone 429 with a Retry-After up to this holds back only its own row


_HISTORY = 60.0  # seconds of sends kept: a 429 can arrive this late (a slow answer) and still be measured


class AdaptiveRateLimiter:
    """Paces requests at up to `rate` a second and learns &Open's ceiling from its 429s.

    A 429 starts an *episode*, which every later 429 for a request sent before it joins. An
    episode takes as the ceiling the rate it was sending at (or what got through, when clearly
    less: see _getting_through) and goes on `margin` under that ceiling, not at the rate that
    was refused. After `probe_after` seconds without a 429 the pace steps up, by a share of
    the ceiling that doubles at each quiet step, so a raised limit is found again.

    Retry-After: the refused row always waits it out (retry_delay). Every other request
    waits it out too when the limit is *spent*: a second 429 while the last one's Retry-After
    runs, or a Retry-After longer than `lone_hold`. A lone 429 saying 1 s (the least a
    whole-seconds header can say) only tells that one request came a little early: a strict
    sliding window refuses one request that network jitter brought forward, and the next, at
    the cut pace, is let through. Pausing everyone for it would lose a second of the limit
    per jitter, the cost the issue measured at 1.6x."""

    def __init__(
        self,
        rate: float,
        *,
        burst: float = 1.0,
        min_rate: float = 0.5,
        policy: PacePolicy = PacePolicy(),
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.target = rate
        self.rate = rate
        self.ceiling: float | None = None  # the rate last refused with a 429, as measured
        self.min_rate = min(min_rate, rate)
        self.burst = burst
        self.policy = policy
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()  # the state below
        self._turn = threading.Lock()  # one waiter at a time sleeps toward the next slot
        self._next = clock()  # the earliest moment the next request may start
        self._last_grant = float("-inf")
        self._mine = threading.local()  # .granted: when this thread's last slot was given
        self._paused_until = float("-inf")
        self._cut_at = float("-inf")  # a 429 for a request sent before this belongs to the last episode
        self._holds_until = float("-inf")  # the last 429's Retry-After runs until then
        self._started_at: float | None = None  # the first send: measuring never starts before it
        self._quiet_since = clock()  # the last cut, resume or step up
        self._steps = 0  # steps up since the last episode
        self._sends: deque[float] = deque()
        self._posts: deque[float] = deque(maxlen=math.ceil(rate) + 1)  # when the last requests passed gate()
        self._refused: deque[float] = deque()  # send times of the requests answered 429
        self.throttles = 0
        self.episodes = 0
        self.pauses = 0  # times every request waited for a Retry-After

    def acquire(self, should_stop: Callable[[], bool] = lambda: False, slice_s: float = 0.1) -> bool:
        """Wait for a slot; False when stopped first. Waits in short slices so a Stop takes
        effect within a second, and takes its slot only when it is due, so a cut or a pause
        applies to every request that has not started yet."""
        while not self._turn.acquire(timeout=slice_s):
            if should_stop():
                return False
        try:
            while True:
                if should_stop():
                    return False
                with self._lock:
                    now = self._clock()
                    self._probe(now)
                    interval = 1.0 / self.rate
                    # a waiter woken a little late keeps the schedule (half a slot); a long idle
                    # time is not made up beyond the burst
                    start = max(self._next, self._paused_until, now - max(self.burst - 1, 0.5) * interval)
                    if start <= now:
                        self._next = start + interval
                        self._last_grant = start
                        self._mine.granted = now
                        self._sent(now)
                        return True
                    wait = start - now
                self._sleep(min(wait, slice_s))
        finally:
            self._turn.release()

    def gate(self, should_stop: Callable[[], bool] = lambda: False, slice_s: float = 0.1) -> bool:
        """Right before a request leaves: never more than K requests within K / pace seconds
        (K: the pace rounded up), by the moments they really leave. A slot taken on time but
        sent late (a slow journal write, a busy machine) is then never followed by a bunch
        that a strict window would refuse; it costs the wait, not a 429. False when stopped."""
        while True:
            if should_stop():
                return False
            with self._lock:
                now = self._clock()
                k = max(1, math.ceil(self.rate - 1e-9))
                if len(self._posts) < k or now >= self._posts[-k] + k / self.rate:
                    self._posts.append(now)
                    return True
                wait = self._posts[-k] + k / self.rate - now
            self._sleep(min(wait, slice_s))

    def throttled(self, retry_after: float | None, sent_at: float | None = None) -> None:
        """A 429 for the request given a slot at `sent_at`: by default the calling thread's
        last slot (the thread that sent it hears its answer), else now."""
        with self._lock:
            now = self._clock()
            sent = sent_at if sent_at is not None else getattr(self._mine, "granted", now)
            wait = min(retry_after, RETRY_AFTER_CAP) if retry_after and retry_after > 0 else 0.0
            spent = now < self._holds_until  # refused again while the last Retry-After runs
            self.throttles += 1
            if sent > self._cut_at and not spent:  # sent at the pace now refused: a new episode
                self.episodes += 1
                self.ceiling = self._getting_through(sent)
                self.rate = max(self.min_rate, self.ceiling * (1 - self.policy.margin))
                self._next = self._last_grant + 1.0 / self.rate  # the next slot already at the new pace
                self._cut_at = now
                self._steps = 0
            self._refused.append(sent)
            if wait and (spent or wait > self.policy.lone_hold) and now + wait > self._paused_until:
                if self._paused_until <= now:  # a new pause, not one made longer
                    self.pauses += 1
                self._paused_until = now + wait
            self._holds_until = max(self._holds_until, now + wait)
            self._quiet_since = max(self._quiet_since, now, self._paused_until)

    def found(self) -> str | None:
        """What the run learned of &Open's limit, for the person who ran it (None: no 429)."""
        with self._lock:
            if self.ceiling is None:  # set by the first 429
                return None
            n = self.throttles
            return (
                f"&Open refused {n} request{'s' if n != 1 else ''} as too many (429); "
                f"{'it was' if n == 1 else 'they were'} tried again. &Open allowed about {self.ceiling:.1f} a second, "
                f"so the pace went on at {self.rate:.1f}/s (asked for: {self.target:g}/s)."
            )

    def on_error(self, error: AndOpenError, sent_at: float | None = None) -> None:
        """Only a 429 slows the pace: a 503 is &Open unwell, not &Open counting."""
        if isinstance(error, RateLimitedError):
            self.throttled(error.retry_after, sent_at)

    # -- inside the lock --
    def _sent(self, now: float) -> None:
        if self._started_at is None:
            self._started_at = now
        self._sends.append(now)
        for log in (self._sends, self._refused):
            while log and log[0] < now - _HISTORY:
                log.popleft()

    def _getting_through(self, sent: float) -> float:
        """The ceiling a 429 for a request sent at `sent` shows: the pace, unless clearly fewer
        got through: the requests accepted in the last `measure` seconds before it, over those
        seconds. Within `trust` of the pace it is the pace (a busy machine's stalls are no lower
        limit). A pause counts as time: pauses come only when the limit was spent, and a bucket
        refilled during one lets a burst through that is no measure of its rate. Less than a
        second is counted as a second: refused that soon after the start, the limit is that
        low. Too few to measure: half the pace."""
        window = max(self.policy.measure, 2.0 / self.rate)
        since = max(sent - window, self._started_at if self._started_at is not None else sent)
        sends = [t for t in self._sends if since <= t < sent]
        accepted = len(sends) - sum(1 for t in self._refused if since <= t < sent)
        if accepted < 2:
            return max(self.min_rate, self.rate * 0.5)
        measured = accepted / max(sent - since, 1.0)
        return self.rate if measured >= self.rate * (1 - self.policy.trust) else max(self.min_rate, measured)

    def _probe(self, now: float) -> None:
        if self.ceiling is None or self.rate >= self.target:
            return
        if now - self._quiet_since >= (self.policy.probe_after if self._steps == 0 else self.policy.probe_every):
            self.rate = min(self.target, self.rate + self.policy.probe_step * 2**self._steps * self.ceiling)
            self._steps += 1
            self._quiet_since = now


def workers_for(rate: float, latency: float, *, least: int, most: int, headroom: float = 1.5) -> int:
    """Requests to keep in flight so `rate` a second is reached when each takes `latency`
    seconds (Little's law), with headroom for slower answers; never fewer than `least` nor
    more than `most`."""
    return max(least, min(most, math.ceil(rate * latency * headroom)))


class LatencyGauge:
    """How long a create takes, as seen from here: the recent average of answers, or longer
    while a request has already waited longer, so a slow API is seen before it answers."""

    def __init__(self, *, weight: float = 0.2, clock: Callable[[], float] = time.monotonic) -> None:
        self._weight = weight
        self._clock = clock
        self._lock = threading.Lock()
        self._average: float | None = None
        self._open: dict[int, float] = {}
        self._ids = itertools.count()

    def begin(self) -> int:
        with self._lock:
            token = next(self._ids)
            self._open[token] = self._clock()
            return token

    def end(self, token: int) -> None:
        with self._lock:
            took = self._clock() - self._open.pop(token)
            self._average = took if self._average is None else self._average + self._weight * (took - self._average)

    def seconds(self) -> float:
        with self._lock:
            oldest = (self._clock() - min(self._open.values())) if self._open else 0.0
            return max(self._average or 0.0, oldest)
