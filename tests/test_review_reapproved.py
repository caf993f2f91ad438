"""A tick re-plans only the rows that share an email with it, and the result is the review
done afresh; the store's stamp changes with anything a review reads."""

from __future__ import annotations

import pandas as pd
import pytest

from lib import eligibility as elig
from lib.models import Recipient, SendState
from lib.plan import RowAction
from lib.review import reapproved, review
from lib.sources import prepare

PEOPLE = [  # first, last, email: duplicates, a sent person, an invalid row, a blank email
    ("Ana", "Lopez", "ana@x.example"),
    ("Bo", "Ng", "bo@x.example"),
    ("Ana", "Lopez", "ANA@x.example"),
    ("Cy", "Ra", "cy@x.example"),
    ("D", "Short", "d@x.example"),
    ("Ed", "Wu", ""),
    ("Fay", "Li", "fay@x.example"),
    ("Cy", "Ra", "cy@x.example"),
]


def listed(approved: list[bool]):
    frame = pd.DataFrame(
        [(f, last, e, "TRUE" if a else "FALSE") for (f, last, e), a in zip(PEOPLE, approved)],
        columns=["First Name", "Last Name", "Email", "Approved"],
        dtype=str,
    )
    return prepare(frame, list_key="list:ticks", name="ticks.csv")


def comparable(rev):
    return (
        [(r.row_key, r.action, r.message, r.journal) for r in rev.plan.rows],
        [c.approved for c in rev.checks],
        rev.frame.astype(str).to_dict(),
    )


@pytest.mark.parametrize(
    "before, after",
    [
        ([False] * 8, [True] + [False] * 7),  # the first tick
        ([False] * 8, [False, False, True, False, False, False, False, False]),  # a duplicate's second row alone
        ([True] * 8, [False] + [True] * 7),  # untick the first of a duplicate: the second is sent instead
        ([True] * 8, [True, True, True, False, True, True, True, True]),  # untick the sent person
        ([False] * 8, [True] * 8),  # everything at once
        ([True, False] * 4, [False, True] * 4),
    ],
)
def test_a_review_after_ticks_is_the_review_done_afresh(store, before, after):
    r = store.claim("list:ticks", Recipient("Cy", "Ra", "cy@x.example"), row_key="3", campaign_id="c", run_id="r")
    assert r.claimed
    store.record_outcome("list:ticks", "cy@x.example", SendState.SENT, gift_request_id="gr_1")
    window = elig.parse_window(elig.DEFAULT)
    prev = review(listed(before), store, window)
    again = reapproved(prev, listed(after), store)
    assert comparable(again) == comparable(review(listed(after), store, window))


def test_the_stamp_changes_with_a_send_an_outcome_and_the_do_not_gift_list(store):
    from lib.donotgift import new_entry

    stamps = [store.stamp()]
    store.claim("list:s", Recipient("Ana", "Lopez", "ana@x.example"), row_key="0", campaign_id="c", run_id="r")
    stamps.append(store.stamp())
    store.record_outcome("list:s", "ana@x.example", SendState.SENT, gift_request_id="gr_1")
    stamps.append(store.stamp())
    store.add_do_not_gift([new_entry("@rival.example", "competitor")], "tester")
    stamps.append(store.stamp())
    store.record_override("list:s", "bo@x.example", "tester", "deliberately")
    stamps.append(store.stamp())
    assert len(set(stamps)) == len(stamps)
    assert store.stamp() == stamps[-1]  # nothing changed: the same stamp


# -- Approve all / none: every row's approval changes at once ----------------------------------------
EVERYONE = [  # first, last, email, the list's own Gift request ID and Send error cells
    ("Ana", "Lopez", "ana@x.example", "", ""),
    ("Bo", "Ng", "bo@x.example", "", ""),  # sent from this list: already sent
    ("Ana", "Lopez", "ANA@x.example", "", ""),  # a duplicate of the first row
    ("Cy", "Ra", "cy@x.example", "", "an old error"),  # rejected by &Open before: sent again, its reason shown
    ("D", "Short", "d@x.example", "", ""),  # invalid: a one-letter first name
    ("Ed", "Wu", "", "", ""),  # invalid: no email
    ("Fay", "Li", "fay@x.example", "", "kept"),  # gifted from another list lately: skipped by the look-back
    ("Gus", "Po", "gus@rival.example", "", ""),  # on the do-not-gift list
    ("Hal", "Oz", "hal@x.example", "gr_hal", ""),  # carries a gift id with a status: already sent
    ("Ivy", "Ko", "ivy@x.example", "", ""),  # another list's send to her has an unknown outcome: held
    ("Bo", "Ng", "bo@x.example", "", ""),  # the sent person again: a duplicate of an already sent row
    ("Jo", "Ma", "jo@x.example", "", ""),
    ("", "Nameless", "nameless@x.example", "", "typed by hand"),  # invalid: no first name
    ("Kim", "Lu", "kim@x.example", "", ""),  # sent from this list, outcome unknown: check &Open
    ("Kim", "Lu", "kim@x.example", "", ""),  # held behind the row above
]


