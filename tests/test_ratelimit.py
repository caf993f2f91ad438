"""lib.ratelimit retries only what &Open certainly did not process, paces requests, learns
&Open's ceiling from its 429s and probes above it again, and sizes the pool of requests in
flight: decisions tested as tables and sequences, the clock and sleep injected."""

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
from lib.ratelimit import AdaptiveRateLimiter, LatencyGauge, PacePolicy, RetryPolicy, retry_delay, workers_for

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


@pytest.mark.parametrize(
    "retry_after,attempt,low,high", RETRY_AFTER, ids=["honoured", "zero", "shorter-than-backoff", "capped", "absent"]
)
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


def test_with_nothing_to_measure_a_429_halves_the_pace_down_to_the_floor(clock):
    lim = limiter(8.0, clock, min_rate=0.5)
    rates = []
    for _ in range(6):
        clock.now += 0.1
        lim.throttled(None)  # no send time given: each one is a new episode
        rates.append(round(lim.rate, 6))
    assert rates == [3.92, 1.9208, 0.941192, 0.5, 0.5, 0.5]  # half, then 2% under that
    assert (lim.throttles, lim.episodes) == (6, 6)


def test_a_lone_429_saying_one_second_cuts_the_pace_but_holds_back_nobody_else(clock):
    lim = limiter(20.0, clock)
    sent = starts(lim, clock, 60)  # three seconds at the pace, all accepted
    lim.throttled(1.0, sent_at=1000.0 + sent[-1])
    assert (lim.ceiling, round(lim.rate, 6), lim.episodes, lim.pauses) == (20.0, 19.6, 1, 0)
    times = starts(lim, clock, 5)
    # not back at the 20/s that was refused, and no second lost: the next slot is one cut gap on
    assert gaps([sent[-1]] + times) == pytest.approx([1 / 19.6] * 5, abs=2e-6)


def test_a_second_429_while_the_first_ones_retry_after_runs_pauses_everyone(clock):
    lim = limiter(20.0, clock)
    sent = starts(lim, clock, 60)
    lim.throttled(1.0, sent_at=1000.0 + sent[-1])
    after = starts(lim, clock, 4)  # at the cut pace, 0.2 s later: refused again, the limit is spent
    lim.throttled(1.0, sent_at=1000.0 + after[-1])
    paused_at = clock.now
    assert (lim.episodes, lim.pauses, round(lim.rate, 6)) == (1, 1, 19.6)  # one episode: cut once
    times = starts(lim, clock, 3)
    assert times[0] == pytest.approx(paused_at - 1000.0 + 1.0)  # Retry-After honoured by everyone
    assert gaps(times) == pytest.approx([1 / 19.6] * 2, abs=2e-6)


def test_a_429_after_the_last_retry_after_ran_out_is_lone_again(clock):
    lim = limiter(20.0, clock)
    sent = starts(lim, clock, 60)
    lim.throttled(1.0, sent_at=1000.0 + sent[-1])
    again = starts(lim, clock, 60)  # three seconds later: the first Retry-After has long run out
    lim.throttled(1.0, sent_at=1000.0 + again[-1])
    assert (lim.episodes, lim.pauses) == (2, 0)


@pytest.mark.parametrize("retry_after,paused", [(1.0, False), (2.0, True), (30.0, True), (500.0, True)])
def test_a_retry_after_longer_than_a_second_pauses_everyone_at_once(retry_after, paused, clock):
    lim = limiter(20.0, clock)
    sent = starts(lim, clock, 60)
    lim.throttled(retry_after, sent_at=1000.0 + sent[-1])
    heard = clock.now
    assert lim.acquire()
    assert lim.pauses == int(paused)
    expected = heard + min(retry_after, 120.0) if paused else 1000.0 + sent[-1] + 1 / 19.6
    assert clock.now == pytest.approx(expected)  # capped at 120 s, as retry_delay caps it


