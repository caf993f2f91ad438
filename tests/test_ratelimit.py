"""lib.ratelimit retries only what &Open certainly did not process, and paces requests,
backing off on 429s: decisions tested as tables, the clock and sleep injected."""
from __future__ import annotations

import random

import pytest

from lib.andopen import (
    AndOpenError,
    ApiVersionError,
    AuthenticationError,
    CampaignError,
    ConfigError,
    NotFoundError,
    NotSentError,
    PermissionDeniedError,
    RateLimitedError,
    RejectedError,
    RetryableError,
    ServiceUnavailableError,
    UnknownOutcomeError,
)
from lib.ratelimit import AdaptiveRateLimiter, RetryPolicy, retry_delay

POLICY = RetryPolicy(max_attempts=8, base=0.5, cap=20.0)

# (error, retried?)
ERRORS = [
    (RateLimitedError("429"), True),
    (ServiceUnavailableError("503"), True),
    (NotSentError("refused"), True),
    (RetryableError("500 on a GET"), True),
    (UnknownOutcomeError("500 after create"), False),
    (RejectedError("bad email"), False),
    (NotFoundError("no such gift"), False),
    (AuthenticationError("401"), False),
    (PermissionDeniedError("403"), False),
    (CampaignError("archived"), False),
    (ApiVersionError("400"), False),
    (ConfigError("staging key on production"), False),
    (AndOpenError("root"), False),
]


@pytest.mark.parametrize("error,retried", ERRORS, ids=[type(e).__name__ for e, _ in ERRORS])
def test_only_retryable_errors_get_a_delay(error, retried):
    delay = retry_delay(1, error, random.Random(1), POLICY)
    assert (delay is not None) == retried
    if retried:
        assert 0 < delay <= POLICY.base


@pytest.mark.parametrize("attempt,retried", [(1, True), (7, True), (8, False), (9, False), (100, False)])
def test_no_delay_once_the_attempts_are_used_up(attempt, retried):
    assert (retry_delay(attempt, NotSentError("x"), random.Random(1), POLICY) is not None) == retried


# (attempt, lower bound, upper bound): backoff b = min(cap, base * 2**(attempt-1)), delay in [b/2, b]
JITTER = [(1, 0.25, 0.5), (2, 0.5, 1.0), (3, 1.0, 2.0), (5, 4.0, 8.0), (6, 8.0, 16.0), (7, 10.0, 20.0)]


@pytest.mark.parametrize("attempt,low,high", JITTER, ids=[f"attempt-{a}" for a, _, _ in JITTER])
def test_backoff_doubles_is_capped_and_jitter_stays_in_bounds(attempt, low, high):
    rng = random.Random(42)
    delays = [retry_delay(attempt, ServiceUnavailableError("x"), rng, POLICY) for _ in range(200)]
    assert all(low <= d <= high for d in delays)
    assert len(set(delays)) > 100  # jittered, not in lockstep
    assert max(delays) - min(delays) > (high - low) * 0.8  # spread over the whole band


def test_capped_for_late_attempts_with_a_long_policy():
    policy = RetryPolicy(max_attempts=40, base=0.5, cap=20.0)
    rng = random.Random(3)
    assert all(10.0 <= retry_delay(a, NotSentError("x"), rng, policy) <= 20.0 for a in range(7, 40))


def test_same_seed_same_delays():
    def delays(seed):
        rng = random.Random(seed)
        return [retry_delay(a, NotSentError("x"), rng, POLICY) for a in range(1, 8)]

    assert delays(5) == delays(5)
    assert delays(5) != delays(6)


# (retry_after, attempt, lower bound, upper bound)
RETRY_AFTER = [
    (7.0, 1, 7.0, 7.0),  # longer than the backoff: honoured exactly
    (0.0, 3, 1.0, 2.0),  # "retry now" never shortens the backoff
    (0.1, 1, 0.25, 0.5),
    (1000.0, 1, 120.0, 120.0),  # an absurd Retry-After is capped
    (None, 2, 0.5, 1.0),
]


@pytest.mark.parametrize("retry_after,attempt,low,high", RETRY_AFTER,
                         ids=["honoured", "zero", "shorter-than-backoff", "capped", "absent"])
def test_retry_after_is_honoured_and_capped(retry_after, attempt, low, high):
    for cls in (RateLimitedError, ServiceUnavailableError):
        d = retry_delay(attempt, cls("x", retry_after=retry_after), random.Random(9), POLICY)
        assert low <= d <= high


