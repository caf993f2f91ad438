"""The guardrail rules, pure: the run cap shared by concurrent workers (a place given back by a
row that created no gift), the daily room and its words, the preflight summary, the typed
confirmation and GIFTRUN_DAILY_LIMIT's accepted values."""

from __future__ import annotations

import threading
import time

import pytest

from lib import guardrails
from lib.guardrails import DailyRoom, RunCap, RunLimits, confirmed, parse_daily_limit, preflight
from lib.settings import Settings, SettingsError


def test_the_cap_gives_out_exactly_its_places_to_many_threads():
    cap = RunCap(10)
    kept: list[str] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        for k in range(20):
            key = f"{i}-{k}"
            if cap.take(key, lambda: False):
                with lock:
                    kept.append(key)
                cap.keep(key)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(kept) == 10 and cap.reached


def test_a_place_given_back_goes_to_a_waiting_row_and_a_full_cap_refuses_at_once():
    cap = RunCap(2)
    assert cap.take("a", lambda: False) and cap.take("b", lambda: False)
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(cap.take("c", lambda: False)))
    waiter.start()
    time.sleep(0.1)
    assert not got, "a row must wait while places are held by rows in flight"
    cap.give_back("a")  # "a" was rejected: no gift, its place goes to "c"
    waiter.join(5)
    assert got == [True]
    cap.keep("b")
    cap.keep("c")
    t0 = time.monotonic()
    assert not cap.take("d", lambda: False) and time.monotonic() - t0 < 1
    cap.give_back("b")  # a kept place is never given back
    assert cap.reached


def test_a_waiting_row_gives_up_when_the_run_stops():
    cap = RunCap(1)
    assert cap.take("a", lambda: False)
    stop = threading.Event()
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(cap.take("b", stop.is_set)))
    waiter.start()
    stop.set()
    waiter.join(5)
    assert got == [False]


def test_the_daily_room_says_what_is_left_and_when_room_frees_up():
    room = DailyRoom(15, 15, "2026-11-20T09:30:00.000Z")
    assert room.left == 0 and room.frees_text() == "2026-11-21 09:30 UTC"
    assert "15 gifts in any 24 hours (GIFTRUN_DAILY_LIMIT)" in room.stop_message()
    assert "Room frees up at 2026-11-21 09:30 UTC" in room.stop_message()
    assert room.row_message() == (
        "Not sent: the team's daily limit of 15 gifts in 24 hours was reached. Send again after 2026-11-21 09:30 UTC."
    )
    assert "0 left now. Nothing more can be sent before 2026-11-21 09:30 UTC." in room.describe()
    assert DailyRoom(15, 20, None).left == 0  # more counted than the limit (it was lowered): none left
    assert "15 left now." in DailyRoom(15, 0).describe()


def test_the_preflight_shows_the_cap_and_the_daily_room():
    room = DailyRoom(15, 10, "2026-11-20T09:30:00.000Z")
    lines = preflight(30, RunLimits(max_gifts=10, daily_limit=15), room)
    assert (
        lines[0]
        == "Cap for this run: at most 10 gifts; 20 of the 30 rows to send will not be sent (they will say why)."
    )
    assert "5 left now (more room from 2026-11-21 09:30 UTC)" in lines[1]
    assert lines[2] == "This run will stop at the daily limit after 5 of its 10 gifts."
    assert preflight(4, RunLimits(), None) == ["Daily limit: none (GIFTRUN_DAILY_LIMIT is not set)."]
    assert preflight(4, RunLimits(max_gifts=10), None)[0] == "Cap for this run: at most 10 gifts (4 to send)."
    assert (
        preflight(3, RunLimits(daily_limit=2), DailyRoom(2, 2, "2026-11-20T09:30:00.000Z"))[-1]
        == "This run will stop at the daily limit before its first gift."
    )


@pytest.mark.parametrize(
    "typed, gifts, ok",
    [
        ("250", 250, True),
        (" 250 ", 250, True),
        ("1,250", 1250, True),
        ("249", 250, False),
        ("", 250, False),
        (None, 250, False),
        ("two hundred fifty", 250, False),
        ("250.0", 250, False),
        ("٢٥٠", 250, False),
    ],
)
def test_the_typed_confirmation(typed, gifts, ok):
    assert confirmed(typed, gifts) is ok


def test_only_a_run_over_the_threshold_asks_for_confirmation():
    assert not guardrails.needs_confirmation(100) and guardrails.needs_confirmation(101)
    assert guardrails.planned_gifts(250, 120) == 120 and guardrails.planned_gifts(50, None) == 50


@pytest.mark.parametrize("value, limit", [("15", 15), (15, 15), ("1000", 1000), (None, None)])
def test_the_daily_limit_setting(value, limit):
    assert parse_daily_limit(value) == limit
    assert Settings.from_mapping({"GIFTRUN_DAILY_LIMIT": value} if value is not None else {}).daily_limit == limit


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "ten", True, "9" * 5000, "²", "10000000", "15\x1b[2J"])
def test_an_unusable_daily_limit_is_one_clear_message(value):
    with pytest.raises(
        SettingsError,
        match="GIFTRUN_DAILY_LIMIT is .*: give a whole number of gifts from 1 to 1,000,000 in plain digits",
    ) as exc:
        Settings.from_mapping({"GIFTRUN_DAILY_LIMIT": value})
    assert "\x1b" not in str(exc.value) and len(str(exc.value)) < 200
