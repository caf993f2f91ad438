"""AppTest page tests: every page renders in demo mode and the whole flow works without an exception.

AppTest targets the navigation script `main.py` (an `st.App` file such as `app.py` renders nothing
under AppTest). Each test gets its own store directory and its own process services (demo sandbox,
run registry), so nothing leaks from one test to the next.

AppTest does not send a data_editor's edit state back on later reruns the way a browser does: a test
that edits approvals sets the edit state in session state before every run that should see it.
"""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from lib.models import SendState
from lib.sample import SAMPLE_NAME
from lib.sandbox import Faults
from lib.sandbox_limiters import LimiterKind
from tests.apptest_support import button, click, go, list_key, metrics, new_session, run, services, texts, wait_for_run
from tests.support import posts
from ui import state

# data_dir (conftest): each test's own store directory, fresh process services and caches.


def load_sample(at: AppTest) -> AppTest:
    run(at)
    return click(at, "load_sample")


def approve_all_and_send(at: AppTest) -> AppTest:
    go(at, "review_send")
    click(at, "approve_all")
    click(at, "send")
    wait_for_run(at)
    return at


def approval_edit(row: int) -> dict:
    return {"edited_rows": {row: {"Approved": True}}, "added_rows": [], "deleted_rows": []}


# -- Build list ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_build_list_renders_in_demo_mode(data_dir):
    at = run(new_session(data_dir))
    assert services().demo_mode
    assert "Demo mode" in texts(at.info)
    assert [t.value for t in at.title] == ["Build list"]
    assert at.session_state.get(state.LIST) is None


@pytest.mark.slow
def test_loading_the_sample_gives_25_people_and_matched_columns(data_dir):
    at = load_sample(new_session(data_dir))
    loaded = at.session_state[state.LIST]
    assert loaded.name == SAMPLE_NAME
    assert len(loaded.frame) == 25
    assert f"{SAMPLE_NAME} — 25 people" in texts(at.subheader)
    pickers = {s.label: s.value for s in at.selectbox}
    assert pickers["First name"] == "First Name"
    assert pickers["Last name"] == "Last Name"
    assert pickers["Email"] == "Email"
    assert pickers["Approved"] == "Approved"
    assert not at.warning  # nothing left to match


@pytest.mark.slow
def test_uploading_a_csv_matches_loose_column_names(data_dir):
    at = run(new_session(data_dir))
    csv = b"first_name,last_name,Email Address\nAda,Lovelace,ada@example.com\nAlan,Turing,alan@example.com\n"
    at.file_uploader(key="giftrun_upload").set_value(("people.csv", csv, "text/csv"))
    run(at)
    click(at, "use_upload")
    assert "Loaded 2 people from people.csv." in texts(at.success)
    assert "people.csv — 2 people" in texts(at.subheader)
    pickers = {s.label: s.value for s in at.selectbox}
    assert (pickers["First name"], pickers["Last name"], pickers["Email"]) == (
        "first_name",
        "last_name",
        "Email Address",
    )
    assert pickers["Approved"] == "(none)"
    assert "No Approved column" in texts(at.caption)


@pytest.mark.slow
def test_a_reopened_list_keeps_its_approvals(data_dir):
    first = load_sample(new_session(data_dir))
    go(first, "review_send")
    click(first, "approve_all")

    second = run(new_session(data_dir))  # a new tab: the list comes back from the store
    second.selectbox(key="reopen_choice").select(list_key(first))
    click(second, "reopen")
    assert f"Reopened {SAMPLE_NAME}." in texts(second.success)
    go(second, "review_send")
    assert metrics(second)["To send"] == "20"


# -- Review & send ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_review_without_a_list_points_to_build_list(data_dir):
    at = run(new_session(data_dir))
    go(at, "review_send")
    assert "No list yet" in texts(at.info)


@pytest.mark.slow
def test_review_summary_before_and_after_approving(data_dir):
    at = load_sample(new_session(data_dir))
    go(at, "review_send")
    m = metrics(at)
    assert m["To send"] == "0"
    assert m["Not approved"] == "21"
    assert m["Problems"] == "4"  # problems show before approval; the duplicate only once it would be sent
    assert sum(int(v) for v in m.values()) == 25  # each row counts once
    send = at.button(key="send")
    assert send.label == "Send 0 gifts" and send.disabled

    click(at, "approve_all")
    m = metrics(at)
    assert m["To send"] == "20"
    assert m["Problems"] == "5"  # a missing name, a bad email, a missing email, a short name + a duplicate
    assert m["Not approved"] == "0"
    assert m["Sent"] == "0"
    assert sum(int(v) for v in m.values()) == 25
    send = at.button(key="send")
    assert send.label == "Send 20 gifts" and not send.disabled

    click(at, "approve_none")
    assert metrics(at)["To send"] == "0"


