"""The look-back check: who is skipped, why, and what does not count against a row."""

from __future__ import annotations

import importlib.util
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from lib.eligibility import (
    DEFAULT,
    KNOWN_COLUMNS,
    PRESETS,
    SKIP_RATE_NOTE,
    Window,
    check,
    format_window,
    known_gifts,
    parse_window,
    skip_rate,
)
from lib.models import EventSource, Recipient, SendState, StatusEvent, iso, parse_iso
from lib.store import Store
from lib.writeback import ELIGIBILITY, GIFT_REQUEST_ID, GIFT_STATUS, SENT_AT, SKIP_REASON

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def webhook(store: Store, gift_id: str, email: str, status: str, when: datetime) -> None:
    store.add_event(
        StatusEvent(
            event_id=f"evt-{gift_id}-{status}",
            gift_request_id=gift_id,
            status=status,
            source=EventSource.WEBHOOK,
            email=email,
            event_type=f"gift_request_{status}",
            occurred_at=iso(when),
        )
    )


def journal_send(store: Store, list_key: str, email: str, state: SendState, gift_id: str | None = None):
    assert store.begin_attempt(
        list_key, Recipient("Pat", "Lee", email), row_key="r1", campaign_id="camp", run_id="run-1"
    )
    if state is not SendState.ATTEMPTING:
        store.record_outcome(list_key, email, state, gift_request_id=gift_id)
    return next(e for e in store.all_sends() if e.list_key == list_key)


def one(email: str, known: pd.DataFrame, window: str, **kw) -> tuple[str, str]:
    r = check(pd.Series([email]), known, parse_window(window), now=kw.pop("now", NOW), **kw)
    return r[ELIGIBILITY].iloc[0], r[SKIP_REASON].iloc[0]


# -- the window --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("off", None),
        ("OFF", None),
        (" Off ", None),
        ("30d", Window(30, "30 days")),
        ("60D", Window(60, "60 days")),
        ("90d", Window(90, "90 days")),
        ("12m", Window(365, "12 months")),
        ("12M", Window(365, "12 months")),
        ("forever", Window(None, "forever")),
        ("Forever", Window(None, "forever")),
        ("45d", Window(45, "45 days")),
        (" 7d ", Window(7, "7 days")),
        ("1d", Window(1, "1 day")),
        ("14", Window(14, "14 days")),
        ("400", Window(400, "400 days")),
    ],
)
def test_parse_window_accepts(text, expected):
    assert parse_window(text) == expected


@pytest.mark.parametrize("text", ["", "  ", "abc", "0d", "0", "-5d", "6m", "30 weeks", "d", "30dd", "1.5d"])
def test_parse_window_rejects_with_the_accepted_forms(text):
    with pytest.raises(ValueError) as err:
        parse_window(text)
    msg = str(err.value)
    for form in ('"off"', '"30d"', '"12m"', '"forever"'):
        assert form in msg


def test_presets_and_default_parse_and_round_trip():
    assert [k for k, _ in PRESETS] == ["30d", "60d", "90d", "12m", "forever", "off"]
    assert parse_window(DEFAULT) == Window(30, "30 days")
    for key, _label in PRESETS:
        assert format_window(parse_window(key)) == key


# -- inside / outside the window ---------------------------------------------------------


@pytest.mark.parametrize(
    "window, days_ago, expected",
    [
        ("30d", 0, "skip"),
        ("30d", 10, "skip"),
        ("30d", 30, "skip"),
        ("30d", 31, "eligible"),
        ("90d", 54, "skip"),
        ("90d", 89, "skip"),
        ("90d", 91, "eligible"),
        ("12m", 300, "skip"),
        ("12m", 364, "skip"),
        ("12m", 366, "eligible"),
        ("forever", 3000, "skip"),
        ("forever", 1, "skip"),
        ("off", 0, "eligible"),
        ("off", 3000, "eligible"),
    ],
)
def test_window_boundaries(store, window, days_ago, expected):
    webhook(store, "g1", "pat@example.com", "delivered", NOW - timedelta(days=days_ago))
    eligibility, reason = one("pat@example.com", known_gifts(store), window)
    assert eligibility == expected
    assert (reason != "") == (expected == "skip")