def test_without_retry_after_the_pace_is_cut_but_nobody_waits(clock):
    lim = limiter(20.0, clock)
    sent = starts(lim, clock, 60)
    lim.throttled(None, sent_at=1000.0 + sent[-1])
    times = starts(lim, clock, 3)
    assert gaps([sent[-1]] + times) == pytest.approx([1 / 19.6] * 3, abs=2e-6)


def sends_at(lim: AdaptiveRateLimiter, clock: FakeClock, moments: list[float]) -> None:
    """Requests leave at these moments (seconds after 1000), however the workers were doing."""
    for m in moments:
        clock.now = max(clock.now, 1000.0 + m)
        assert lim.acquire()
        assert clock.now == 1000.0 + m, "a slot was not free when the test expected it"


# (name, pace, moments requests left, moment of the refused one, ceiling learned)
CEILINGS = [
    ("at the pace", 20.0, [i / 20 for i in range(60)], 3.0, 20.0),
    ("a quarter of the pace, right at the start", 20.0, [i / 20 for i in range(5)], 0.25, 5.0),
    ("few workers: 8/s while the pace allowed 20", 20.0, [i / 8 for i in range(24)], 3.0, 8.0),
    ("the first request refused: nothing to measure", 20.0, [], 0.0, 10.0),
    (
        "a busy machine stalled a quarter second: still the pace",
        20.0,
        [i / 20 for i in range(20)] + [1.25 + i / 20 for i in range(35)],
        3.0,
        20.0,
    ),
    ("85% of the pace got through", 20.0, [i / 17 for i in range(51)], 3.0, 17.0),
    ("a slow pace measured over more than a second", 0.5, [0.0, 2.0, 4.0], 6.0, 0.5),
]


@pytest.mark.parametrize("pace,moments,refused,ceiling", [c[1:] for c in CEILINGS], ids=[c[0] for c in CEILINGS])
def test_the_ceiling_is_what_was_getting_through_when_refused(pace, moments, refused, ceiling, clock):
    lim = limiter(pace, clock, min_rate=0.1)
    sends_at(lim, clock, moments)
    clock.now = max(clock.now, 1000.0 + refused)
    lim.throttled(1.0, sent_at=1000.0 + refused)
    assert lim.ceiling == pytest.approx(ceiling)
    assert lim.rate == pytest.approx(ceiling * 0.98)


def test_429s_for_requests_sent_before_the_cut_are_one_episode_but_each_retry_after_is_honoured(clock):
    lim = limiter(20.0, clock)
    sent = starts(lim, clock, 60)
    clock.now += 0.1  # the first 429 arrives
    lim.throttled(1.0, sent_at=1000.0 + sent[-3])
    cut_at = clock.now
    clock.now += 0.3  # two more answers for requests that left before the cut
    lim.throttled(1.0, sent_at=1000.0 + sent[-2])
    clock.now += 0.01  # the last one makes the pause longer: still one pause
    lim.throttled(1.0, sent_at=1000.0 + sent[-1])
    assert (round(lim.rate, 6), lim.episodes, lim.throttles, lim.pauses) == (19.6, 1, 3, 1)
    assert lim.acquire()
    assert clock.now == pytest.approx(cut_at + 0.31 + 1.0)


def test_a_429_at_the_cut_pace_cuts_again_from_there(clock):
    lim = limiter(20.0, clock)
    sent = starts(lim, clock, 60)
    lim.throttled(1.0, sent_at=1000.0 + sent[-1])
    again = starts(lim, clock, 60)  # three seconds at 19.6/s
    lim.throttled(1.0, sent_at=1000.0 + again[-1])
    assert lim.episodes == 2
    assert lim.ceiling == pytest.approx(19.6)
    assert lim.rate == pytest.approx(19.6 * 0.98)


