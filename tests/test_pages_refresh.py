"""A refreshed tab (a new session with the same address) still has its list open, approvals
included, on whichever page it was refreshed; an address naming no saved list opens nothing."""

from __future__ import annotations

from lib.sample import SAMPLE_NAME
from tests.apptest_support import click, go, list_key, metrics, new_session, run, texts
from ui.state import LIST, LIST_PARAM


def load_sample(at):
    run(at)
    return click(at, "load_sample")


def refreshed(at, data_dir):
    """What a browser refresh makes: a new session whose address keeps the query parameters."""
    again = new_session(data_dir)
    for name, value in at.query_params.items():
        again.query_params[name] = value
    return again


def test_the_address_names_the_open_list_and_a_refresh_reopens_it_with_its_ticks(data_dir):
    at = load_sample(new_session(data_dir))
    key = list_key(at)
    go(at, "review_send")
    click(at, "approve_all")
    assert at.query_params[LIST_PARAM] == [key] or at.query_params[LIST_PARAM] == key

    again = run(refreshed(at, data_dir))
    go(again, "review_send")
    assert again.session_state[LIST].list_key == key
    assert metrics(again)["To send"] == "20"
    assert SAMPLE_NAME in again.session_state[LIST].name


def test_a_refresh_on_another_page_keeps_the_list_too(data_dir):
    at = load_sample(new_session(data_dir))
    key = list_key(at)
    go(at, "settings")
    again = run(refreshed(at, data_dir))
    assert again.session_state[LIST].list_key == key
    go(again, "review_send")
    shown = metrics(again)
    assert (shown["Not approved"], shown["Problems"]) == ("21", "4"), shown  # the 25 rows, none approved yet


def test_an_address_naming_no_saved_list_opens_nothing(data_dir):
    at = new_session(data_dir)
    at.query_params[LIST_PARAM] = "list:0000000000000000"
    run(at)
    go(at, "review_send")
    assert "No list yet" in texts(at.info)
