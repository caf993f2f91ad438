"""lib/status_report as pure functions: who each gift is for, filters, the people to follow up,
the redemption rate and median time to redeem, and one gift's timeline in plain words."""

from __future__ import annotations

import pytest

from lib import csvio
from lib.models import SendState
from lib.status_report import (
    FOLLOW_UP_COLUMNS,
    NO_LIST,
    Milestone,
    companies_in,
    duration_words,
    filtered,
    follow_ups,
    gift_rows,
    list_label,
    people_to_pick,
    person_label,
    summary,
    timeline,
    when_words,
)
from lib.store.records import GiftRecord, JournalEntry

T0 = "2026-05-01T12:00:00.000Z"


def gift(gid: str, email: str, status: str, updated: str = T0) -> GiftRecord:
    return GiftRecord(gid, email, status, f"https://r.example/{gid}", T0, updated)


def sent(gid: str, email: str, first: str, last: str, list_key: str = "list:a", campaign: str = "c1") -> JournalEntry:
    return JournalEntry(
        list_key, email, SendState.SENT, "run", "row", gid, None, None, None, T0, T0, campaign, first, last
    )


GIFTS = [
    gift("g1", "ana@x.com", "redeemed"),
    gift("g2", "bo@y.com", "cancelled"),
    gift("g3", "cy@z.com", "delivered"),
    gift("g4", "di@w.com", "submitted"),
    gift("g5", "ext@v.com", "submitted"),  # made by another tool: not in the journal
]
SENDS = {
    "g1": sent("g1", "ana@x.com", "Ana", "Lima"),
    "g2": sent("g2", "bo@y.com", "Bo", ""),
    "g3": sent("g3", "cy@z.com", "Cy", "Ng", list_key="csv:/srv/lists/q3.csv", campaign="c2"),
    "g4": sent("g4", "di@w.com", "", "Ito", list_key="sheet:1AbCdEfGhIjKlMnOp:0"),
}


def frame():
    return gift_rows(
        GIFTS,
        SENDS,
        companies={"list:a": {"ana@x.com": "Acme", "bo@y.com": "Bolt"}},
        list_names={"list:a": "Spring leads"},
        campaigns={"c1": "Spring boxes"},
        event_campaigns={"g5": "c9"},
        senders={"g1": "ana.rep"},
    )


@pytest.mark.parametrize(
    ("gid", "name", "company", "list_", "campaign", "sender"),
    [
        ("g1", "Ana Lima", "Acme", "Spring leads", "Spring boxes", "ana.rep"),
        ("g2", "Bo", "Bolt", "Spring leads", "Spring boxes", "other tool"),
        ("g3", "Cy Ng", "", "q3.csv", "c2", "other tool"),  # no name for c2: its id
        ("g4", "Ito", "", "Google Sheet 1AbCdEfG…", "Spring boxes", "other tool"),
        ("g5", "", "", NO_LIST, "c9", "other tool"),  # another tool's gift: the campaign its events named
    ],
)
def test_each_gift_beside_its_person(gid, name, company, list_, campaign, sender):
    row = frame().set_index("Gift request ID").loc[gid]
    assert (row["Name"], row["Company"], row["List"], row["Campaign"], row["Sent by"]) == (
        name,
        company,
        list_,
        campaign,
        sender,
    )


@pytest.mark.parametrize(
    ("key", "saved", "label"),
    [
        (None, {}, NO_LIST),
        ("list:abc", {"list:abc": "Leads.csv"}, "Leads.csv"),
        ("csv:/home/me/people.csv", {}, "people.csv"),
        ("sheet:KEYKEYKEYKEY:12", {}, "Google Sheet KEYKEYKE…"),
        ("something-else", {}, "something-else"),
    ],
)
def test_list_label(key, saved, label):
    assert list_label(key, saved) == label


@pytest.mark.parametrize(
    ("csv", "companies"),
    [
        (b"Email,Company\nAna@X.com ,Acme\nbo@y.com,\n", {"ana@x.com": "Acme"}),
        (b"Work Email;Company Name\nana@x.com;=Acme\n", {"ana@x.com": "=Acme"}),  # as the list has it
        (b"email,organisation\nana@x.com,Org\n", {"ana@x.com": "Org"}),
        (b"Email,Team\nana@x.com,Sales\n", {}),  # no company column
        (b"", {}),  # not a list
    ],
)
def test_companies_in_a_saved_list(csv, companies):
    assert companies_in(csv) == companies


@pytest.mark.parametrize(
    ("choice", "gids"),
    [
        ({}, ["g1", "g2", "g3", "g4", "g5"]),
        ({"lists": ["Spring leads"]}, ["g1", "g2"]),
        ({"campaigns": ["Spring boxes"]}, ["g1", "g2", "g4"]),
        ({"statuses": ["Submitted"]}, ["g4", "g5"]),
        ({"lists": ["Spring leads"], "statuses": ["Cancelled", "Delivered"]}, ["g2"]),
        ({"sender": "ana.rep"}, ["g1"]),
    ],
)
def test_filters(choice, gids):
    assert list(filtered(frame(), **choice)["Gift request ID"]) == gids