def everyone(approved: list[bool]):
    frame = pd.DataFrame(
        [(f, last, e, gid, err, "TRUE" if a else "") for (f, last, e, gid, err), a in zip(EVERYONE, approved)],
        columns=["First Name", "Last Name", "Email", "Gift request ID", "Send error", "Approved"],
        dtype=str,
    )
    return prepare(frame, list_key="list:everyone", name="everyone.csv")


def with_history(store) -> None:
    """The journal, other lists, gift statuses and the do-not-gift list, as `EVERYONE` says."""
    from lib.donotgift import new_entry
    from lib.models import EventSource, StatusEvent

    def send(list_key, who, row_key, state, **kw):
        store.claim(list_key, Recipient(*who), row_key=row_key, campaign_id="c", run_id=f"r-{list_key}")
        store.record_outcome(list_key, who[2], state, **kw)

    send("list:everyone", ("Bo", "Ng", "bo@x.example"), "1", SendState.SENT, gift_request_id="gr_bo")
    send("list:everyone", ("Cy", "Ra", "cy@x.example"), "3", SendState.REJECTED, error="mailbox full")
    send("list:other", ("Fay", "Li", "fay@x.example"), "0", SendState.SENT, gift_request_id="gr_fay")
    send("list:third", ("Ivy", "Ko", "ivy@x.example"), "0", SendState.UNKNOWN)
    send("list:everyone", ("Kim", "Lu", "kim@x.example"), "13", SendState.UNKNOWN)
    store.add_do_not_gift([new_entry("@rival.example", "competitor")], "tester")
    store.add_event(StatusEvent("e-hal", "gr_hal", "delivered", EventSource.WEBHOOK, email="hal@x.example"))


def same_review(got, fresh):
    assert [(r.row_key, r.action, r.message, r.journal) for r in got.plan.rows] == [
        (r.row_key, r.action, r.message, r.journal) for r in fresh.plan.rows
    ]
    assert got.checks == fresh.checks and got.verdicts == fresh.verdicts
    assert sorted(got.frame.columns) == sorted(fresh.frame.columns)  # no result column lost or left over
    assert got.frame.astype(str).to_dict() == fresh.frame.astype(str).to_dict()


N = len(EVERYONE)
FLIPS = [
    ([False] * N, [True] * N),  # Approve all
    ([True] * N, [False] * N),  # Approve none
    ([i % 3 == 0 for i in range(N)], [True] * N),
    ([i % 2 == 0 for i in range(N)], [i % 2 == 1 for i in range(N)]),
]


def test_the_list_has_every_way_a_row_can_go(store):
    with_history(store)
    window = elig.parse_window(elig.DEFAULT)
    assert {r.action for r in review(everyone([True] * N), store, window).plan.rows} == set(RowAction) - {
        RowAction.NOT_APPROVED
    }
    assert RowAction.NOT_APPROVED in {r.action for r in review(everyone([False] * N), store, window).plan.rows}


@pytest.mark.parametrize("before, after", FLIPS)
def test_approving_every_row_at_once_is_the_review_done_afresh(store, before, after):
    with_history(store)
    window = elig.parse_window(elig.DEFAULT)
    got = reapproved(review(everyone(before), store, window), everyone(after), store)
    same_review(got, review(everyone(after), store, window))


@pytest.mark.parametrize("before, after", FLIPS)
def test_rows_made_again_whole_are_the_review_done_afresh(store, monkeypatch, before, after):
    """The path for a row whose gift id or link would change with its approval (none does today):
    every changed row takes it here."""
    import lib.review as review_module
    from lib.writeback import SEND_ERROR

    monkeypatch.setattr(review_module, "_STATUS_INPUTS", review_module._STATUS_INPUTS | {SEND_ERROR})
    with_history(store)
    window = elig.parse_window(elig.DEFAULT)
    got = reapproved(review(everyone(before), store, window), everyone(after), store)
    same_review(got, review(everyone(after), store, window))
