"""End to end in a real Chromium: the flow a user does, on `streamlit run app.py` in demo mode.

Approvals are clicked in the st.data_editor grid (a canvas: clicks by measured position,
or a selected cell and Space), sends go to the built-in sandbox, statuses move by
themselves (GIFTRUN_DEMO_SPEED=30), and the run writes docs/screenshots/*.png for the README.
"""

from __future__ import annotations

import functools
import re
import uuid
from pathlib import Path

import pytest

from lib import csvio
from lib.writeback import RESULT_COLUMNS
from tests import backends
from tests.browser_support import (
    SCREENSHOTS,
    VIEWPORT,
    AppServer,
    checkbox_checked,
    collapse_sidebar,
    full_page_screenshot,
    grid_geometry,
    metrics,
    new_context,
    poll,
    scroll_grid,
    wait_idle,
    wait_metric,
    wait_still,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SAMPLE_COLUMNS = ["First Name", "Last Name", "Email", "Company", "Fit", "Funding", "Approved"]
SAMPLE_ROWS = 25
GOOD_ROWS = 20  # the sample's first 20 people are fine; the last 5 each have one problem
VICTOR_ROW = 22  # "Victor Hugo", email 'victor.hugo@@example'
EXPECTED_ERRORS = {  # sample row (1-based) -> words its Send error must contain
    21: ["first name", "missing"],
    22: ["victor.hugo@@example", "not a valid"],
    23: ["same email as row 2"],  # the file's own row number: the header is row 1
    24: ["email is missing"],
    25: ["'x'", "too short"],
}


# ------------------------------------------------------------------------- fixtures


@pytest.fixture
def app(browser, app_servers, store_backend, tmp_path_factory):
    """One demo app server per store backend, shared by this module's tests in order."""
    key = ("e2e", store_backend)
    if key not in app_servers:
        tmp = tmp_path_factory.mktemp(f"giftrun-e2e-{store_backend}")
        backends.keep(tmp / "data")
        server = AppServer(tmp / "data", tmp / "streamlit.log", demo_speed=30)
        try:
            server.wait_healthy(timeout=60)
        except BaseException:
            server.stop()
            raise
        app_servers[key] = server
    return app_servers[key]


@pytest.fixture
def context(browser):
    ctx = new_context(browser, viewport=VIEWPORT, accept_downloads=True)
    ctx.set_default_timeout(30_000)
    yield ctx
    ctx.close()


def show_server_log_on_failure(test):
    """Attach the tail of the streamlit log to any failure (Playwright timeouts included)."""

    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        try:
            return test(*args, **kwargs)
        except BaseException as exc:
            server = kwargs.get("app")
            if server is not None and hasattr(exc, "add_note"):
                exc.add_note(server.log_tail())
            raise

    return wrapper


# ------------------------------------------------------------------------- steps


def open_app(context, server: AppServer, path: str = ""):
    page = context.new_page()
    page.goto(f"{server.url}/{path}")
    wait_idle(page, timeout=60)
    return page


def go_to(page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    page.get_by_role("heading", name=title, exact=True).wait_for()
    wait_idle(page)


def click_button(page, name: str, *, timeout: float = 30) -> None:
    page.get_by_role("button", name=name, exact=True).click()
    wait_idle(page, timeout=timeout)


def download_results(page, tmp_path: Path, name: str):
    button = page.get_by_role("button", name="Download CSV with results")
    with page.expect_download(timeout=30_000) as dl:
        button.click()
    target = tmp_path / name
    dl.value.save_as(target)
    wait_idle(page)  # a download button reruns the script
    return csvio.read_csv_bytes(target.read_bytes(), name=name)


def approved_rows(frame) -> list[int]:
    return [i + 1 for i, v in enumerate(frame["Approved"]) if str(v).strip().upper() == "TRUE"]


# ------------------------------------------------------------------------- tests


@show_server_log_on_failure
def test_approve_in_the_grid_send_and_download_results(app, context, tmp_path):
    page = open_app(context, app)

    # Build list: the sample list
    page.get_by_role("tab", name="Sample list").click()
    click_button(page, "Load the sample list")
    page.get_by_text("Sample list loaded").wait_for()
    full_page_screenshot(page, SCREENSHOTS / "build-list.png")
    click_button(page, "Continue to Review & send →")
    page.get_by_role("heading", name="Review & send").wait_for()

    # Review & send: nothing approved yet
    grid = page.get_by_test_id("stDataFrame").first
    grid.wait_for()
    wait_metric(page, "Not approved", SAMPLE_ROWS - 4)  # the 4 rows with a problem count as Problems
    assert metrics(page)["To send"] == 0
    geo = grid_geometry(page, grid)

    # Tick Approved on rows 1-3 by clicking their checkboxes on the canvas. After each
    # click the app reruns; the count must grow by one each time and keep earlier ticks.
    assert not any(checkbox_checked(page, geo, row) for row in (1, 2, 3))
    for row in (1, 2, 3):
        page.mouse.click(geo.first_col_center_x, geo.row_center_y(row))
        wait_idle(page)
        wait_metric(page, "To send", row)
        poll(
            lambda: all(checkbox_checked(page, geo, r) for r in range(1, row + 1)),
            timeout=10,
            what=f"the grid to show rows 1-{row} ticked",
        )

    # Victor Hugo (row 22) is below the fold: select a cell in row 3, go down with the
    # keyboard past the last row (the grid scrolls; extra presses stay on the last row),
    # come back up to row 22, step left into Approved and press Space.
    page.mouse.click(geo.second_col_x(), geo.row_center_y(3))
    for key in ["ArrowDown"] * (SAMPLE_ROWS + 3) + ["ArrowUp"] * (SAMPLE_ROWS - VICTOR_ROW) + ["ArrowLeft"]:
        page.keyboard.press(key)
        page.wait_for_timeout(30)
    page.keyboard.press("Space")
    wait_idle(page)
    seen = wait_metric(page, "Problems", 4)
    # Problems counts every row with a problem, approved or not: 4 before and after Victor's tick.
    assert seen["To send"] == 3 and seen["Not approved"] == 18 and sum(seen.values()) == SAMPLE_ROWS, seen
    assert page.get_by_role("button", name="Send 3 gifts").is_enabled()

    # The approvals reached the app: its own CSV has exactly those rows approved.
    before = download_results(page, tmp_path, "before.csv")
    assert approved_rows(before) == [1, 2, 3, VICTOR_ROW]

    # Approve the rest with the button, then send every valid row.
    click_button(page, "Approve all")
    seen = wait_metric(page, "To send", GOOD_ROWS)
    assert seen["Problems"] == 5 and seen["Not approved"] == 0, seen
    page.get_by_role("button", name=f"Send {GOOD_ROWS} gifts").click()
    finished = page.get_by_text("Run finished")
    finished.wait_for(timeout=90_000)
    wait_idle(page)
    assert f"{GOOD_ROWS} sent" in finished.inner_text()
    wait_metric(page, "Sent", GOOD_ROWS)
    assert metrics(page)["To send"] == 0
    # For the README: the whole width, scrolled so names, gift ids and links show together.
    collapse_sidebar(page)
    grid = page.get_by_test_id("stDataFrame").first
    scroll_grid(page, grid, dx=grid_geometry(page, grid).first_col_right + 150)
    full_page_screenshot(page, SCREENSHOTS / "review-send.png")

    # Results on the rows, as the user gets them: the downloaded CSV.
    out = download_results(page, tmp_path, "results.csv")
    assert list(out.columns) == SAMPLE_COLUMNS + list(RESULT_COLUMNS), list(out.columns)
    assert len(out) == SAMPLE_ROWS
    assert out["First Name"].tolist()[:3] == ["Alice", "Bruno", "Chloé"]  # original row order
    for i, row in enumerate(out.to_dict("records"), start=1):
        who = f"row {i} ({row['First Name']} {row['Last Name']})"
        if i <= GOOD_ROWS:
            uuid.UUID(row["Gift request ID"])  # raises if it is not a uuid
            assert re.match(r"https?://\S+$", row["Redemption URL"]), f"{who}: {row['Redemption URL']!r}"
            assert row["Send error"] == "", f"{who}: {row['Send error']!r}"
            assert row["Sent at"], f"{who} has no Sent at"
            assert row["Gift status"] in {"Submitted", "Redeemed", "Dispatched", "Delivered", "Cancelled"}, who
        else:
            assert row["Gift request ID"] == "" and row["Redemption URL"] == "", f"{who} was sent"
            error = row["Send error"].lower()
            for word in EXPECTED_ERRORS[i]:
                assert word in error, f"{who}: Send error {row['Send error']!r} should mention {word!r}"
    assert len(set(out["Gift request ID"][:GOOD_ROWS])) == GOOD_ROWS


@show_server_log_on_failure
def test_gift_status_page_follows_the_gifts_live(app, context, tmp_path):
    # Tab 1 watches the status page (auto-refresh, no reload); tab 2 sends new gifts.
    watcher = open_app(context, app)
    go_to(watcher, "Gift status")
    first = metrics(watcher)  # {} when there are no gifts yet
    first_total = sum(first.values())
    first_moved = first.get("Redeemed", 0) + first.get("Delivered", 0)

    people = "First Name,Last Name,Email,Team,Approved\n" + "".join(
        f"{f},{l},{f.lower()}.{l.lower()}@status.example.com,Sales,TRUE\n"
        for f, l in [
            ("Ada", "Lovelace"),
            ("Grace", "Hopper"),
            ("Alan", "Turing"),
            ("Edsger", "Dijkstra"),
            ("Barbara", "Liskov"),
            ("Donald", "Knuth"),
        ]
    )
    sender = open_app(context, app)
    sender.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        files=[{"name": "status-check.csv", "mimeType": "text/csv", "buffer": people.encode()}]
    )
    wait_idle(sender)
    click_button(sender, "Use this file")
    sender.get_by_text("Loaded 6 people").wait_for()
    click_button(sender, "Continue to Review & send →")
    wait_metric(sender, "To send", 6)
    sender.get_by_role("button", name="Send 6 gifts").click()
    sender.get_by_text("Run finished").wait_for(timeout=60_000)

    # The watcher refreshes itself every 3 s: the new gifts appear, then move on.
    snapshots = [first]

    def moved() -> bool:
        now = metrics(watcher)
        if now != snapshots[-1]:
            snapshots.append(now)
        return sum(now.values()) >= first_total + 6 and now.get("Redeemed", 0) + now.get("Delivered", 0) > first_moved

    poll(moved, timeout=60, interval=0.5, what="the status page to show redeemed or delivered gifts")
    assert len(snapshots) >= 2, snapshots
    watcher.get_by_test_id("stVegaLiteChart").first.wait_for()  # the funnel
    watcher.get_by_test_id("stDataFrame").first.wait_for()  # the table of gifts (a canvas)
    full_page_screenshot(watcher, SCREENSHOTS / "gift-status.png")


@show_server_log_on_failure
def test_settings_page_checks_the_demo_connection(app, context):
    page = open_app(context, app)
    go_to(page, "Settings")
    page.get_by_text("Mode:").first.wait_for()
    assert "demo" in page.get_by_test_id("stMain").inner_text().lower()
    click_button(page, "Check connection")
    page.get_by_text(re.compile(r"Connected to .* campaigns visible")).wait_for(timeout=30_000)
    full_page_screenshot(page, SCREENSHOTS / "settings.png")


@show_server_log_on_failure
def test_ticking_a_box_keeps_the_grid_where_it_was(app, context):
    page = open_app(context, app)
    people = "First Name,Last Name,Email,Approved\n" + "".join(
        f"Person{i:02d},Scroll,person{i:02d}@scroll.example.com,FALSE\n" for i in range(1, 31)
    )
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        files=[{"name": "scroll-check.csv", "mimeType": "text/csv", "buffer": people.encode()}]
    )
    wait_idle(page)
    click_button(page, "Use this file")
    click_button(page, "Continue to Review & send →")
    wait_metric(page, "Not approved", 30)
    grid = page.get_by_test_id("stDataFrame").first
    geo = grid_geometry(page, grid)

    # Scroll the grid down six rows, as a user reviewing a long list does, and tick the
    # second row in view: it must stay in view, ticked.
    scroll_grid(page, grid, dy=6 * geo.row_height)
    page.mouse.click(geo.first_col_center_x, geo.row_center_y(2))
    wait_idle(page)
    wait_metric(page, "To send", 1)
    wait_still(page, grid)  # the grid has repainted
    assert checkbox_checked(page, geo, 2), "the grid no longer shows the row just ticked (it jumped to the top)"


