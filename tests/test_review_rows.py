"""Each row of Review & send counts in exactly one bucket, so the counts add up to the rows; what
happens is said in one tense; a row a run has in flight says "sending", never unknown; and an
edit made in a filtered grid lands on the row it was made on."""

from __future__ import annotations

import pytest

from lib.models import Recipient
from lib.plan import RowAction, RowPlan
from lib.review_rows import (
    ALL,
    Bucket,
    bucket_counts,
    describe_counts,
    edits_on_list,
    filter_label,
    in_filter,
    row_view,
    views,
)
from lib.run_progress import RowOutcome


def plan(*actions: tuple[RowAction, str]) -> list[RowPlan]:
    return [
        RowPlan(str(i), i + 2, a, Recipient("A", "B", f"p{i}@example.com"), msg) for i, (a, msg) in enumerate(actions)
    ]


@pytest.mark.parametrize(
    ("action", "message", "bucket", "happens"),
    [
        (RowAction.SEND, "", Bucket.TO_SEND, "will be sent"),
        (RowAction.NOT_APPROVED, "", Bucket.NOT_APPROVED, "will not be sent: not approved"),
        (RowAction.NOT_APPROVED, "Email is missing", Bucket.PROBLEMS, "will not be sent: not approved"),
        (RowAction.INVALID, "Email is missing", Bucket.PROBLEMS, "will not be sent: fix the row"),
        (RowAction.DUPLICATE, "Same email as row 2", Bucket.PROBLEMS, "will not be sent: duplicate"),
        (RowAction.SKIP, "Gifted 2026-01-01", Bucket.SKIPPED, "will be skipped: gifted recently"),
        (RowAction.DO_NOT_GIFT, "On the do-not-gift list", Bucket.SKIPPED, "will be skipped: do-not-gift list"),
        (RowAction.ALREADY_SENT, "", Bucket.SENT, "sent"),
        (RowAction.UNKNOWN, "", Bucket.UNKNOWN, "unknown outcome: check &Open"),
        (RowAction.BLOCKED, "Held", Bucket.UNKNOWN, "held: check &Open"),
    ],
)
def test_each_action_has_one_bucket_and_says_what_will_happen(action, message, bucket, happens):
    v = row_view(action, message)
    assert (v.bucket, v.happens) == (bucket, happens)
    if v.bucket in (Bucket.TO_SEND, Bucket.NOT_APPROVED):
        assert not v.problem
    if v.bucket == Bucket.PROBLEMS:
        assert v.problem.startswith(message) and "→" in v.problem  # what is wrong, then what to do


def test_the_samples_counts_add_up_to_its_25_rows():
    """The 25-row sample, nothing approved: 21 clean rows and 4 with a problem (not 25 + 4)."""
    rows = plan(*[(RowAction.NOT_APPROVED, "")] * 21, *[(RowAction.NOT_APPROVED, "First name is missing")] * 4)
    counts = bucket_counts(views(rows).values())
    assert sum(counts.values()) == 25
    assert (counts[Bucket.NOT_APPROVED], counts[Bucket.PROBLEMS], counts[Bucket.TO_SEND]) == (21, 4, 0)
    assert describe_counts(counts) == "25 rows: 4 with a problem, 21 not approved"


def test_counts_have_thousands_separators():
    counts = dict.fromkeys(Bucket, 0) | {Bucket.TO_SEND: 12_345, Bucket.SENT: 1_000}
    assert describe_counts(counts) == "13,345 rows: 12,345 to send, 1,000 sent"
    assert filter_label(ALL, counts) == "All (13,345)"
    assert filter_label(Bucket.TO_SEND, counts) == "To send (12,345)"


@pytest.mark.parametrize(
    ("outcome", "bucket", "happens"),
    [
        (None, Bucket.TO_SEND, "will be sent"),  # not reached yet
        (RowOutcome.SENDING, Bucket.SENDING, "sending"),
        (RowOutcome.SENT, Bucket.SENT, "sent"),
        (RowOutcome.UNKNOWN, Bucket.UNKNOWN, "unknown outcome: check &Open"),
        (RowOutcome.REJECTED, Bucket.PROBLEMS, "not sent: rejected by &Open"),
        (RowOutcome.FAILED, Bucket.TO_SEND, "not sent: safe to send again"),
        (RowOutcome.SKIPPED, Bucket.SKIPPED, "skipped: just gifted from another list"),
        (RowOutcome.LIMITED, Bucket.TO_SEND, "not sent: a limit was reached"),
    ],
)
def test_during_a_run_its_rows_show_what_the_run_says(outcome, bucket, happens):
    # The page's review during a run sees an in-flight row's journal line (attempting) as unknown.
    rows = plan((RowAction.UNKNOWN, ""), (RowAction.NOT_APPROVED, ""))
    shown = views(rows, ["0"], {"0": outcome} if outcome else {}, running=True)
    assert (shown["0"].bucket, shown["0"].happens) == (bucket, happens)
    assert shown["1"].bucket == Bucket.NOT_APPROVED  # a row the run does not send keeps its plan


def test_live_counts_add_up_and_move_with_the_run():
    rows = plan(*[(RowAction.SEND, "")] * 6, (RowAction.ALREADY_SENT, ""), (RowAction.INVALID, "Email is missing"))
    run_rows = [str(i) for i in range(6)]
    outcomes = {"0": RowOutcome.SENT, "1": RowOutcome.SENT, "2": RowOutcome.SENDING, "3": RowOutcome.UNKNOWN}
    counts = bucket_counts(views(rows, run_rows, outcomes, running=True).values())
    assert sum(counts.values()) == len(rows)
    assert (counts[Bucket.SENT], counts[Bucket.SENDING], counts[Bucket.UNKNOWN], counts[Bucket.TO_SEND]) == (3, 1, 1, 2)


@pytest.mark.parametrize(
    ("edited", "positions", "expected"),
    [
        ({0: {"Approved": True}}, None, {0: {"Approved": True}}),  # the whole list: as it is
        ({0: {"Approved": True}}, [3, 7, 9], {3: {"Approved": True}}),  # the first row shown is the list's 4th
        ({"2": {"Approved": False}}, [3, 7, 9], {9: {"Approved": False}}),  # keys come back as text too
        ({5: {"Approved": True}}, [3, 7, 9], {}),  # not a row the grid shows: dropped
        ({"x": {"Approved": True}}, [3], {}),
    ],
)
def test_an_edit_in_a_filtered_grid_lands_on_its_row(edited, positions, expected):
    assert edits_on_list(edited, positions) == expected


def test_the_to_send_filter_keeps_rows_in_flight():
    assert in_filter(Bucket.TO_SEND, row_view(RowAction.SEND))
    assert in_filter(Bucket.TO_SEND, views(plan((RowAction.SEND, "")), ["0"], {"0": RowOutcome.SENDING})["0"])
    assert not in_filter(Bucket.PROBLEMS, row_view(RowAction.SEND))
    assert in_filter(ALL, row_view(RowAction.UNKNOWN))
