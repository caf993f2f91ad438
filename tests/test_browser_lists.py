"""Lists in a real Chromium (issue 11, items 1, 4 and 5): what a user sees when an upload is
refused, and the "Download CSV with results" of an odd file — the user's own bytes with only
result cells filled in, into the user's own `Gift Request ID` column.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from lib import csvio
from tests.browser_support import wait_idle, wait_metric
from tests.csv_files import assert_only_result_fields_changed
from tests.test_browser import (app, browser, click_button, context, open_app,  # noqa: F401 (fixtures)
                                show_server_log_on_failure)

pytestmark = pytest.mark.browser


def upload(page, path: Path) -> None:
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(path))
    wait_idle(page, timeout=120)


def visible_text(page, text: str) -> bool:
    """The text is on screen: rendered, not clipped to nothing (Streamlit's own refusals are
    hidden text for screen readers, clipped to a 0-pixel rectangle)."""
    found = page.get_by_text(text, exact=False).first
    found.wait_for(state="attached")
    box = found.bounding_box()
    clipped = found.evaluate("e => getComputedStyle(e).clip !== 'auto' && getComputedStyle(e).position === 'absolute'")
    return found.is_visible() and box is not None and box["width"] > 20 and box["height"] > 5 and not clipped


@show_server_log_on_failure
def test_an_upload_over_the_limit_is_refused_in_plain_sight(app, context, tmp_path):
    over = tmp_path / "over-the-limit.csv"  # 21 MB of the user's own data: Giftrun's check refuses it
    with open(over, "wb") as fh:
        fh.write(b"First Name,Last Name,Email,Notes\n")
        for i in range(20_000):
            fh.write(b"Ada,Lovelace,ada%d@example.com," % i + b"x" * 1080 + b"\n")
    huge = tmp_path / "huge.csv"  # over what the browser will upload at all (csvio.MAX_UPLOAD_BYTES)
    with open(huge, "wb") as fh:
        fh.truncate(csvio.MAX_UPLOAD_BYTES + 1)
    workbook = tmp_path / "people.xlsx"
    workbook.write_bytes(b"PK\x03\x04" + b"\x00" * 200)

    page = open_app(context, app)
    assert visible_text(page, "Up to 20,971,520 bytes (20 MB) of your own data and 20,000 people per list")

    upload(page, over)
    click_button(page, "Use this file", timeout=120)
    message = "a list can hold up to 20,971,520 bytes (20 MB) of your own data. Split it into smaller files."
    assert visible_text(page, message)
    page.screenshot(path=str(tmp_path / "over-the-limit.png"), full_page=True)

    page.get_by_role("button", name="Remove over-the-limit.csv").click()
    wait_idle(page)
    upload(page, huge)  # refused by the browser before it is sent: Streamlit's own message, made visible
    assert visible_text(page, "File must be 100.0MB or smaller.")
    page.screenshot(path=str(tmp_path / "too-big-to-upload.png"), full_page=True)

    page.get_by_role("button", name="Remove huge.csv").click()
    wait_idle(page)
    upload(page, workbook)
    click_button(page, "Use this file")
    assert visible_text(page, "It looks like an Excel workbook: in Excel choose File > Save As > CSV UTF-8")


ODD = ("Leads for Q3;;;;;;\r\n"
       " First Name ;Last Name;Email;Approved;Gift Request ID;Phone;Notes\r\n"
       "José;Müller;jose@browser.example;TRUE;;+44 20 7946 0958;-5\r\n"
       "\r\n"
       "Ana;Lopez;ana@browser.example;TRUE;gr_from_another_tool;@Ana;=A1\r\n"
       ";;;;;;\r\n"
       "Bo;Ng;bo@browser.example;TRUE;;\"1;2\";\"two\r\nlines\"").encode("cp1252")


@show_server_log_on_failure
def test_the_apps_download_is_the_users_file_with_only_result_cells_filled_in(app, context, tmp_path):
    source = tmp_path / "q3-leads.csv"
    source.write_bytes(ODD)
    page = open_app(context, app)
    upload(page, source)
    click_button(page, "Use this file")
    page.get_by_text("Loaded 3 people from q3-leads.csv").wait_for()
    page.get_by_text("was read as a title and is kept as it is").wait_for()
    click_button(page, "Continue to Review & send →")
    seen = wait_metric(page, "To send", 2)
    assert seen["Sent"] == 1, seen  # Ana's row already carries a gift id, in the user's own spelling
    page.get_by_role("button", name="Send 2 gifts").click()
    page.get_by_text("Run finished").wait_for(timeout=60_000)
    wait_idle(page)

    button = page.get_by_role("button", name="Download CSV with results")
    with page.expect_download(timeout=30_000) as dl:
        button.click()
    target = tmp_path / "results.csv"
    dl.value.save_as(target)
    after = target.read_bytes()

    before_doc, after_doc = csvio.read_csv(ODD), csvio.read_csv(after)
    assert after_doc.codec == before_doc.codec and after_doc.delimiter == ";"
    assert_only_result_fields_changed(before_doc, after_doc)
    frame = after_doc.frame.set_index("Email")
    assert "Gift request ID" not in frame.columns, "a second gift id column was added"
    assert frame.loc["ana@browser.example", "Gift Request ID"] == "gr_from_another_tool"
    assert frame.loc["jose@browser.example", "Gift Request ID"] and frame.loc["bo@browser.example", "Gift Request ID"]
    assert frame.loc["jose@browser.example", "Phone"] == "+44 20 7946 0958"
    assert after.split(b"\r\n")[1].startswith(b" First Name ;Last Name;Email;Approved;Gift Request ID;Phone;Notes;")