# ------------------------------------------------------------------------- lists (issue 11, items 1, 4, 5)
# What a user sees when an upload is refused, and "Download CSV with results" of an odd file:
# the user's own bytes with only result cells filled in, into the user's own gift id column.


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
    huge = tmp_path / "huge.csv"  # over the one limit: the browser refuses it before it is sent
    with open(huge, "wb") as fh:
        fh.truncate(csvio.UPLOAD_LIMIT_MB * csvio.MIB + 1)
    workbook = tmp_path / "people.xlsx"
    workbook.write_bytes(b"PK\x03\x04" + b"\x00" * 200)

    page = open_app(context, app)
    assert visible_text(page, csvio.UPLOAD_LIMITS_TEXT)
    assert visible_text(page, f"{csvio.UPLOAD_LIMIT_MB}MB per file")  # Streamlit's own line says the same

    upload(page, huge)  # Streamlit's own message, made visible
    assert visible_text(page, f"File must be {csvio.UPLOAD_LIMIT_MB}.0MB or smaller.")
    page.screenshot(path=str(tmp_path / "too-big-to-upload.png"), full_page=True)

    page.get_by_role("button", name="Remove huge.csv").click()
    wait_idle(page)
    upload(page, workbook)
    click_button(page, "Use this file")
    assert visible_text(
        page, "This Excel workbook cannot be read (BadZipFile): in Excel choose File > Save As > CSV UTF-8"
    )