def test_the_people_to_follow_up_redeemed_first_with_what_to_do():
    people = follow_ups(frame().iloc[::-1])
    assert list(people.columns) == FOLLOW_UP_COLUMNS and {"Name", "Company", "What to do"} <= set(people.columns)
    assert list(people["Email"]) == ["ana@x.com", "bo@y.com"]
    assert people["What to do"][0].startswith("Follow up") and people["What to do"][1].startswith("Reach them")
    assert csvio.read_csv_bytes(csvio.to_csv_bytes(people))["Name"].tolist() == ["Ana Lima", "Bo"]


def test_a_gift_is_picked_by_its_person_in_a_stable_order():
    people = people_to_pick(frame())
    assert list(people.values()) == [
        "Ana Lima — ana@x.com · Spring leads",
        "Bo — bo@y.com · Spring leads",
        "Cy Ng — cy@z.com · q3.csv",
        "ext@v.com · Not from a Giftrun list",  # another tool's gift: its email
        "Ito — di@w.com · Google Sheet 1AbCdEfG…",
    ]
    assert people["g1"] == person_label(frame().iloc[0])
    moved = frame().assign(Status="Delivered", status="delivered")
    assert people_to_pick(moved) == people  # a status change keeps every label: the choice stays


def at(minutes: float) -> str:
    from datetime import datetime, timedelta

    return (datetime(2026, 5, 1, 12, 0) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.mark.parametrize(
    ("reached", "gifts", "redeemed", "rate", "median"),
    [
        ([], [], 0, "—", "—"),
        ([("g4", "submitted", at(0), None)], ["g4"], 0, "0%", "—"),
        (  # g1 redeemed after 30 min, g3 seen delivered after 90 min (its redeemed event never came)
            [
                ("g1", "submitted", at(0), None),
                ("g1", "redeemed", at(30), None),
                ("g3", "submitted", at(0), None),
                ("g3", "dispatched", at(90), None),
                ("g3", "delivered", at(200), None),
                ("g2", "submitted", at(0), None),
                ("g2", "cancelled", at(5), None),
            ],
            ["g1", "g2", "g3"],
            2,
            "67%",
            "1 hour",
        ),
        ([("g1", "submitted", at(0), None), ("g1", "redeemed", at(2), None)], ["g1"], 1, "100%", "2 minutes"),
    ],
)
def test_redemption_rate_and_median_time_to_redeem(reached, gifts, redeemed, rate, median):
    view = frame()
    view = view[view["Gift request ID"].isin(gifts)]
    numbers = summary(view, reached)
    assert (numbers.gifts, numbers.redeemed, numbers.rate, numbers.median) == (len(gifts), redeemed, rate, median)


@pytest.mark.parametrize(
    ("events", "steps"),
    [
        (  # the send and &Open's "created" are one Submitted; a late dispatched webhook keeps its place
            [
                ("submitted", at(0)),
                ("submitted", at(0.5)),
                ("redeemed", at(65)),
                ("delivered", at(3 * 24 * 60 + 65)),
                ("dispatched", at(24 * 60 + 65)),
                ("redeemed", at(70)),
            ],
            [
                Milestone("Submitted", "1 May 2026 at 12:00 UTC", "when it was sent"),
                Milestone("Redeemed", "1 May 2026 at 13:05 UTC", "1 hour 5 minutes after it was sent"),
                Milestone("Dispatched", "2 May 2026 at 13:05 UTC", "1 day 1 hour after it was sent"),
                Milestone("Delivered", "4 May 2026 at 13:05 UTC", "3 days 1 hour after it was sent"),
            ],
        ),
        (
            [("submitted", at(0)), ("cancelled", at(10)), ("on_hold", at(5))],  # an unknown status: after the known
            [
                Milestone("Submitted", "1 May 2026 at 12:00 UTC", "when it was sent"),
                Milestone("on_hold", "1 May 2026 at 12:05 UTC", "5 minutes after it was sent"),
                Milestone("Cancelled", "1 May 2026 at 12:10 UTC", "10 minutes after it was sent"),
            ],
        ),
        (
            [("redeemed", "2026-05-01T14:00:00+02:00")],
            [Milestone("Redeemed", "1 May 2026 at 12:00 UTC", "when it was sent")],
        ),
        ([("", at(0))], []),
    ],
)
def test_one_gifts_timeline_each_status_once_in_order(events, steps):
    assert timeline(events) == steps


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "under a minute"),
        (59.9, "under a minute"),
        (60, "1 minute"),
        (3600, "1 hour"),
        (3600 + 5 * 60 + 7, "1 hour 5 minutes"),
        (2 * 86400 + 59, "2 days"),
        (3 * 86400 + 4 * 3600 + 59 * 60, "3 days 4 hours"),
    ],
)
def test_durations_in_words(seconds, words):
    assert duration_words(seconds) == words


@pytest.mark.parametrize(
    ("ts", "words"),
    [(T0, "1 May 2026 at 12:00 UTC"), ("2026-12-24T23:30:00-02:00", "25 December 2026 at 01:30 UTC"), ("soon", "soon")],
)
def test_times_in_words(ts, words):
    assert when_words(ts) == words
