"""The guardrails in the app (AppTest on `main.py`, demo mode): the cap field sends at most that
many gifts and the run remembers who set it; Review & send shows how much of the daily limit is
left and a run stops at it with one message; a run of more than 100 gifts starts only after the
number is typed; a person on the do-not-gift list shows skip with the reason and no look-back
override offers it; Settings edits and imports the list, and its audit tables show all of it."""

from __future__ import annotations

import pandas as pd
import pytest

from lib import csvio
from lib.donotgift import new_entry
from tests.apptest_support import click, go, list_key, metrics, new_session, run, services, texts, wait_for_run
from ui import limits as limits_ui
from ui.donotgift_ui import VERSION


def table_with(at, column: str):
    """The first table on the page that has this column (Settings: runs, decisions, the list)."""
    return next(t.value for t in at.dataframe if column in t.value.columns)


def load_sample(at):
    run(at)
    return click(at, "load_sample")


def review_all(at):
    go(at, "review_send")
    return click(at, "approve_all")


@pytest.mark.slow
def test_the_cap_field_sends_at_most_that_many_gifts_and_the_run_remembers_who_set_it(data_dir):
    at = review_all(load_sample(new_session(data_dir)))
    assert at.button(key="send").label == "Send 20 gifts"
    at.number_input(key=limits_ui.CAP).set_value(5)
    run(at)
    assert at.button(key="send").label == "Send 5 gifts"
    assert "Cap for this run: at most 5 gifts; 15 of the 20 rows to send will not be sent" in texts(at.info)
    click(at, "send")
    wait_for_run(at)
    assert "5 sent" in texts(at.success) + texts(at.warning) and "15 not sent (a limit was reached" in texts(
        at.success
    ) + texts(at.warning)
    store = services().store
    assert len(store.journal(list_key(at))) == 5
    [r] = store.runs()
    assert (r.actor, r.max_gifts) == ("local", 5)
    table = at.data_editor[0].value
    assert (table["Send error"] == "Not sent: this run's limit of 5 gifts was reached.").sum() == 15
    go(at, "settings")
    runs = table_with(at, "Cap")
    assert runs.iloc[0]["Cap"] == "5"
    decisions = table_with(at, "What")
    assert list(decisions["What"]) == ["run cap"] and "at most 5 gifts" in decisions.iloc[0]["Detail"]


@pytest.mark.slow
def test_review_shows_the_daily_room_and_a_run_stops_at_the_limit(data_dir):
    at = new_session(data_dir, GIFTRUN_DAILY_LIMIT="8")
    at = review_all(load_sample(at))
    assert metrics(at)["Daily limit left now"] == "8 of 8"
    assert "This run will stop at the daily limit after 8 of its 20 gifts." in texts(at.info)
    click(at, "send")
    wait_for_run(at)
    assert "Stopped at the team's daily limit: 8 gifts in any 24 hours" in texts(at.error)
    assert metrics(at)["Daily limit left now"] == "0 of 8"
    assert len(services().store.journal(list_key(at))) == 8
    send = at.button(key="send")
    assert send.label == "Send 12 gifts" and send.disabled  # no room left: nothing to start
    go(at, "settings")
    decisions = table_with(at, "What")
    assert list(decisions["What"]) == ["daily limit stop"]
    assert "**Daily limit (GIFTRUN_DAILY_LIMIT):** 8 gifts in any 24 hours, across the team" in texts(at.markdown)


def big_list(n: int) -> bytes:
    return csvio.to_csv_bytes(
        pd.DataFrame(
            [
                {"First Name": f"First{i}", "Last Name": f"Last{i}", "Email": f"p{i}@example.com", "Approved": "TRUE"}
                for i in range(n)
            ]
        )
    )


