"""Gift status, as a marketer reads it (AppTest, demo mode): each gift beside its person, company,
list and campaign, with filters; the redemption rate and median time to redeem; one gift's timeline
picked by person, each status once; whole gifts on the funnel's axis; the people to follow up."""

from __future__ import annotations

import json
import re

import pytest

from lib.sample import SAMPLE_NAME
from tests.apptest_support import button, go, list_key, metrics, new_session, run, services, texts
from tests.support import until
from tests.test_pages import approve_all_and_send, load_sample

pytestmark = pytest.mark.slow  # a 20-gift demo send per test

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def sent_and_moved(data_dir, moves: dict[str, str]):
    """The sample sent in demo mode, some gifts moved in the sandbox (email → status), then
    **Refresh statuses** pressed, as a user would where no webhook arrives."""
    at = load_sample(new_session(data_dir))
    services().demo.sandbox.lifecycle = None  # only the moves the test makes
    approve_all_and_send(at)
    go(at, "gift_status")
    at.toggle[0].set_value(False)  # the live view re-runs on a timer; AppTest drives the page itself
    run(at)
    store, sandbox = services().store, services().demo.sandbox
    ids = {g.email: g.gift_request_id for g in store.gifts()}
    for email, status in moves.items():
        sandbox.set_status(ids[email], status)
    button(at, "Refresh statuses").click()
    run(at)
    assert until(lambda: all(store.gift(ids[e]).status == s for e, s in moves.items()), timeout=15)
    return run(at), ids


def table(at):
    return at.dataframe[0].value


def test_each_gift_beside_its_person_company_list_and_campaign_with_filters(data_dir):
    at, ids = sent_and_moved(
        data_dir, {"alice.smith@example.com": "redeemed", "bruno.martins@example.com": "cancelled"}
    )
    gifts = table(at)
    assert len(gifts) == 20
    alice = gifts[gifts["Email"] == "alice.smith@example.com"].iloc[0]
    campaign_id = services().store.journal(list_key(at))["alice.smith@example.com"].campaign_id
    campaign_name = next(c["name"] for c in services().demo.sandbox.campaigns if c["id"] == campaign_id)
    assert (alice["Name"], alice["Company"], alice["List"], alice["Campaign"]) == (
        "Alice Smith",
        "Acme Corp",
        SAMPLE_NAME,
        campaign_name,
    )
    assert {"Invitation", "Reminder"} <= set(gifts.columns)  # the invitation journal's columns stay

    for key, value in (("status_lists", [SAMPLE_NAME]), ("status_campaigns", [campaign_name])):
        at.multiselect(key=key).set_value(value)
        run(at)
        assert len(table(at)) == 20, key
    at.multiselect(key="status_statuses").set_value(["Redeemed", "Cancelled"])
    run(at)
    assert sorted(table(at)["Email"]) == ["alice.smith@example.com", "bruno.martins@example.com"]
    m = metrics(at)
    assert m["Gifts shown"] == "2" and m["Redemption rate"] == "50%", m
    assert m["Median time to redeem"] != "—", m
    assert "1 of 2 gifts shown were redeemed" in texts(at.caption)

    downloads = [d.proto for d in at.get("download_button")]
    [follow] = [d for d in downloads if d.label.endswith("to follow up (CSV)")]
    assert follow.label == "Download the 2 people to follow up (CSV)"
    assert "1 redeemed (follow up), 1 cancelled" in follow.help


def test_redemption_rate_and_median_over_every_gift(data_dir):
    at, _ = sent_and_moved(data_dir, {"alice.smith@example.com": "delivered", "bruno.martins@example.com": "redeemed"})
    m = metrics(at)
    assert m["Gifts shown"] == "20" and m["Redemption rate"] == "10%", m  # 2 of 20
    assert re.fullmatch(r"under a minute|\d+ minutes?( \d+ seconds?)?", m["Median time to redeem"]), m


def test_one_gifts_timeline_is_picked_by_person_each_status_once_in_order(data_dir):
    at, ids = sent_and_moved(data_dir, {"alice.smith@example.com": "redeemed"})
    picker = at.selectbox(key="status_gift")
    labels = [picker.format_func(o) for o in picker.options] if picker.format_func else picker.options
    alice = next(label for label in labels if "alice.smith@example.com" in label)
    assert alice == f"Alice Smith — alice.smith@example.com · {SAMPLE_NAME}"
    assert labels == sorted(labels, key=str.casefold)
    assert not any(UUID.search(label) for label in labels), labels[:3]
    picker.set_value(ids["alice.smith@example.com"])
    run(at)
    steps = at.dataframe[1].value
    assert list(steps["Status"]) == ["Submitted", "Redeemed"]  # the send and &Open's "created": one Submitted
    assert list(steps.columns) == ["Status", "When", "After sending"]
    assert all(re.fullmatch(r"\d{1,2} [A-Z][a-z]+ \d{4} at \d\d:\d\d UTC", w) for w in steps["When"]), steps
    assert steps["After sending"].iloc[0] == "when it was sent"
    assert steps["After sending"].iloc[1].endswith("after it was sent")


def test_the_funnel_counts_whole_gifts(data_dir):
    at, _ = sent_and_moved(data_dir, {"alice.smith@example.com": "redeemed"})
    [chart] = at.get("vega_lite_chart")
    axis = json.loads(chart.proto.spec)["encoding"]["x"]["axis"]
    assert axis["tickMinStep"] == 1 and axis["format"] == "d", axis