@pytest.mark.parametrize("window", ["30d", "90d", "12m", "forever"])
def test_a_gift_with_no_known_date_skips_under_any_window(store, window):
    extra = pd.DataFrame(
        {"email": ["pat@example.com"], "gifted_at": [None], "status": [""], "gift_request_id": ["4fb4e1c2"]}
    )
    eligibility, reason = one("pat@example.com", known_gifts(store, extra=extra), window)
    assert eligibility == "skip"
    assert reason == f"Gifted before (gift id 4fb4…, date unknown) — window {parse_window(window).label}"


@pytest.mark.parametrize("typed", ["pat@example.com", "PAT@Example.COM", "  Pat@example.com \t"])
def test_emails_match_ignoring_case_and_surrounding_spaces(store, typed):
    webhook(store, "g1", " Pat@EXAMPLE.com", "submitted", NOW - timedelta(days=2))
    extra = pd.DataFrame({"email": ["  SAM@Example.com"], "gifted_at": [iso(NOW - timedelta(days=3))]})
    known = known_gifts(store, extra=extra)
    assert one(typed, known, "30d")[0] == "skip"
    assert one(typed.replace("pat", "sam").replace("Pat", "Sam").replace("PAT", "SAM"), known, "30d")[0] == "skip"


# -- reasons -----------------------------------------------------------------------------


def test_reason_exact_text_for_a_webhook_gift(store):
    webhook(store, "gw", "bob@x.com", "delivered", datetime(2026, 10, 2, 9, 0, tzinfo=UTC))
    assert one("bob@x.com", known_gifts(store), "90d") == (
        "skip",
        "Gifted 2026-10-02 (Delivered), 54 days ago — window 90 days",
    )


@pytest.mark.parametrize(
    "when, status, window, expected",
    [
        (NOW - timedelta(hours=3), "submitted", "30d", "Gifted today (Submitted) — window 30 days"),
        (NOW - timedelta(days=1), "redeemed", "30d", "Gifted 2026-11-24 (Redeemed), 1 day ago — window 30 days"),
        (
            NOW - timedelta(days=200),
            "cancelled",
            "12m",
            "Gifted 2026-05-09 (Cancelled), 200 days ago — window 12 months",
        ),
        (NOW - timedelta(days=5), "", "forever", "Gifted 2026-11-20, 5 days ago — window forever"),
        (
            NOW - timedelta(days=5),
            "lost_in_post",
            "forever",
            "Gifted 2026-11-20 (lost_in_post), 5 days ago — window forever",
        ),
    ],
)
def test_reason_texts(store, when, status, window, expected):
    extra = pd.DataFrame(
        {"email": ["pat@x.com"], "gifted_at": [iso(when)], "status": [status], "gift_request_id": ["g1"]}
    )
    assert one("pat@x.com", known_gifts(store, extra=extra), window) == ("skip", expected)


def test_the_most_recent_gift_inside_the_window_is_the_reason(store):
    webhook(store, "old", "pat@x.com", "delivered", NOW - timedelta(days=80))
    webhook(store, "new", "pat@x.com", "dispatched", NOW - timedelta(days=8))
    webhook(store, "mid", "pat@x.com", "cancelled", NOW - timedelta(days=40))
    _, reason = one("pat@x.com", known_gifts(store), "90d")
    assert reason == "Gifted 2026-11-17 (Dispatched), 8 days ago — window 90 days"


# -- what does not count against a row ---------------------------------------------------


def test_a_rows_own_gift_id_does_not_count(store):
    webhook(store, "mine", "pat@x.com", "delivered", NOW - timedelta(days=3))
    known = known_gifts(store)
    r = check(
        pd.Series(["pat@x.com", "pat@x.com"]), known, parse_window("30d"), now=NOW, own_gift_ids=pd.Series(["mine", ""])
    )
    assert list(r[ELIGIBILITY]) == ["eligible", "skip"]
    # ... but an earlier gift from elsewhere still does, with its own date
    webhook(store, "other", "pat@x.com", "redeemed", NOW - timedelta(days=20))
    r = check(
        pd.Series(["pat@x.com"]), known_gifts(store), parse_window("30d"), now=NOW, own_gift_ids=pd.Series(["mine"])
    )
    assert r[SKIP_REASON].iloc[0] == "Gifted 2026-11-05 (Redeemed), 20 days ago — window 30 days"