ODD = (
    "Leads for Q3;;;;;;\r\n"
    " First Name ;Last Name;Email;Approved;Gift Request ID;Phone;Notes\r\n"
    "José;Müller;jose@browser.example;TRUE;;+44 20 7946 0958;-5\r\n"
    "\r\n"
    "Ana;Lopez;ana@browser.example;TRUE;gr_from_another_tool;@Ana;=A1\r\n"
    ";;;;;;\r\n"
    'Bo;Ng;bo@browser.example;TRUE;;"1;2";"two\r\nlines"'
).encode("cp1252")


@show_server_log_on_failure
def test_the_apps_download_is_the_users_file_with_only_result_cells_filled_in(app, context, tmp_path):
    from tests.csv_files import assert_only_result_fields_changed  # here: the imports above are the e2e flow's

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
    # Downloaded right after the run ends, as a person does: the page drawn as the run ended holds every
    # result of it (issue 22: a short run that ended while the page reviewed was drawn over a review read
    # mid-run, a sent row "To send" and the file without its gift id).
    seen = metrics(page)
    assert (seen.get("Sent"), seen.get("To send")) == (3, 0), seen

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


# ------------------------------------------------------------------------- spending guardrails


@pytest.fixture
def guarded_app(browser, store_backend, tmp_path_factory):
    """A server of its own whose team has a daily limit (GIFTRUN_DAILY_LIMIT=150), on the test's
    store backend (one per test: a server started for SQLite must not serve the PostgreSQL run)."""
    tmp = tmp_path_factory.mktemp("giftrun-guardrails")
    server = AppServer(tmp / "data", tmp / "streamlit.log", demo_speed=30, extra_env={"GIFTRUN_DAILY_LIMIT": "150"})
    try:
        server.wait_healthy(timeout=60)
        yield server
    finally:
        server.stop()