@pytest.mark.slow
def test_a_run_of_more_than_100_gifts_starts_only_after_the_number_is_typed(data_dir):
    at = run(new_session(data_dir))
    at.file_uploader(key="giftrun_upload").set_value(("big.csv", big_list(130), "text/csv"))
    run(at)
    click(at, "use_upload")
    go(at, "review_send")
    at.number_input(key=limits_ui.CAP).set_value(101)
    run(at)
    send = at.button(key="send")
    assert send.label == "Send 101 gifts" and send.disabled
    [confirm] = [t for t in at.text_input if t.label.startswith("This run sends")]  # (not the invitation's)
    assert confirm.label.startswith("This run sends up to 101 gifts. Type 101 to confirm")
    confirm.set_value("130")
    run(at)
    assert at.button(key="send").disabled and "That is not 101" in texts(at.warning)
    [t for t in at.text_input if t.label.startswith("This run sends")][0].set_value("101")
    run(at)
    assert not at.button(key="send").disabled
    at.number_input(key=limits_ui.CAP).set_value(100)  # 100 gifts: no confirmation asked
    run(at)
    assert not [t for t in at.text_input if t.label.startswith("This run sends")] and not at.button(key="send").disabled
    assert not services().store.journal(list_key(at))  # nothing was sent by confirming


@pytest.mark.slow
def test_a_listed_person_shows_skip_with_the_reason_and_no_override_offers_them(data_dir):
    at = run(new_session(data_dir))
    services().store.add_do_not_gift([new_entry("Alice.Smith@example.com", "customer")], "maria@team")
    load_sample(at)
    review_all(at)
    m = metrics(at)
    assert (m["To send"], m["Skipped"]) == ("19", "2")  # row 1, and row 23 with the same email: do-not-gift
    table = at.data_editor[0].value
    alice = table[table["Email"] == "alice.smith@example.com"].iloc[0]
    assert (alice["What happens"], alice["Eligibility"]) == ("will be skipped: do-not-gift list", "skip")
    assert alice["Skip reason"].startswith(
        "On the do-not-gift list: alice.smith@example.com (customer) — added by maria@team"
    )
    assert not [e for e in at.expander if "look-back override" in e.label]
    click(at, "send")
    wait_for_run(at)
    assert "alice.smith@example.com" not in services().store.journal(list_key(at))
    assert len(services().store.journal(list_key(at))) == 19


@pytest.mark.slow
def test_settings_edits_and_imports_the_do_not_gift_list_and_audits_who(data_dir):
    at = run(new_session(data_dir))
    store = services().store
    store.add_do_not_gift([new_entry("@rival.example", "competitor"), new_entry("vip0@example.com", "board")], "maria")
    go(at, "settings")
    table = at.data_editor[0]
    assert list(table.value["Value"]) == ["@rival.example", "vip0@example.com"]
    key = f"dng-{at.session_state[VERSION] if VERSION in at.session_state else 0}"
    edits = {
        "edited_rows": {0: {"Reason": "competitor (all regions)"}},
        "deleted_rows": [1],
        "added_rows": [{"Value": "ceo@customer.example", "Reason": "customer"}],
    }
    at.session_state[key] = edits
    run(at)
    save = at.button(key="dng_save")
    assert save.label == "Save changes (2 to add or update, 1 to remove)"
    at.session_state[key] = edits  # a browser sends the edit state with every rerun
    save.click()
    run(at)
    assert {e.value: e.reason for e in store.do_not_gift()} == {
        "@rival.example": "competitor (all regions)",
        "ceo@customer.example": "customer",
    }
    assert list(at.data_editor[0].value["Value"]) == ["@rival.example", "ceo@customer.example"]

    at.session_state[f"dng-{at.session_state[VERSION]}"] = {
        "added_rows": [{"Value": "@com"}],
        "edited_rows": {},
        "deleted_rows": [],
    }
    run(at)
    assert any("top-level domain" in t.value for t in at.text)
    assert not [b for b in at.button if b.key == "dng_save"]  # nothing to save while a row is unusable

    at.session_state[f"dng-{at.session_state[VERSION]}"] = {"added_rows": [], "edited_rows": {}, "deleted_rows": []}
    uploader = at.file_uploader(key=f"dng-upload-{at.session_state[VERSION]}")
    uploader.set_value(("blocked.csv", b"Domain,Reason\n@gov.example,policy\n", "text/csv"))
    run(at)
    click(at, "dng_import")
    assert "@gov.example" in {e.value for e in store.do_not_gift()}
    decisions = table_with(at, "What")
    whats = list(decisions["What"])
    assert whats.count("do-not-gift add") == 4 and "do-not-gift remove" in whats and "do-not-gift change" in whats
    removal = decisions[decisions["What"] == "do-not-gift remove"].iloc[0]
    assert (removal["By"], removal["Email"]) == ("You", "vip0@example.com")  # the local user, in plain words
    assert "imported from blocked.csv" in " ".join(decisions["Detail"])
