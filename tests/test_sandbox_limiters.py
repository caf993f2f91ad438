"""The sandbox's rate limiters keep exactly the rules real APIs use: each tested as a sequence
of (moment, allowed?, wait) with the clock given, then over HTTP with and without Retry-After."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
import requests

from lib.sandbox import DEFAULT_TOKEN, Faults
from lib.sandbox_limiters import (
    FixedWindow,
    LimiterKind,
    SlidingWindowLog,
    TokenBucket,
    make_limiter,
    retry_after_header,
    window_for,
)
from tests.support import until

T0 = 1000.0  # the clock's zero for the sequences below, on a whole second


def run(limiter, moments: list[float]) -> list[float]:
    """The wait each request at T0 + moment is answered with (0: allowed)."""
    return [round(limiter.take(T0 + m), 6) for m in moments]


# -- window_for: N per window of N / rate seconds ----------------------------------------------
@pytest.mark.parametrize(
    "rate,expected",
    [(20, (20, 1.0)), (1, (1, 1.0)), (2.5, (2, 0.8)), (0.1, (1, 10.0)), (0.5, (1, 2.0)), (19.6, (19, 19 / 19.6))],
)
def test_windows_hold_whole_requests_at_exactly_the_rate(rate, expected):
    n, window = window_for(rate)
    assert (n, round(window, 9)) == (expected[0], round(expected[1], 9))
    assert n / window == pytest.approx(rate)


# -- token bucket -----------------------------------------------------------------------------
def test_token_bucket_allows_a_full_burst_then_one_per_refill():
    waits = run(TokenBucket(5), [0, 0, 0, 0, 0, 0, 0.1, 0.2, 0.2, 0.4, 1.4])
    assert waits == [0, 0, 0, 0, 0, 0.2, 0.1, 0, 0.2, 0, 0]


def test_token_bucket_refusals_use_no_tokens_and_the_burst_is_capped():
    bucket = TokenBucket(2)
    assert run(bucket, [0, 0, 0, 0, 0]) == [0, 0, 0.5, 0.5, 0.5]
    assert run(bucket, [10, 10, 10]) == [0, 0, 0.5]  # ten idle seconds still hold only two tokens


def test_a_slow_token_bucket_has_a_burst_of_one():
    assert run(TokenBucket(0.5), [0, 0, 1, 2]) == [0, 2.0, 1.0, 0]


# -- fixed window -----------------------------------------------------------------------------
def test_fixed_window_counts_per_clock_window_and_resets_at_the_boundary():
    limiter = FixedWindow(3)
    assert run(limiter, [0.1, 0.2, 0.3, 0.4, 0.99, 1.0, 1.0, 1.0, 1.5]) == [0, 0, 0, 0.6, 0.01, 0, 0, 0, 0.5]


def test_fixed_window_lets_twice_the_limit_through_across_a_boundary():
    limiter = FixedWindow(20)
    late = [0.9 + i * 0.004 for i in range(20)]  # 20 in the last 0.1 s of one window…
    early = [1.0 + i * 0.004 for i in range(20)]  # …and 20 in the first 0.1 s of the next
    assert run(limiter, late + early) == [0] * 40
    assert run(limiter, [1.1]) == [0.9]


def test_fixed_window_refusals_do_not_count():
    limiter = FixedWindow(2)
    assert run(limiter, [0, 0, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0]) == [0, 0, 0.5, 0.5, 0.5, 0, 0, 1.0]


def test_a_slow_fixed_window_is_as_long_as_one_request_takes():
    limiter = FixedWindow(0.1)  # one request per ten-second window
    assert run(limiter, [0, 5, 9.5, 10, 10]) == [0, 5.0, 0.5, 0, 10.0]


# -- sliding window (log) ---------------------------------------------------------------------
def test_sliding_window_allows_n_in_any_window_and_frees_each_slot_a_window_after_its_use():
    limiter = SlidingWindowLog(3)
    assert run(limiter, [0.0, 0.3, 0.6, 0.9, 0.99, 1.0, 1.05, 1.3, 1.31]) == [0, 0, 0, 0.1, 0.01, 0, 0.25, 0, 0.29]


def test_sliding_window_never_lets_twice_the_limit_through_across_a_boundary():
    limiter = SlidingWindowLog(20)
    late = [0.9 + i * 0.004 for i in range(20)]
    assert run(limiter, late) == [0] * 20
    waits = run(limiter, [1.0 + i * 0.004 for i in range(20)])
    assert all(w > 0 for w in waits)  # the fixed window's weakness is not this one's
    assert run(limiter, [1.9]) == [0]  # the first of the 20 left the window


def test_sliding_window_refusals_are_not_logged():
    limiter = SlidingWindowLog(1)
    assert run(limiter, [0, 0.5, 0.9, 1.0, 1.5, 2.0]) == [0, 0.5, 0.1, 0, 0.5, 0]


def test_at_exactly_the_rate_a_sliding_window_refuses_a_request_a_little_early():
    limiter = SlidingWindowLog(20)
    moments = [i * 0.05 for i in range(20)] + [0.999, 1.0]
    assert run(limiter, moments)[-2:] == [0.001, 0]


# -- making one, and the header -----------------------------------------------------------------
@pytest.mark.parametrize(
    "kind,cls",
    [
        ("token-bucket", TokenBucket),
        ("fixed-window", FixedWindow),
        ("sliding-window", SlidingWindowLog),
        (LimiterKind.SLIDING_WINDOW, SlidingWindowLog),
    ],
)
def test_make_limiter_by_name(kind, cls):
    assert isinstance(make_limiter(kind, 5), cls)


@pytest.mark.parametrize("kind,rate", [("leaky-bucket", 5), ("token-bucket", 0), ("fixed-window", -1)])
def test_make_limiter_refuses_what_it_cannot_keep(kind, rate):
    with pytest.raises(ValueError):
        make_limiter(kind, rate)


@pytest.mark.parametrize("wait,header", [(0.001, "1"), (0.5, "1"), (1.0, "1"), (1.01, "2"), (9.2, "10")])
def test_retry_after_is_whole_seconds_rounded_up_and_never_zero(wait, header):
    assert retry_after_header(wait) == header


# -- over HTTP ------------------------------------------------------------------------------
AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}", "AndOpen-API-Version": "2026-05"}


def post_gift(http, sb, i):
    body = {
        "campaign_id": sb.campaign_ids[0],
        "recipient": {"first_name": "Ana", "last_name": "Lima", "email": f"p{i}@example.com"},
    }
    return http.post(f"{sb.url}/gift_requests", json=body, headers=AUTH, timeout=10)


@pytest.mark.parametrize("kind", list(LimiterKind))
@pytest.mark.parametrize("retry_after", [True, False], ids=["retry-after", "no-retry-after"])
def test_each_limiter_answers_429_with_or_without_retry_after_and_creates_nothing(
    http, make_sandbox, kind, retry_after
):
    sb = make_sandbox(faults=Faults(rate_limit=0.1, limiter=kind, retry_after=retry_after))  # one per 10 s
    first, second = post_gift(http, sb, 1), post_gift(http, sb, 2)
    assert (first.status_code, second.status_code) == (201, 429)
    assert [(e["type"], e["code"]) for e in second.json()["errors"]] == [("rate_limit_error", "too_many_requests")]
    if retry_after:
        assert 1 <= int(second.headers["Retry-After"]) <= 10
    else:
        assert "Retry-After" not in second.headers
    assert len(sb.gifts) == 1


def test_a_429_is_answered_before_the_work_so_without_the_latency(http, make_sandbox):
    """A limiter refuses at the door: a 429 does not take the create's 30 s (post_gift gives up after 10)."""
    sb = make_sandbox(faults=Faults(rate_limit=0.1, limiter=LimiterKind.SLIDING_WINDOW, latency=30.0))
    slow = threading.Thread(target=_quietly, args=(post_gift, http, sb, 1), daemon=True)  # takes the latency
    slow.start()
    assert until(lambda: len(sb.gifts) == 1, timeout=10)
    assert post_gift(requests.Session(), sb, 2).status_code == 429