def test_retry_after_does_not_make_a_non_retryable_error_retryable():
    exc = UnknownOutcomeError("500")
    exc.retry_after = 3.0  # type: ignore[attr-defined]
    assert retry_delay(1, exc, random.Random(1), POLICY) is None


# ------------------------------------------------------------------ AdaptiveRateLimiter

class FakeClock:
    """Time that moves only when someone sleeps."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert 0 < seconds <= 0.1 + 1e-9  # waits in short slices so Stop is seen promptly
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def limiter(rate: float, clock: FakeClock, **kw) -> AdaptiveRateLimiter:
    return AdaptiveRateLimiter(rate, clock=clock, sleep=clock.sleep, **kw)


def starts(lim: AdaptiveRateLimiter, clock: FakeClock, n: int) -> list[float]:
    out = []
    for _ in range(n):
        assert lim.acquire()
        out.append(round(clock.now - 1000.0, 6))
    return out


def gaps(times: list[float]) -> list[float]:
    return [round(b - a, 6) for a, b in zip(times, times[1:])]


@pytest.mark.parametrize("rate,gap", [(10.0, 0.1), (4.0, 0.25), (1.0, 1.0), (0.5, 2.0)])
def test_paces_at_the_rate(rate, gap, clock):
    times = starts(limiter(rate, clock), clock, 6)
    assert times[0] == 0.0
    assert gaps(times) == [gap] * 5


def test_burst_allows_a_few_at_once_after_idle_time(clock):
    lim = limiter(10.0, clock, burst=3)
    starts(lim, clock, 1)
    clock.now += 5.0  # idle
    times = starts(lim, clock, 5)
    assert gaps(times) == [0.0, 0.0, 0.1, 0.1]


def test_throttled_halves_the_rate_down_to_the_floor(clock):
    lim = limiter(8.0, clock, min_rate=0.5)
    rates = []
    for _ in range(6):
        lim.throttled(None)
        rates.append(lim.rate)
    assert rates == [4.0, 2.0, 1.0, 0.5, 0.5, 0.5]
    assert lim.throttles == 6


def test_throttled_slows_the_pace(clock):
    lim = limiter(10.0, clock)
    starts(lim, clock, 2)
    lim.throttled(None)
    times = starts(lim, clock, 4)
    assert gaps(times)[1:] == [0.2, 0.2]  # the slot already promised keeps its time


@pytest.mark.parametrize("retry_after", [3.0, 0.5, 12.0])
def test_throttled_pauses_for_retry_after(retry_after, clock):
    lim = limiter(10.0, clock)
    starts(lim, clock, 1)
    lim.throttled(retry_after)
    paused_at = clock.now
    assert lim.acquire()
    assert clock.now == pytest.approx(paused_at + retry_after)


def test_succeeded_climbs_back_to_the_target_and_no_further(clock):
    lim = limiter(10.0, clock)
    lim.throttled(None)
    assert lim.rate == 5.0
    climb = []
    for _ in range(15):
        lim.succeeded()
        climb.append(round(lim.rate, 6))
    assert climb[:10] == [5.5, 6.0, 6.5, 7.0, 7.5, 8.0, 8.5, 9.0, 9.5, 10.0]
    assert climb[10:] == [10.0] * 5


@pytest.mark.parametrize("error,throttles", [
    (RateLimitedError("429", retry_after=2.0), 1), (ServiceUnavailableError("503", retry_after=2.0), 0),
    (NotSentError("refused"), 0), (RejectedError("bad"), 0),
], ids=["429", "503", "refused", "rejected"])
def test_only_rate_limits_slow_the_pace(error, throttles, clock):
    lim = limiter(10.0, clock)
    lim.on_error(error)
    assert (lim.throttles, lim.rate) == (throttles, 5.0 if throttles else 10.0)


def test_acquire_returns_false_at_once_when_stopped(clock):
    lim = limiter(10.0, clock)
    assert lim.acquire(should_stop=lambda: True) is False
    assert clock.sleeps == []


def test_stop_ends_a_long_wait_within_a_slice(clock):
    lim = limiter(0.1, clock)  # one request every 10 s
    starts(lim, clock, 1)
    began = clock.now
    assert lim.acquire(should_stop=lambda: clock.now - began >= 1.0) is False
    assert 1.0 <= clock.now - began <= 1.1 + 1e-9
    assert len(clock.sleeps) <= 11


def test_rate_must_be_positive():
    for rate in (0, -1):
        with pytest.raises(ValueError):
            AdaptiveRateLimiter(rate)
