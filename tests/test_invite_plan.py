"""What the invitation plan writes on rows before a run is always about a row's gift: a list
where no row carries a gift id has nothing to show, so Review & send leaves the plan out
(`carries_gifts`) on each drawing."""

from __future__ import annotations

import pandas as pd
import pytest

from lib.invite_plan import carries_gifts, plan_invitations
from lib.invite_template import parse_template
from lib.smtp_url import parse_sender
from lib.sources import prepare
from lib.store.invitations import InviteKind, InviteState

SENDER = parse_sender("Ana Rep <rep@team.example>")
TEMPLATE = parse_template("Subject: For {first_name}\n\nHi {first_name}, from {Company}: {redemption_url}")
PEOPLE = [  # first, last, email, company, gift id, link, approved
    ("Ana", "Lima", "ana@example.com", "Acme", "gr_ana", "https://andopen.example/r/ana", "yes"),  # emailed
    ("Bo", "Li", "bo@example.com", "Acme", "gr_bo", "https://andopen.example/r/bo", "yes"),  # unknown
    ("Cy", "Wu", "cy@example.com", "Initech", "gr_cy", "https://andopen.example/r/cy", "yes"),  # refused
    ("Di", "Ox", "di@example.com", "", "gr_di", "https://andopen.example/r/di", "yes"),  # no Company
    ("Ed", "Ng", "ed@example.com", "Acme", "gr_ed", "not a link", "yes"),  # a link that is not one
    ("Fay", "Po", "fay@example.com", "Acme", "", "", "yes"),
    ("Gus", "Ko", "gus@example.com", "Acme", "gr_gus", "https://andopen.example/r/gus", "no"),
    ("Ana", "Lima", "ana@example.com", "Acme", "", "", "yes"),  # a duplicate
]


def listed(gifts: bool):
    frame = pd.DataFrame(
        [(f, last, e, c, gid if gifts else "", url if gifts else "", a) for f, last, e, c, gid, url, a in PEOPLE],
        columns=["First Name", "Last Name", "Email", "Company", "Gift request ID", "Redemption URL", "Approved"],
        dtype=str,
    )
    return prepare(frame, list_key="list:invite", name="invite.csv")


def with_journal(store) -> None:
    for gid, email, state, error in [
        ("gr_ana", "ana@example.com", InviteState.SENT, None),
        ("gr_bo", "bo@example.com", InviteState.UNKNOWN, None),
        ("gr_cy", "cy@example.com", InviteState.REFUSED, "550 no such user"),
    ]:
        kw = dict(email=email, list_key="list:invite", row_key="0", run_id="r", message_id=f"<{gid}@x>")
        assert store.claim_invitation(gid, InviteKind.INVITATION, **kw).claimed
        store.record_invitation(gid, InviteKind.INVITATION, state, error=error)


@pytest.mark.parametrize("gifts", [True, False])
def test_rows_show_invitation_results_only_when_a_row_carries_a_gift(store, gifts):
    with_journal(store)
    loaded = listed(gifts)
    results = plan_invitations(loaded, store, TEMPLATE, SENDER).results()
    assert carries_gifts(loaded.frame) is gifts
    if gifts:  # emailed, unknown, refused, a template value missing, a link that is not one
        assert {r.email for r in results} == {
            "ana@example.com",
            "bo@example.com",
            "cy@example.com",
            "di@example.com",
            "ed@example.com",
        }
    else:
        assert results == []


def test_a_list_without_a_gift_id_column_carries_none():
    frame = pd.DataFrame([("Ana", "Lima", "ana@example.com")], columns=["First Name", "Last Name", "Email"], dtype=str)
    assert not carries_gifts(frame)
    assert not carries_gifts(frame.assign(**{"Gift request ID": ["  "]}))
    assert carries_gifts(frame.assign(**{"gift_request_id": ["gr_1"]}))  # the list's own spelling of the column