def test_sent_from_one_list_is_skipped_on_a_second_list_and_sent_when_the_check_is_off(store):
    entry = journal_send(store, "list-A", "Pat@X.com", SendState.SENT, gift_id="gA")
    now = parse_iso(entry.attempted_at) + timedelta(days=3)
    day = parse_iso(entry.attempted_at).strftime("%Y-%m-%d")

    # the second list: skipped, with a dated reason, from the journal alone (no webhook yet)
    known_b = known_gifts(store, list_key="list-B")
    assert one("pat@x.com", known_b, "30d", now=now, list_key="list-B") == (
        "skip",
        f"Gifted {day} (Submitted), 3 days ago — window 30 days",
    )
    assert one("pat@x.com", known_b, "off", now=now, list_key="list-B") == ("eligible", "")

    # the first list: that journal entry is the row's own send, not a reason to skip
    known_a = known_gifts(store, list_key="list-A")
    assert one("pat@x.com", known_a, "30d", now=now, list_key="list-A") == ("eligible", "")


@pytest.mark.parametrize(
    "state, counts, shown",
    [
        (SendState.SENT, True, "Submitted"),
        (SendState.ATTEMPTING, True, "being sent"),
        (SendState.UNKNOWN, True, "outcome unknown"),
        (SendState.REJECTED, False, None),
        (SendState.FAILED, False, None),
    ],
)
def test_which_journal_states_count(store, state, counts, shown):
    entry = journal_send(store, "list-A", "pat@x.com", state, gift_id="gA" if state is SendState.SENT else None)
    now = parse_iso(entry.attempted_at) + timedelta(days=1)
    eligibility, reason = one("pat@x.com", known_gifts(store, list_key="list-B"), "30d", now=now, list_key="list-B")
    assert eligibility == ("skip" if counts else "eligible")
    if shown:
        assert f"({shown})" in reason


def test_a_gift_known_only_from_a_webhook_skips_with_its_status(store):
    webhook(store, "g-other-tool", "dana@x.com", "dispatched", NOW - timedelta(days=6))
    eligibility, reason = one("dana@x.com", known_gifts(store, list_key="L"), "30d", list_key="L")
    assert eligibility == "skip"
    assert "(Dispatched)" in reason and "6 days ago" in reason


def list_frame(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["Email", GIFT_REQUEST_ID, SENT_AT, GIFT_STATUS])


@pytest.mark.parametrize("also_journalled", [False, True])
def test_a_row_already_carrying_a_gift_id_skips_another_row_with_the_same_email(store, also_journalled):
    frame = list_frame(
        [
            ("carol@x.com", "4fb4e1c2", "2026-11-20T10:00:00.000Z", "Submitted"),
            ("dave@x.com", "", "", ""),
            ("Carol@X.com ", "", "", ""),
        ]
    )
    if also_journalled:  # Giftrun sent row 2 (the first person) itself: the journal holds the same gift
        journal_send(store, "L", "carol@x.com", SendState.SENT, gift_id="4fb4e1c2")
    known = known_gifts(store, list_key="L", list_frame=frame, email_col="Email")
    r = check(
        frame["Email"], known, parse_window("forever"), now=NOW, own_gift_ids=frame[GIFT_REQUEST_ID], list_key="L"
    )
    assert list(r[ELIGIBILITY]) == ["eligible", "eligible", "skip"]
    assert r[SKIP_REASON].iloc[2] == (
        "Gifted 2026-11-20 (Submitted), 5 days ago — from row 2 of this list — window forever"
    )


@pytest.mark.parametrize("list_rows,named", [(None, 2), ([5, 9], 5)], ids=["header-row-1", "spreadsheet-rows"])
def test_a_list_row_without_sent_at_is_undated(store, list_rows, named):
    """The row is named as its spreadsheet numbers it (`list_rows`: a title line, blank lines…)."""
    frame = list_frame([("carol@x.com", "4fb4e1c2", "", ""), ("carol@x.com", "", "", "")])
    known = known_gifts(store, list_key="L", list_frame=frame, list_rows=list_rows)  # email column found by name
    r = check(frame["Email"], known, parse_window("90d"), now=NOW, own_gift_ids=frame[GIFT_REQUEST_ID], list_key="L")
    assert list(r[ELIGIBILITY]) == ["eligible", "skip"]
    assert r[SKIP_REASON].iloc[1] == (
        f"Gifted before (gift id 4fb4…, date unknown) — from row {named} of this list — window 90 days"
    )


# -- overrides, odd emails, shape --------------------------------------------------------


