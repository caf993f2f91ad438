"""The Google Sheet path through the app itself: open a sheet by its link, send, and find
every result on the right person's row of the (fake) sheet, with the history tab filled."""

from __future__ import annotations

import pytest

from lib.sandbox import Sandbox
from tests.apptest_support import click, go, metrics, new_session, run, wait_for_run

KEY = "1SheetForTheAppTestAbCdEfGhIjKlMnOpQr"
PEOPLE = [
    ["First Name", "Last Name", "Email", "Approved", "Notes"],
    ["Ana", "Lopez", "ana@example.com", "TRUE", '=HYPERLINK("x")'],
    ["Bo", "Kim", "bo@example.com", "TRUE", "00123"],
    ["Cy", "X", "cy@example.com", "TRUE", ""],  # last name too short: never sent
    ["Di", "Ng", "di@example.com", "FALSE", ""],
]


def _open(at, link):
    at.text_input(key="sheet_link").set_value(link)
    run(at)
    return click(at, "open_sheet")


@pytest.mark.slow
def test_open_a_sheet_send_and_results_land_on_its_rows(fake, data_dir, monkeypatch):
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", fake.host)
    fake.create_spreadsheet(KEY, {"People": [list(r) for r in PEOPLE]})
    at = _open(run(new_session(data_dir)), f"https://docs.google.com/spreadsheets/d/{KEY}/edit#gid=0")
    assert not at.exception
    assert any("4 people" in s.value for s in at.success), [s.value for s in at.success]

    go(at, "review_send")
    assert metrics(at)["To send"] == "2" and metrics(at)["Problems"] == "1"
    click(at, "send")
    wait_for_run(at)
    assert not at.exception

    rows = fake.rows(KEY, "People")
    header, body = rows[0], {r[2]: dict(zip(rows[0], r)) for r in rows[1:]}
    assert header[:5] == PEOPLE[0] and header[5:] == [
        "Gift request ID",
        "Redemption URL",
        "Send error",
        "Gift status",
        "Eligibility",
        "Skip reason",
        "Sent at",
    ]
    sandbox: Sandbox = __import__("lib.runtime", fromlist=["_services"])._services.demo.sandbox
    gifts = sandbox.gifts_by_email()
    assert set(gifts) == {"ana@example.com", "bo@example.com"}
    for email in gifts:
        assert body[email]["Gift request ID"] == gifts[email][0]["id"]
        assert body[email]["Send error"] == ""
    assert "too short" in body["cy@example.com"]["Send error"]
    assert body["ana@example.com"]["Notes"] == '=HYPERLINK("x")' and body["bo@example.com"]["Notes"] == "00123"

    def history_filled() -> bool:
        titles = [s["properties"]["title"] for s in fake.spreadsheets[KEY].metadata()["sheets"]]
        return "Gift history" in titles and len(fake.rows(KEY, "Gift history")) >= 3

    from tests.support import until

    assert until(history_filled, timeout=20), "the run's send events never reached the Gift history tab"


@pytest.mark.slow
def test_refresh_statuses_writes_the_latest_status_to_the_sheet(fake, data_dir, monkeypatch):
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", fake.host)
    fake.create_spreadsheet(KEY, {"People": [list(r) for r in PEOPLE]})
    at = _open(run(new_session(data_dir)), f"https://docs.google.com/spreadsheets/d/{KEY}/edit#gid=0")
    go(at, "review_send")
    click(at, "send")
    wait_for_run(at)
    sandbox: Sandbox = __import__("lib.runtime", fromlist=["_services"])._services.demo.sandbox
    ana = sandbox.gifts_by_email()["ana@example.com"][0]["id"]
    sandbox.set_status(ana, "delivered")

    go(at, "gift_status")
    [refresh] = [b for b in at.button if b.label == "Refresh statuses"]
    refresh.click()
    run(at)
    assert not at.exception
    rows = fake.rows(KEY, "People")
    body = {r[2]: dict(zip(rows[0], r)) for r in rows[1:]}
    assert body["ana@example.com"]["Gift status"] == "Delivered"
    assert body["bo@example.com"]["Gift status"] in {"Submitted", "Redeemed", "Dispatched", "Delivered", "Cancelled"}