@pytest.mark.slow
def test_campaign_picker_lists_the_sandboxs_live_campaigns(data_dir):
    at = load_sample(new_session(data_dir))
    go(at, "review_send")
    sandbox = services().demo.sandbox
    live = [c["id"] for c in sandbox.campaigns if c["state"] != "archived"]
    archived = [c["id"] for c in sandbox.campaigns if c["state"] == "archived"]
    picker = at.selectbox(key=state.CAMPAIGN)
    assert list(picker.options) == [c["name"] for c in sandbox.campaigns if c["state"] != "archived"]
    assert picker.value in live
    assert archived and not set(archived) & set(live)


@pytest.mark.slow
def test_sending_the_sample_sends_20_gifts(data_dir):
    at = load_sample(new_session(data_dir))
    approve_all_and_send(at)
    assert "Run finished: 20 sent" in texts(at.success)
    m = metrics(at)
    assert m["Sent"] == "20" and m["To send"] == "0" and m["Problems"] == "5"

    journal = services().store.journal(list_key(at))
    assert sorted(e.state for e in journal.values()) == [SendState.SENT] * 20
    assert all(e.gift_request_id for e in journal.values())
    table = at.data_editor[0].value  # results come from the store into the review table
    assert table["Gift request ID"].astype(bool).sum() == 20
    assert (table["What happens"] == "sent").sum() == 20

    assert at.download_button(key="download").label == "Download CSV with results"

    send = at.button(key="send")  # sending again: nothing left to send
    assert send.label == "Send 0 gifts" and send.disabled
    assert "&Open refused" not in texts(at.caption)  # no 429: nothing said of a limit


@pytest.mark.slow
def test_a_run_that_met_the_limit_says_what_it_found_as_plain_text(data_dir):
    at = load_sample(new_session(data_dir))
    sandbox = services().demo.sandbox
    sandbox.faults = Faults(rate_limit=5, limiter=LimiterKind.SLIDING_WINDOW)  # the app asks for 10/s
    try:
        approve_all_and_send(at)
    finally:
        sandbox.faults = Faults()
    refused = sum(1 for r in posts(sandbox) if r.status == 429)
    assert refused >= 1, "the limit was never met: the test proves nothing"
    assert "Run finished: 20 sent" in texts(at.success)
    [found] = [line for line in texts(at.caption).splitlines() if line.startswith("&Open refused")]
    assert f"&Open refused {refused} request" in found and "(asked for: 10/s)." in found


@pytest.mark.slow
def test_an_approval_ticked_in_the_table_is_what_gets_sent(data_dir):
    at = load_sample(new_session(data_dir))
    go(at, "review_send")
    version = at.session_state[state.EDITOR_VERSION]
    key = f"editor-{list_key(at)}-{version}"  # what state.editor_key gives inside the session
    assert [e.key for e in at.data_editor] == [key]

    at.session_state[key] = approval_edit(0)
    run(at)
    m = metrics(at)
    assert (m["To send"], m["Not approved"]) == ("1", "20")
    assert at.button(key="send").label == "Send 1 gift"

    at.session_state[key] = approval_edit(0)  # the browser sends the edit state with every rerun
    click(at, "send")
    wait_for_run(at)
    journal = services().store.journal(list_key(at))
    assert list(journal) == ["alice.smith@example.com"]
    assert journal["alice.smith@example.com"].state == SendState.SENT
    m = metrics(at)  # the ticked approval was committed to the list when it was sent
    assert (m["Sent"], m["To send"], m["Not approved"]) == ("1", "0", "20")


# -- Gift status -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_gift_status_with_no_gifts(data_dir):
    at = run(new_session(data_dir))
    go(at, "gift_status")
    assert "No gifts yet" in texts(at.info)
    assert not at.metric


@pytest.mark.slow
def test_gift_status_after_a_send(data_dir):
    at = load_sample(new_session(data_dir))
    approve_all_and_send(at)
    go(at, "gift_status")
    m = metrics(at)
    assert "Submitted" in m
    statuses = ("Submitted", "Redeemed", "Dispatched", "Delivered", "Cancelled")
    assert sum(int(m[s]) for s in statuses) >= 20
    assert not any("No gifts yet" in i.value for i in at.info)
    gifts = at.dataframe[0].value
    assert len(gifts) == 20


# -- Settings --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_settings_in_demo_mode_and_connection_check(data_dir):
    at = run(new_session(data_dir))
    go(at, "settings")
    sandbox = services().demo.sandbox
    assert f"**Mode:** demo — the built-in sandbox at {sandbox.url}." in texts(at.markdown)
    assert "No runs yet." in texts(at.caption)
    button(at, "Check connection").click()
    run(at)
    assert not at.error
    message = texts(at.success)
    assert message.startswith("Connected"), message
    assert len(sandbox.campaigns) == 30
    assert re.search(rf"\b{len(sandbox.campaigns)} campaigns\b", message), message


@pytest.mark.slow
def test_settings_audit_trail_shows_the_run(data_dir):
    at = load_sample(new_session(data_dir))
    approve_all_and_send(at)
    go(at, "settings")
    runs = at.dataframe[0].value
    assert len(runs) == 1
    row = runs.iloc[0]
    assert (row["By"], row["State"], int(row["Sent"])) == ("You", "completed", 20)