def test_an_override_turns_a_skip_into_eligible_and_says_who(store):
    webhook(store, "gw", "bob@x.com", "delivered", datetime(2026, 10, 2, 9, 0, tzinfo=UTC))
    store.record_override("L", "Bob@X.com", "maria@team.com", "asked for a second gift")
    overrides = store.overrides("L")
    at_day = parse_iso(overrides["bob@x.com"][1]).strftime("%Y-%m-%d")
    r = check(
        pd.Series(["bob@x.com", "eve@x.com"]),
        known_gifts(store, list_key="L"),
        parse_window("90d"),
        now=NOW,
        list_key="L",
        overrides=overrides,
    )
    assert list(r[ELIGIBILITY]) == ["eligible", "eligible"]
    assert r[SKIP_REASON].iloc[0] == (
        f"Override by maria@team.com on {at_day}: was 'Gifted 2026-10-02 (Delivered), 54 days ago — window 90 days'"
    )
    assert list(r["override_by"]) == ["maria@team.com", ""]


@pytest.mark.parametrize("typed", ["", "   ", None, "not-an-email", "two words@x.com"])
def test_empty_or_invalid_emails_are_left_to_validation(store, typed):
    extra = pd.DataFrame({"email": ["not-an-email", "two words@x.com"], "gifted_at": [None, None]})
    assert one(typed, known_gifts(store, extra=extra), "forever") == ("eligible", "")


def test_nobody_is_skipped_with_an_empty_history(store):
    known = known_gifts(store, list_key="L")
    assert list(known.columns) == list(KNOWN_COLUMNS) and len(known) == 0
    r = check(pd.Series(["pat@x.com", "sam@x.com"]), known, parse_window("forever"), now=NOW, list_key="L")
    assert list(r[ELIGIBILITY]) == ["eligible", "eligible"]
    assert skip_rate(r) == 0.0


def test_result_is_aligned_with_the_emails_index(store):
    webhook(store, "g1", "pat@x.com", "submitted", NOW - timedelta(days=1))
    emails = pd.Series(["sam@x.com", "pat@x.com"], index=[17, 4])
    r = check(emails, known_gifts(store), parse_window("30d"), now=NOW, own_gift_ids=pd.Series(["", ""], index=[4, 17]))
    assert list(r.index) == [17, 4]
    assert list(r.columns) == [ELIGIBILITY, SKIP_REASON, "override_by"]
    assert list(r[ELIGIBILITY]) == ["eligible", "skip"]


def test_known_gifts_merges_one_gift_seen_in_several_places(store):
    entry = journal_send(store, "list-A", "pat@x.com", SendState.SENT, gift_id="g1")
    sent = parse_iso(entry.attempted_at)
    webhook(store, "g1", "pat@x.com", "delivered", sent + timedelta(days=4))
    extra = pd.DataFrame(
        {
            "email": ["PAT@x.com"],
            "gifted_at": [iso(sent + timedelta(days=1))],
            "status": ["Redeemed"],
            "gift_request_id": ["g1"],
        }
    )
    known = known_gifts(store, extra=extra)
    assert list(known.columns) == list(KNOWN_COLUMNS)
    assert len(known) == 1
    row = known.iloc[0]
    assert (row["email"], row["status"], row["gift_request_id"], row["origin_list"]) == (
        "pat@x.com",
        "delivered",
        "g1",
        "list-A",
    )
    assert row["gifted_at"] == pd.Timestamp(sent)  # the earliest date
    assert str(known["gifted_at"].dtype).endswith("UTC]")


def test_skip_rate_and_the_note():
    result = pd.DataFrame({ELIGIBILITY: ["skip", "eligible", "eligible", "skip"]})
    assert skip_rate(result) == 0.5
    assert skip_rate(result.iloc[:0]) == 0.0
    assert "10–30%" in SKIP_RATE_NOTE
    assert re.search(r"since status updates were switched on", SKIP_RATE_NOTE)


# -- the benchmark still runs ------------------------------------------------------------


def test_benchmark_runs_at_small_size():
    path = Path(__file__).resolve().parent.parent / "bench" / "eligibility.py"
    spec = importlib.util.spec_from_file_location("bench_eligibility", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    r = bench.run(2_000, 20_000, repeats=1)
    assert 0 < r["skip_rate"] < 1
    assert r["check_s"] > 0 and r["merge_s"] > 0