def test_probing_waits_then_steps_up_slowly_then_faster_up_to_the_target(clock):
    policy = PacePolicy(margin=0.02, probe_after=60.0, probe_every=10.0, probe_step=0.01)
    lim = AdaptiveRateLimiter(30.0, clock=clock, sleep=clock.sleep, policy=policy)
    lim.rate = 20.0  # as if it had slowed down on its own: below the 30/s asked for
    sent = starts(lim, clock, 60)
    lim.throttled(None, sent_at=1000.0 + sent[-1])
    assert (lim.ceiling, round(lim.rate, 6)) == (20.0, 19.6)
    cut = clock.now
    seen = []
    for after in (59.9, 60.0, 69.9, 70.0, 80.0, 90.0, 100.0, 110.0, 120.0, 200.0):
        clock.now = cut + after
        assert lim.acquire()
        seen.append((after, round(lim.rate, 6)))
    assert seen == [
        (59.9, 19.6),
        (60.0, 19.8),
        (69.9, 19.8),
        (70.0, 20.2),
        (80.0, 21.0),
        (90.0, 22.6),
        (100.0, 25.8),
        (110.0, 30.0),
        (120.0, 30.0),
        (200.0, 30.0),
    ]


def test_a_429_while_probing_starts_again_under_the_new_ceiling(clock):
    lim = limiter(20.0, clock)
    sent = starts(lim, clock, 60)
    lim.throttled(None, sent_at=1000.0 + sent[-1])
    cut = clock.now
    for after, rate in ((60.0, 19.8), (70.0, 20.0)):  # 19.8 + 0.4 is past the 20/s asked for
        clock.now = cut + after
        assert lim.acquire() and lim.rate == pytest.approx(rate)
    probe = starts(lim, clock, 60)
    lim.throttled(None, sent_at=1000.0 + probe[-1])
    assert lim.rate == pytest.approx(19.6)
    clock.now += 59.0
    assert lim.acquire() and lim.rate == pytest.approx(19.6)  # quiet again for a full probe_after first


@pytest.mark.parametrize(
    "error,throttles,rate",
    [
        (RateLimitedError("429", retry_after=2.0), 1, 4.9),
        (ServiceUnavailableError("503", retry_after=2.0), 0, 10.0),
        (NotSentError("refused"), 0, 10.0),
        (RejectedError("bad"), 0, 10.0),
    ],
    ids=["429", "503", "refused", "rejected"],
)
def test_only_rate_limits_slow_the_pace(error, throttles, rate, clock):
    lim = limiter(10.0, clock)
    lim.on_error(error)
    assert (lim.throttles, round(lim.rate, 6)) == (throttles, rate)


# -- the gate: requests never leave bunched ------------------------------------------------
def passes(lim: AdaptiveRateLimiter, clock: FakeClock, moments: list[float]) -> list[float]:
    """Each request reaches the gate at a moment; when did it leave?"""
    out = []
    for m in moments:
        clock.now = max(clock.now, 1000.0 + m)
        assert lim.gate()
        out.append(round(clock.now - 1000.0, 6))
    return out


@pytest.mark.parametrize(
    "moments,left",
    [
        ([0.0, 0.25, 0.5, 0.75, 1.0, 1.25], [0.0, 0.25, 0.5, 0.75, 1.0, 1.25]),  # on time: no wait
        ([0.1, 0.25, 0.5, 0.75, 1.0, 1.25], [0.1, 0.25, 0.5, 0.75, 1.1, 1.25]),  # the first left late: the fifth waits
        ([0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0]),  # at most 4 in any second at 4/s
    ],
    ids=["on-time", "one-late", "bunched"],
)
def test_the_gate_keeps_k_requests_at_least_k_slots_apart(moments, left, clock):
    assert passes(limiter(4.0, clock), clock, moments) == left


