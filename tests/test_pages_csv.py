"""An uploaded CSV in the app is kept as the user's own file (issue 11, items 4 and 11): the
Build list page says what reading it worked around, the copy kept in the store for "Recent
lists" is the user's file with the ticks made in the app, and it reopens with them."""

from __future__ import annotations

import pytest

from lib import csvio
from tests.apptest_support import click, go, list_key, metrics, new_session, run, services, texts

ODD = (
    "Leads Q3;;;;\r\n;;;;\r\n"
    " First Name ;Last Name;Email;Approved;Phone\r\n"
    "José;Müller;jose@example.com;no;+44 20 7946 0958\r\n"
    "\r\n"
    "Ana;Lopez;ana@example.com;no;=A1\r\n"
).encode("cp1252")


@pytest.mark.slow
def test_an_odd_csv_is_read_as_it_is_kept_with_its_ticks_and_reopened(data_dir, server_state):
    first = run(new_session(data_dir))
    first.file_uploader(key="giftrun_upload").set_value(("q3.csv", ODD, "text/csv"))
    run(first)
    click(first, "use_upload")
    assert "Loaded 2 people from q3.csv." in texts(first.success)
    assert "The column names are on line 3; line 1 above them ('Leads Q3') was read as a title" in texts(first.info)
    go(first, "review_send")
    click(first, "approve_all")
    assert metrics(first)["To send"] == "2"

    name, saved, _mapping = services().store.load_list(list_key(first))
    assert saved == ODD.replace(b";no;", b";TRUE;"), "the kept copy is not the user's file with the ticks"

    second = run(new_session(data_dir))  # a new tab: the list comes back from the store
    second.selectbox(key="reopen_choice").select(list_key(first))
    click(second, "reopen")
    go(second, "review_send")
    assert metrics(second)["To send"] == "2"
    frame = second.session_state["giftrun_list"].frame
    assert frame["Phone"].tolist() == ["+44 20 7946 0958", "=A1"]
    assert csvio.read_csv(saved).codec.name == "cp1252"
