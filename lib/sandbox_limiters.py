"""The rate limiters real APIs put in front of a create, for the sandbox to answer 429 with.

Each one is asked `take(now)`: 0 when the request is allowed (and counted), otherwise the
seconds until one would be. A refused request uses no capacity. Every limiter lets through
`rate` requests a second on average:

- token bucket: a burst of max(1, rate), refilled continuously (the sandbox's original);
- fixed window: N requests per window of N / rate seconds (N = max(1, floor(rate))), windows
  aligned on the clock, so up to 2N can pass across a window boundary;
- sliding window (log): at most N accepted in any window of N / rate seconds.

For a whole rate of 1/s or more the windows are one second long with N = rate.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import Protocol


class LimiterKind(str, Enum):
    TOKEN_BUCKET = "token-bucket"
    FIXED_WINDOW = "fixed-window"
    SLIDING_WINDOW = "sliding-window"


class Limiter(Protocol):
    def take(self, now: float) -> float: ...


def window_for(rate: float) -> tuple[int, float]:
    """(N, seconds): N requests per window, the window as long as N requests take at `rate`."""
    n = max(1, math.floor(rate))
    return n, n / rate


class TokenBucket:
    """A burst of max(1, rate) tokens, starting full, refilled at `rate` a second."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._tokens = self.capacity
        self._last: float | None = None

    def take(self, now: float) -> float:
        if self._last is not None:
            self._tokens = min(self.capacity, self._tokens + max(0.0, now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate


class FixedWindow:
    """N per window [k*W, (k+1)*W) of the clock: a counter reset at each boundary."""

    def __init__(self, rate: float) -> None:
        self.limit, self.window = window_for(rate)
        self._index: int | None = None
        self._count = 0

    def take(self, now: float) -> float:
        index = math.floor(now / self.window)
        if index != self._index:
            self._index, self._count = index, 0
        if self._count < self.limit:
            self._count += 1
            return 0.0
        return (index + 1) * self.window - now


class SlidingWindowLog:
    """At most N accepted in any window (now - W, now]: the log of accepted times."""

    def __init__(self, rate: float) -> None:
        self.limit, self.window = window_for(rate)
        self._log: deque[float] = deque()

    def take(self, now: float) -> float:
        while self._log and self._log[0] <= now - self.window:
            self._log.popleft()
        if len(self._log) < self.limit:
            self._log.append(now)
            return 0.0
        return self._log[0] + self.window - now


_KINDS: dict[LimiterKind, Callable[[float], Limiter]] = {
    LimiterKind.TOKEN_BUCKET: TokenBucket,
    LimiterKind.FIXED_WINDOW: FixedWindow,
    LimiterKind.SLIDING_WINDOW: SlidingWindowLog,
}


def make_limiter(kind: LimiterKind | str, rate: float) -> Limiter:
    """A fresh limiter (ValueError for an unknown kind or a rate that is not positive)."""
    if not rate > 0:
        raise ValueError("a rate limit must be a positive number of requests per second")
    return _KINDS[LimiterKind(kind)](rate)


def retry_after_header(wait: float) -> str:
    """HTTP's Retry-After is whole seconds: round up, and never 0 for a refusal."""
    return str(max(1, math.ceil(wait)))