def _quietly(fn, *args):
    try:
        fn(*args)
    except Exception:  # the sandbox stops under it at the end of the test
        pass


def test_changing_the_limiter_at_runtime_starts_a_fresh_one(http, make_sandbox):
    sb = make_sandbox(faults=Faults(rate_limit=0.1, limiter=LimiterKind.FIXED_WINDOW))
    assert [post_gift(http, sb, i).status_code for i in range(2)] == [201, 429]
    sb.faults = Faults(rate_limit=0.1, limiter=LimiterKind.SLIDING_WINDOW)
    assert [post_gift(http, sb, i).status_code for i in range(2, 4)] == [201, 429]
    sb.faults = Faults()
    assert [post_gift(http, sb, i).status_code for i in range(4, 7)] == [201, 201, 201]


@pytest.mark.slow
def test_the_cli_sandbox_takes_a_limiter_and_drops_retry_after(http, tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lib.cli",
            "sandbox",
            "--port",
            "0",
            "--rate-limit",
            "0.1",
            "--limiter",
            "sliding-window",
            "--no-retry-after",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(7)]
        url = next(line.split("=", 1)[1].strip() for line in lines if line.startswith("export ANDOPEN_BASE_URL="))
        campaign = next(
            line.split("=", 1)[1].strip() for line in lines if line.startswith("export ANDOPEN_CAMPAIGN_ID=")
        )
        assert "limited to 0.1/s by a sliding window; 429s carry no Retry-After" in lines[-1]

        class Remote:
            campaign_ids = [campaign]

        Remote.url = url
        statuses = [post_gift(http, Remote, i) for i in range(2)]
        assert [r.status_code for r in statuses] == [201, 429]
        assert "Retry-After" not in statuses[1].headers
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.slow
def test_the_cli_sandbox_refuses_an_unknown_limiter():
    proc = subprocess.run(
        [sys.executable, "-m", "lib.cli", "sandbox", "--limiter", "leaky-bucket"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "invalid choice: 'leaky-bucket'" in proc.stderr and "Traceback" not in proc.stderr