def test_the_gate_follows_the_cut_pace(clock):
    lim = limiter(2.0, clock)
    assert passes(lim, clock, [0.0, 0.5]) == [0.0, 0.5]
    lim.throttled(None)  # nothing measured: half the pace, 2% under: 0.98/s, K = 1
    assert passes(lim, clock, [0.6]) == [round(0.5 + 1 / 0.98, 6)]


def test_the_gate_returns_false_when_stopped_while_waiting(clock):
    lim = limiter(1.0, clock)
    assert lim.gate()
    began = clock.now
    assert lim.gate(should_stop=lambda: clock.now - began >= 0.3) is False
    assert clock.now - began <= 0.4


# -- how many in flight --------------------------------------------------------------------
@pytest.mark.parametrize(
    "rate,latency,workers",
    [
        (20, 0.1, 8),  # fast answers: the floor
        (20, 1.5, 45),  # 30 in flight, and half again for slower answers
        (20, 1.0, 30),
        (10, 1.0, 15),
        (20, 10.0, 64),  # the cap
        (0.5, 30.0, 23),
        (20, 0.0, 8),
    ],
)
def test_workers_follow_rate_times_latency_with_headroom_and_bounds(rate, latency, workers):
    assert workers_for(rate, latency, least=8, most=64) == workers


def test_the_latency_gauge_averages_answers_and_sees_a_slow_one_before_it_ends(clock):
    gauge = LatencyGauge(weight=0.5, clock=clock)
    assert gauge.seconds() == 0.0
    a = gauge.begin()
    clock.now += 1.0
    gauge.end(a)
    assert gauge.seconds() == pytest.approx(1.0)
    b = gauge.begin()
    clock.now += 2.0
    gauge.end(b)
    assert gauge.seconds() == pytest.approx(1.5)  # halfway to the new answer
    c = gauge.begin()
    clock.now += 4.0
    assert gauge.seconds() == pytest.approx(4.0)  # still waiting: at least that slow
    gauge.end(c)
    assert gauge.seconds() == pytest.approx(2.75)


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


def test_what_the_pace_found_is_said_only_after_a_429(clock):
    lim = limiter(20.0, clock)
    sent = starts(lim, clock, 60)
    assert lim.found() is None
    lim.throttled(1.0, sent_at=1000.0 + sent[-1])
    lim.throttled(1.0, sent_at=1000.0 + sent[-2])
    assert lim.found() == (
        "&Open refused 2 requests as too many (429); they were tried again. &Open allowed about 20.0 a "
        "second, so the pace went on at 19.6/s (asked for: 20/s)."
    )


def test_after_a_pause_for_a_spent_limit_a_refilled_burst_is_not_taken_for_the_rate(clock):
    """A token bucket (20/s, 20 deep) asked for 40/s: a full second goes through, then the
    bucket is spent. After the pause it refills and lets another second at 40/s through, so
    what got through since the pause says 40; counted over the last seconds, pause included,
    it is what the bucket really gives."""
    lim = limiter(40.0, clock)
    first = starts(lim, clock, 40)  # a full bucket, then its refill: all 40 accepted
    lim.throttled(1.0, sent_at=1000.0 + first[-1])  # lone: the pace is cut, nobody waits
    assert (lim.ceiling, lim.pauses) == (40.0, 0)
    spent = starts(lim, clock, 2)
    lim.throttled(1.0, sent_at=1000.0 + spent[-1])  # refused again within the second: spent
    assert lim.pauses == 1
    burst = starts(lim, clock, 40)  # after the pause, the refilled bucket lets a second through
    assert burst[0] >= spent[-1] + 1.0
    lim.throttled(1.0, sent_at=1000.0 + burst[-1])
    window_start = burst[-1] - 3.0
    accepted = sum(1 for t in first[:-1] + spent[:-1] + burst[:-1] if t >= window_start)
    assert lim.episodes == 2
    assert lim.ceiling == pytest.approx(accepted / 3.0, rel=1e-6)
    assert lim.ceiling < 0.8 * 40  # not the 40/s the burst alone showed