def demo_store(server: AppServer):
    from lib.runtime import open_store
    from lib.settings import Settings
    from tests import backends

    return open_store(Settings(**backends.settings_kwargs(server.data_dir)), demo=True)


def metric_text(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has=page.get_by_text(label, exact=True))
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def type_into_new_grid_row(page, grid, *cells: str) -> None:
    """Click the grid's empty last row (a new row opens with its first cell in edit), then type each
    cell and Tab to the next: the way a person adds a row to an st.data_editor."""
    box = grid.bounding_box()
    geo_rows = (box["height"] - 35) // 35  # header 35 px, then rows of 35 px; the last is the "add" row
    page.mouse.click(box["x"] + 120, box["y"] + 35 + 35 * (geo_rows - 1) + 17)
    wait_idle(page)
    wait_still(page, grid)  # the new row is open for typing
    for text in cells:
        page.keyboard.type(text, delay=20)
        page.keyboard.press("Tab")
        wait_idle(page)
        wait_still(page, grid)


@show_server_log_on_failure
def test_guardrails_do_not_gift_table_import_cap_daily_room_and_typed_confirmation(guarded_app, context, tmp_path):
    store = demo_store(guarded_app)
    try:
        page = open_app(context, guarded_app)
        go_to(page, "Settings")
        grid = page.get_by_test_id("stDataFrame").last  # the do-not-gift list (runs and decisions are empty)
        grid.scroll_into_view_if_needed()
        type_into_new_grid_row(page, grid, "@Rival.example", "competitor")
        click_button(page, "Save changes (1 to add or update)")
        page.get_by_role("button", name=re.compile("^Save changes")).wait_for(state="detached")  # saved, redrawn
        wait_idle(page)
        poll(lambda: [(e.value, e.reason, e.added_by) for e in store.do_not_gift()], timeout=10, what="the entry saved")
        assert [(e.value, e.reason, e.added_by) for e in store.do_not_gift()] == [
            ("@rival.example", "competitor", "local")
        ]
        page.get_by_test_id("stFileUploaderDropzoneInput").last.set_input_files(
            files=[
                {
                    "name": "blocked.csv",
                    "mimeType": "text/csv",
                    "buffer": b"Email,Reason\nvip0@example.com,board member\n",
                }
            ]
        )
        wait_idle(page)
        click_button(page, "Import 1 entry")
        assert {e.value for e in store.do_not_gift()} == {"@rival.example", "vip0@example.com"}
        full_page_screenshot(page, SCREENSHOTS / "settings-do-not-gift.png")

        people = [
            "First Name,Last Name,Email,Approved",
            "Ana,Blocked,ana@eu.rival.example,TRUE",
            "Vip,Blocked,VIP0@example.com,TRUE",
        ]
        people += [f"First{i},Last{i},p{i}@guard.example.com,TRUE" for i in range(128)]
        go_to(page, "Build list")
        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
            files=[{"name": "big.csv", "mimeType": "text/csv", "buffer": "\n".join(people).encode()}]
        )
        wait_idle(page)
        click_button(page, "Use this file")
        click_button(page, "Continue to Review & send →")
        seen = wait_metric(page, "To send", 128)
        assert seen["Skipped"] == 2, seen  # the two on the do-not-gift list (no look-back history here)
        assert metric_text(page, "Daily limit left now") == "150 of 150"
        send = page.get_by_role("button", name="Send 128 gifts")
        assert send.is_disabled()  # over 100 gifts: the number must be typed first

        page.get_by_role("spinbutton", name="At most this many gifts in this run").fill("120")
        page.keyboard.press("Enter")
        wait_idle(page)
        page.get_by_text("Cap for this run: at most 120 gifts; 8 of the 128 rows to send will not be sent").wait_for()
        confirm = page.get_by_role("textbox", name=re.compile(r"Type 120 to confirm"))  # not its help
        confirm.fill("128")
        confirm.press("Enter")
        wait_idle(page)
        page.get_by_text("That is not 120").wait_for()
        assert page.get_by_role("button", name="Send 120 gifts").is_disabled()
        confirm = page.get_by_role("textbox", name=re.compile(r"Type 120 to confirm"))  # not its help
        confirm.fill("120")
        confirm.press("Enter")
        wait_idle(page)
        send = page.get_by_role("button", name="Send 120 gifts")
        assert send.is_enabled()
        full_page_screenshot(page, SCREENSHOTS / "review-send-guardrails.png")
        send.click()
        finished = page.get_by_text("Run finished")
        finished.wait_for(timeout=120_000)
        wait_idle(page)
        text = finished.inner_text()
        assert "120 sent" in text and "8 not sent (a limit was reached" in text, text
        poll(lambda: metric_text(page, "Daily limit left now") == "30 of 150", timeout=15, what="30 of 150 left")
        [run] = store.runs()
        assert (run.actor, run.max_gifts, run.counts["sent"]) == ("local", 120, 120)
        journal = store.all_sends()
        assert len(journal) == 120 and not {e.email for e in journal} & {"ana@eu.rival.example", "vip0@example.com"}
        full_page_screenshot(page, SCREENSHOTS / "review-send-guardrails-done.png")
    finally:
        store.close()