@pytest.mark.slow
def test_ids_written_meanwhile_by_another_store_stop_the_app_sending_again(fake, data_dir, monkeypatch):
    """The app sends from the sheet as it is at Send time, not from the copy read when it
    was opened: ids a CLI run on another machine wrote in between mean "already sent"."""
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", fake.host)
    rows = [r + [""] for r in [list(r) for r in PEOPLE]]
    rows[0][-1] = "Gift request ID"
    fake.create_spreadsheet(KEY, {"People": rows})
    at = _open(run(new_session(data_dir)), f"https://docs.google.com/spreadsheets/d/{KEY}/edit#gid=0")
    go(at, "review_send")
    assert metrics(at)["To send"] == "2"
    fake.set_cell(KEY, "People", 2, 6, "sent-elsewhere-ana")  # another store's run, after the page was read
    fake.set_cell(KEY, "People", 3, 6, "sent-elsewhere-bo")
    click(at, "send")
    wait_for_run(at)
    sandbox: Sandbox = __import__("lib.runtime", fromlist=["_services"])._services.demo.sandbox
    assert sandbox.gifts_by_email() == {}, "a person whose row already carried a gift id was gifted again"
    body = {r[2]: r for r in fake.rows(KEY, "People")[1:]}
    assert body["ana@example.com"][5] == "sent-elsewhere-ana" and body["bo@example.com"][5] == "sent-elsewhere-bo"


@pytest.mark.slow
def test_results_land_on_the_opened_tab_even_if_another_tab_is_moved_first(fake, data_dir, monkeypatch):
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", fake.host)
    fake.create_spreadsheet(KEY, {"People": [list(r) for r in PEOPLE]})
    at = _open(run(new_session(data_dir)), f"https://docs.google.com/spreadsheets/d/{KEY}/edit")  # no tab id
    go(at, "review_send")
    may = [["First Name", "Last Name", "Email", "Approved"], ["Ana", "Lopez", "ana@example.com", "FALSE"]]
    fake.mutate(lambda f: f.spreadsheets[KEY].add_sheet("May", 100, 10, index=0))  # a colleague adds a tab in front
    for r, row in enumerate(may, start=1):
        for c, value in enumerate(row, start=1):
            fake.set_cell(KEY, "May", r, c, value)
    click(at, "send")
    wait_for_run(at)
    assert fake.rows(KEY, "May") == may, "results were written onto another tab"
    people = {r[2]: dict(zip(fake.rows(KEY, "People")[0], r)) for r in fake.rows(KEY, "People")[1:]}
    assert people["ana@example.com"]["Gift request ID"] and people["bo@example.com"]["Gift request ID"]


@pytest.mark.slow
def test_a_sheet_without_an_approved_column_is_approved_in_the_app_and_sent(fake, data_dir, monkeypatch):
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", fake.host)
    fake.create_spreadsheet(KEY, {"People": [[c for i, c in enumerate(r) if i != 3] for r in PEOPLE]})
    at = _open(run(new_session(data_dir)), f"https://docs.google.com/spreadsheets/d/{KEY}/edit#gid=0")
    go(at, "review_send")
    assert metrics(at)["To send"] == "0"
    click(at, "approve_all")
    assert metrics(at)["To send"] == "3"  # Di is approved too now; Cy stays invalid
    click(at, "send")
    wait_for_run(at)
    sandbox: Sandbox = __import__("lib.runtime", fromlist=["_services"])._services.demo.sandbox
    assert set(sandbox.gifts_by_email()) == {"ana@example.com", "bo@example.com", "di@example.com"}
    rows = fake.rows(KEY, "People")
    body = {r[2]: dict(zip(rows[0], r)) for r in rows[1:]}
    assert all(body[e]["Gift request ID"] for e in ("ana@example.com", "bo@example.com", "di@example.com"))
