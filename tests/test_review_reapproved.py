"""A tick re-plans only the rows that share an email with it, and the result is the review
done afresh; the store's stamp changes with anything a review reads."""

from __future__ import annotations

import pandas as pd
import pytest

from lib import eligibility as elig
from lib.models import Recipient, SendState
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
