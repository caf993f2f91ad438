"""Issue 21 walked in Chromium, in demo mode: on Review & send the invitation template, the preview
of a row's exact email, Send a test to me, then the gifts sent with "Email invitations after the
gifts are sent"; the Outbox (the demo's own SMTP server on 127.0.0.1) shows exactly those emails,
and Gift status shows each gift's invitation. Screenshots go to test-artifacts/screenshots."""

from __future__ import annotations

import re

import pytest

from tests import backends
from tests.browser_support import (
    SCREENSHOTS,
    VIEWPORT,
    AppServer,
    full_page_screenshot,
    new_context,
    poll,
    wait_idle,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
GOOD_ROWS = 20  # the sample's valid rows


@pytest.fixture
def app(browser, store_backend, tmp_path):
    backends.keep(tmp_path / "data")
    server = AppServer(
        tmp_path / "data", tmp_path / "streamlit.log", demo_speed=30, extra_env={"GIFTRUN_EMAIL_RATE": "600"}
    )
    try:
        server.wait_healthy(timeout=60)
        yield server
    finally:
        server.stop()


def click(page, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()
    wait_idle(page, timeout=60)


def go_to(page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    page.get_by_role("heading", name=title, exact=True).wait_for()
    wait_idle(page)


@pytest.mark.slow
def test_template_preview_test_send_invitations_outbox_and_gift_status(app, browser):
    context = new_context(browser, viewport=VIEWPORT)
    page = context.new_page()
    page.goto(app.url)
    wait_idle(page, timeout=60)
    page.get_by_role("tab", name="Sample list").click()
    click(page, "Load the sample list")
    click(page, "Continue to Review & send →")
    click(page, "Approve all")

    page.get_by_text("Invitation email").wait_for()  # the example template to start from
    editor = page.get_by_role("textbox", name=re.compile(r"^Template: 'Subject: …'"))
    # the editor is drawn before its text lands in it on a loaded machine: wait for the text, not a clock
    poll(lambda: "Subject: A gift for you, {first_name}" in editor.input_value(), timeout=20, what="the template")
    preview = page.get_by_test_id("stText").filter(has_text="Subject: A gift for you")
    assert "From: Giftrun demo <demo@giftrun.invalid>" in preview.inner_text()
    page.get_by_role("textbox", name="Send a test to me at").fill("me@team.example")
    click(page, "Send a test to me")
    page.get_by_text("Test sent to").wait_for()
    full_page_screenshot(page, SCREENSHOTS / "invitation-editor.png")

    page.get_by_text("Email invitations after the gifts are sent").click()
    wait_idle(page)
    click(page, f"Send {GOOD_ROWS} gifts")
    page.get_by_text("Run finished").wait_for(timeout=90_000)
    finished = re.compile(r"Invitations: (\d+)/\1 · (\d+) emailed .* finished")
    line = poll(
        lambda: next((t for t in page.get_by_text("Invitations:").all_inner_texts() if finished.search(t)), None),
        timeout=120,
        what="the invitations to finish",
    )
    emailed = int(finished.search(line).group(2))
    assert 0 < emailed <= GOOD_ROWS  # a demo gift whose link &Open has not given yet waits for the next run
    full_page_screenshot(page, SCREENSHOTS / "invitations-sent.png")

    go_to(page, "Outbox")
    table = page.get_by_test_id("stDataFrame").first
    table.wait_for()
    caught = page.get_by_text(re.compile(r"\d+ emails taken by the demo's SMTP server")).inner_text()
    assert int(caught.split()[0]) >= emailed + 1  # the test email, then the invitations
    body = page.get_by_test_id("stText").first.inner_text()
    assert "Choose yours here:" in body and "/r/" in body
    full_page_screenshot(page, SCREENSHOTS / "outbox.png")

    go_to(page, "Gift status")
    page.get_by_test_id("stDataFrame").first.wait_for()
    full_page_screenshot(page, SCREENSHOTS / "gift-status-invitations.png")
    context.close()
