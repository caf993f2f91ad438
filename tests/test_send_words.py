"""What Review & send says around Send, tested as tables: the run in words before it starts,
the reason under a greyed Send, the empty confirmation's label, and the end of a run (resolved
unknowns named only when there were any)."""

from __future__ import annotations

import pytest

from lib.guardrails import DailyRoom
from lib.invitations import InviteProgress
from lib.lookback_window import parse_window
from lib.plain_words import count, duration, person
from lib.run_progress import RunProgress
from lib.send_words import SendGate, SendPlan, before_send, confirm_label, run_finished, run_status, send_blocked


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        (
            SendPlan(285, "Spring thank-you", parse_window("90d"), None, 10.0),
            "Send will create 285 gifts in the campaign **Spring thank-you**. Anyone gifted in the last "
            "90 days is skipped. At about 10 gifts a second it will take about 28 seconds.",
        ),
        (
            SendPlan(1, "Q4", None, DailyRoom(1_000, 285), 10.0),
            "Send will create 1 gift in the campaign **Q4**. The look-back is off: people gifted before are "
            "not skipped. The team's daily limit has 715 of 1,000 gifts left now. At about 10 gifts a second "
            "it will take under a second.",
        ),
        (
            SendPlan(12_000, "Big", parse_window("forever"), DailyRoom(5_000, 0), 10.0, to_send=15_000),
            "Send will create 12,000 gifts in the campaign **Big** (the cap leaves 3,000 of the 15,000 rows "
            "to send for later). Anyone ever gifted before is skipped (look-back: forever). The team's daily "
            "limit has 5,000 of 5,000 gifts left now. The run will stop at the daily limit after 5,000 gifts. "
            "At about 10 gifts a second it will take about 20 minutes.",
        ),
        (SendPlan(0, "Q4", None), ""),
    ],
)
def test_before_send_says_the_run_in_words(plan, expected):
    assert before_send(plan) == expected


@pytest.mark.parametrize(
    ("gate", "expected"),
    [
        (
            SendGate(gifts=0, approved=0),
            "Nothing to send yet: tick Approved on the rows to gift, or press Approve all.",
        ),
        (SendGate(gifts=0, approved=3), "Nothing to send: every approved row is already sent, skipped or has a"),
        (SendGate(gifts=5, approved=5, elsewhere=True), "A run on this list is going elsewhere"),
        (SendGate(gifts=5, approved=5, room_left=0, frees_at="14:05"), "no room left: more from 14:05."),
        (SendGate(gifts=285, approved=290, confirm_needed=True), "Type 285 in the box above to confirm"),
        (SendGate(gifts=285, approved=290, confirm_needed=True, confirmed=True), ""),
        (SendGate(gifts=5, approved=5, room_left=3), ""),
    ],
)
def test_a_greyed_send_says_why(gate, expected):
    said = send_blocked(gate)
    assert expected in said if expected else said == ""


def test_the_confirmation_label_says_the_number_the_box_stays_empty():
    assert confirm_label(1_250) == "This run sends up to 1,250 gifts. Type 1250 to confirm, then press Enter"


def finished(**counts) -> RunProgress:
    return RunProgress(state="completed", started=1.0, finished=13.5, **counts)


@pytest.mark.parametrize(
    ("progress", "expected"),
    [
        (finished(total=20, done=20, sent=20), "Run finished: 20 sent · took about 12 seconds."),
        (
            finished(total=2_000, done=2_000, sent=1_997, unknown=3),
            "Run finished: 1,997 sent, 3 with an unknown outcome (check them in &Open) · took about 12 seconds.",
        ),
        (
            finished(total=5, done=5, sent=5, resolved=2),
            "Run finished: 5 sent. 2 unknown outcomes resolved by &Open's own updates · took about 12 seconds.",
        ),
    ],
)
def test_the_end_of_a_run_says_only_what_happened(progress, expected):
    assert run_finished(progress) == expected
    if not progress.resolved:
        assert "resolved" not in run_finished(progress)


@pytest.mark.parametrize(
    ("actor", "me", "shown"),
    [
        ("local", None, "you"),
        ("ana@example.com", "ana@example.com", "ana@example.com"),  # signed in: the audit names people
        ("bo@example.com", "ana@example.com", "bo@example.com"),
        ("cli", None, "the command line"),
        ("&Open update", None, "&Open's update"),
        ("", None, "someone"),
    ],
)
def test_who_in_plain_words(actor, me, shown):
    assert person(actor, me) == shown


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0.2, "under a second"),
        (1, "about 1 second"),
        (28.5, "about 28 seconds"),
        (600, "about 10 minutes"),
        (3_900, "about 1 hour 5 minutes"),
        (7_200, "about 2 hours"),
    ],
)
def test_how_long_in_words(seconds, said):
    assert duration(seconds) == said


def test_counts_have_separators_and_the_word_that_fits():
    assert [count(1, "gift"), count(1_250, "gift"), count(2, "person", "people")] == [
        "1 gift",
        "1,250 gifts",
        "2 people",
    ]


@pytest.mark.parametrize(
    "invites, expected",
    [
        (
            InviteProgress(total=20, sent=12, refused=1, failed=1, unknown=1),
            "Emailing invitations: 15 of 20 done · 20 sent · 12 invitations emailed · 2 not emailed · 1 unknown",
        ),
        (
            InviteProgress(total=1500, sent=1200),
            "Emailing invitations: 1,200 of 1,500 done · 20 sent · 1,200 invitations emailed · 0 not emailed "
            "· 0 unknown",
        ),
    ],
)
def test_the_progress_of_a_run_counts_the_invitations_after_its_gifts(invites, expected):
    gifts = RunProgress(state="completed", total=20, done=20, sent=20)
    assert run_status(gifts, invites) == expected
    assert run_status(gifts).startswith("Sending: 20 of 20 done (100%) · 20 sent")  # before any email
