"""lib.sheets through real gspread against the fake Sheets API (tests/fake_sheets.py),
reached with the emulator switch (make_client(emulator_host=...)). Sleeps are injected:
nothing here waits for a backoff."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from gspread.exceptions import APIError

from lib.models import EventSource, StatusEvent
from lib.sheets import (
    HISTORY_HEADER,
    HISTORY_TITLE,
    HistoryTab,
    NoHeaderRowError,
    SheetList,
    SheetNotFoundError,
    SheetNotSharedError,
    SheetRef,
    SheetsAuthError,
    SheetsError,
    SheetsQuotaError,
    SheetsRetry,
    WorksheetNotFoundError,
    history_target,
    identity_keys,
    is_sheet_ref,
    make_client,
    parse_sheet_ref,
    row_keys,
    service_account_email,
    sheets_error,
    sheets_retry_delay,
    sync_outbox,
)
from lib.writeback import RESULT_COLUMNS, RowResult
from tests import backends
from tests.fake_sheets import FakeSheets

SA_EMAIL = "giftrun-bot@acme-project.iam.gserviceaccount.com"
SA_INFO = {"type": "service_account", "client_email": SA_EMAIL}
KEY = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"
OTHER = "1ZZZMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2uXXX"
HEADER = ["First Name", "Last Name", "Email", "Notes"]
IDENTITY = ("Email", "First Name", "Last Name")  # the columns a result row is matched by


def people(n: int) -> list[list[str]]:
    return [[f"F{i}", f"L{i}", f"p{i:04d}@example.com", f"note {i}"] for i in range(n)]


def gid_for(email: str) -> str:
    return "gr_" + email.split("@")[0]


def result(email: str, **extra: str) -> RowResult:
    values = {"Gift request ID": gid_for(email), "Gift status": "Submitted", **extra}
    return RowResult(f"{email}#1", email, values)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def retry(sleeps) -> SheetsRetry:
    return SheetsRetry(sleep=sleeps.append)


@pytest.fixture
def client(fake):
    return make_client(SA_INFO, emulator_host=fake.host, timeout=10)


def open_list(client, retry, key: str = KEY, worksheet: str | None = None) -> SheetList:
    return SheetList.open(client, SheetRef(key), worksheet, retry=retry)


def by_email(fake: FakeSheets, title: str = "People") -> dict[str, dict[str, str]]:
    return {r["Email"]: r for r in fake.table(KEY, title) if r.get("Email")}


def people_sink(fake, client, retry, n: int):
    """A People tab of n people (people(n)) and a sink onto it, matched by IDENTITY."""
    fake.create_spreadsheet(KEY, {"People": [HEADER, *people(n)]})
    return open_list(client, retry).sink(*IDENTITY)


def read_people(fake, client, retry, n: int):
    """A People tab of n people, read as the engine reads it (indexed by row key), and a sink onto it."""
    fake.create_spreadsheet(KEY, {"People": [HEADER, *people(n)]})
    sheet = open_list(client, retry)
    df = sheet.read()
    df.index = row_keys(df, *IDENTITY)
    return df, sheet.sink(*IDENTITY)


# -- references, retries, error mapping (pure) ---------------------------------------------
@pytest.mark.parametrize(
    "text, key, gid",
    [
        (f"https://docs.google.com/spreadsheets/d/{KEY}/edit#gid=123", KEY, 123),
        (f"https://docs.google.com/spreadsheets/d/{KEY}/edit?gid=7#gid=7", KEY, 7),
        (f"https://docs.google.com/spreadsheets/d/{KEY}/edit?usp=sharing", KEY, None),
        (f"https://docs.google.com/spreadsheets/u/0/d/{KEY}/htmlview", KEY, None),
        (f"docs.google.com/spreadsheets/d/{KEY}", KEY, None),
        (f"  {KEY}  ", KEY, None),
    ],
)
def test_parse_sheet_ref_accepts_links_and_keys(text, key, gid):
    assert parse_sheet_ref(text) == SheetRef(key, gid)
    assert is_sheet_ref(text)


@pytest.mark.parametrize(
    "text",
    [
        "people.csv",
        "./lists/people.csv",
        "",
        "https://example.com/sheet",
        "https://docs.google.com/document/d/abc/edit",
        "short-key",
    ],
)
def test_parse_sheet_ref_rejects_everything_else(text):
    with pytest.raises(SheetsError, match="doesn't look like a Google Sheet link"):
        parse_sheet_ref(text)
    assert not is_sheet_ref(text)


def test_publish_to_web_link_gets_its_own_message():
    with pytest.raises(SheetsError, match="Publish to web"):
        parse_sheet_ref("https://docs.google.com/spreadsheets/d/e/2PACX-1vabc/pubhtml")


@pytest.mark.parametrize(
    "status, attempt, idempotent, expected",
    [
        (429, 1, True, 1.0),
        (429, 2, True, 2.0),
        (429, 4, True, 8.0),
        (429, 5, True, None),
        (503, 1, True, 1.0),
        (500, 3, False, 4.0),
        (429, 1, False, 1.0),
        (None, 1, True, 1.0),
        (None, 1, False, None),
        (400, 1, True, None),
        (403, 1, True, None),
        (404, 1, True, None),
    ],
)
def test_retry_delay_table(status, attempt, idempotent, expected):
    assert sheets_retry_delay(status, attempt, idempotent=idempotent, max_attempts=5) == expected


def test_retry_delay_is_capped():
    assert sheets_retry_delay(429, 9, max_attempts=20, cap=32.0) == 32.0


def _api_error(status: int, message: str, google_status: str) -> APIError:
    resp = requests.Response()
    resp.status_code = status
    resp._content = json.dumps({"error": {"code": status, "message": message, "status": google_status}}).encode()
    return APIError(resp)


@pytest.mark.parametrize(
    "exc, kind, words",
    [
        (_api_error(404, "Requested entity was not found.", "NOT_FOUND"), SheetNotFoundError, "No Google Sheet"),
        (_api_error(403, "The caller does not have permission", "PERMISSION_DENIED"), SheetNotSharedError, SA_EMAIL),
        (
            _api_error(
                403, "Google Sheets API has not been used in project 1 before or it is disabled.", "PERMISSION_DENIED"
            ),
            SheetsAuthError,
            "not enabled",
        ),
        (
            _api_error(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED"),
            SheetsAuthError,
            "rejected",
        ),
        (_api_error(429, "Quota exceeded", "RESOURCE_EXHAUSTED"), SheetsQuotaError, "quota"),
        (_api_error(503, "The service is currently unavailable.", "UNAVAILABLE"), SheetsError, "HTTP 503"),
        (_api_error(400, "Unable to parse range: x", "INVALID_ARGUMENT"), SheetsError, "Unable to parse range"),
        (requests.ConnectionError("boom"), SheetsError, "Could not reach"),
        (requests.Timeout("slow"), SheetsError, "did not answer in time"),
    ],
)
def test_error_mapping_table(exc, kind, words):
    err = sheets_error(exc, key=KEY, service_email=SA_EMAIL)
    assert type(err) is kind
    assert words.lower() in str(err).lower()
    assert "Traceback" not in str(err)


# -- client --------------------------------------------------------------------------------
def test_bad_service_account_json_is_an_auth_error():
    with pytest.raises(SheetsAuthError, match="not valid"):
        make_client({"type": "service_account", "client_email": SA_EMAIL})
    with pytest.raises(SheetsAuthError, match="not valid JSON"):
        make_client("{not json")
    with pytest.raises(SheetsAuthError, match="No Google service account"):
        make_client(None)
    assert service_account_email(SA_INFO) == SA_EMAIL
    assert service_account_email(json.dumps(SA_INFO)) == SA_EMAIL
    assert service_account_email(None) is None


def test_emulator_switch_routes_a_given_session_and_sets_a_timeout(fake):
    fake.create_spreadsheet(KEY, {"People": [HEADER]})
    session = requests.Session()
    client = make_client(None, session=session, emulator_host=f"http://{fake.host}", timeout=7)
    assert client.http_client.session is session
    assert client.http_client.timeout == 7
    assert SheetList.open(client, KEY).title == "People"
    assert fake.counts["get"] == 1


# -- reading -------------------------------------------------------------------------------
def test_read_keeps_text_exactly(fake, client, retry):
    tricky = ["00123", "12345678901234567890", "2026-01-02", '=HYPERLINK("http://x","y")']
    fake.create_spreadsheet(
        KEY,
        {
            "People": [
                ["  First Name ", "Last Name", "Email", "Zip", "Account", "Date", "Link"],
                ["Ann", "Lee", "ann@x.com", *tricky],
                [],
                ["", "", "", "", "", "", ""],
                ["Bob", "Ray", "bob@x.com"],  # ragged
            ]
        },
    )
    sheet = open_list(client, retry)
    df = sheet.read()
    assert list(df.columns) == ["First Name", "Last Name", "Email", "Zip", "Account", "Date", "Link"]
    assert list(df.iloc[0]) == ["Ann", "Lee", "ann@x.com", *tricky]
    assert list(df.iloc[1]) == ["Bob", "Ray", "bob@x.com", "", "", "", ""]
    assert sheet.row_numbers == [2, 5]
    assert list(df.index) == [0, 1]
    assert sheet.list_key == f"sheet:{KEY}:0"
    assert sheet.read_calls == 2  # metadata + values


def test_header_only_sheet_reads_as_no_people(fake, client, retry):
    fake.create_spreadsheet(KEY, {"People": [HEADER]})
    df = open_list(client, retry).read()
    assert list(df.columns) == HEADER and len(df) == 0


@pytest.mark.parametrize("rows", [[], [["", "", ""], ["Ann", "Lee", "ann@x.com"]]])
def test_empty_sheet_or_blank_first_row_says_header_row_missing(fake, client, retry, rows):
    fake.create_spreadsheet(KEY, {"People": rows})
    with pytest.raises(NoHeaderRowError, match="no header row.*row 1"):
        open_list(client, retry).read()


def test_not_found_and_not_shared_messages(fake, client, retry, sleeps):
    fake.create_spreadsheet(KEY, {"People": [HEADER]}, shared=False)
    with pytest.raises(SheetNotFoundError, match="No Google Sheet was found"):
        open_list(client, retry, OTHER)
    with pytest.raises(SheetNotSharedError) as info:
        open_list(client, retry)
    assert SA_EMAIL in str(info.value) and "Editor" in str(info.value)
    assert sleeps == []  # no backoff for 403/404


def test_worksheet_pick_by_title_gid_or_first(fake, client, retry):
    fake.create_spreadsheet(KEY, {"Intro": [["hello"]], "People": [HEADER, people(1)[0]]})
    gid = fake.sheet_id(KEY, "People")
    assert open_list(client, retry).title == "Intro"
    assert (
        SheetList.open(client, f"https://docs.google.com/spreadsheets/d/{KEY}/edit#gid={gid}", retry=retry).title
        == "People"
    )
    sheet = SheetList.open(client, SheetRef(KEY, 0), "People", retry=retry)  # title wins over gid
    assert sheet.title == "People" and sheet.list_key == f"sheet:{KEY}:{gid}"
    assert sheet.worksheet_titles() == ["Intro", "People"]
    with pytest.raises(WorksheetNotFoundError, match="no tab called 'Nope'.*'Intro', 'People'"):
        open_list(client, retry, worksheet="Nope")
    with pytest.raises(WorksheetNotFoundError, match="gid=999"):
        SheetList.open(client, SheetRef(KEY, 999), retry=retry)


def test_row_keys_email_then_name_then_occurrence():
    keys = identity_keys(
        [
            (" Ann@X.com ", "Ann", "Lee"),
            ("ann@x.com", "A", "L"),
            ("", "Bob", " Ray "),
            ("", "bob", "ray"),
            ("", "", ""),
            (None, None, None),
        ]
    )
    assert keys == ["ann@x.com#1", "ann@x.com#2", "#name:bob|ray#1", "#name:bob|ray#2", "#blank#1", "#blank#2"]


# -- write-back ----------------------------------------------------------------------------
def test_writeback_adds_missing_result_columns_after_the_last_column_and_widens_the_grid(fake, client, retry):
    header = ["First Name", "Email", "Gift status", "Last Name", "Notes"]  # user put one result column mid-sheet
    fake.create_spreadsheet(KEY, {"People": [header, ["Ann", "ann@x.com", "", "Lee", "vip"]]}, grid={"People": (5, 5)})
    sheet = open_list(client, retry)
    sink = sheet.sink(*IDENTITY)
    report = sink.write(
        [RowResult("ann@x.com#1", "ann@x.com", {"Gift request ID": "gr_1", "Gift status": "Submitted"})]
    )
    assert fake.rows(KEY, "People")[0] == header + [c for c in RESULT_COLUMNS if c != "Gift status"]
    assert fake.table(KEY, "People")[0]["Gift status"] == "Submitted"
    assert fake.table(KEY, "People")[0]["Gift request ID"] == "gr_1"
    assert fake.grid_size(KEY, "People") == (5, 11)
    assert report.columns_added == [c for c in RESULT_COLUMNS if c != "Gift status"]
    assert fake.counts["batchUpdate"] == 1 and fake.counts["values.batchUpdate"] == 1
    assert sink.write_calls == 2 and sink.read_calls == 1


def test_a_grid_that_shrank_since_opening_is_widened_again(fake, client, retry):
    fake.create_spreadsheet(KEY, {"People": [HEADER, *people(2)]}, grid={"People": (3, 12)})
    sink = open_list(client, retry).sink(*IDENTITY)
    fake.mutate(lambda f: f._sheet(KEY, "People").resize(cols=4))  # a user deleted columns
    sink.write([result("p0001@example.com")])
    assert by_email(fake)["p0001@example.com"]["Gift request ID"] == "gr_p0001"
    assert fake.grid_size(KEY, "People") == (3, 11)
    assert [s for e, s in fake.log if e == "values.batchUpdate"] == [400, 200]


def test_existing_result_columns_are_matched_loosely(fake, client, retry):
    fake.create_spreadsheet(KEY, {"People": [["email", "gift_request_id", "GIFT STATUS"], ["a@x.com"]]})
    sink = open_list(client, retry).sink("email")
    sink.write([result("a@x.com")])
    header = fake.rows(KEY, "People")[0]
    assert header[:3] == ["email", "gift_request_id", "GIFT STATUS"]
    assert "Gift request ID" not in header and "Gift status" not in header
    assert fake.rows(KEY, "People")[1][:3] == ["a@x.com", "gr_a", "Submitted"]


def test_writes_only_changed_cells_in_one_raw_call(fake, client, retry):
    sink = people_sink(fake, client, retry, 5)
    emails = [f"p{i:04d}@example.com" for i in range(5)]
    sink.write([result(e) for e in emails])
    assert fake.counts["values.batchUpdate"] == 1
    sink.write([result(e) for e in emails])  # nothing changed: no write at all
    assert fake.counts["values.batchUpdate"] == 1
    sink.write([result(e) for e in emails[:2]] + [result(emails[3], **{"Gift status": "Redeemed"})])
    assert fake.counts["values.batchUpdate"] == 2
    body = [b for e, _p, b in fake.requests if e == "values.batchUpdate"][-1]
    assert body["valueInputOption"] == "RAW"
    assert body["data"] == [{"range": "'People'!H5:H5", "majorDimension": "ROWS", "values": [["Redeemed"]]}]
    assert by_email(fake)[emails[3]]["Gift status"] == "Redeemed"


def test_raw_keeps_formula_and_number_text_as_text(fake, client, retry):
    fake.create_spreadsheet(KEY, {"People": [HEADER, ["Ann", "Lee", "ann@x.com"]]})
    sink = open_list(client, retry).sink(*IDENTITY)
    formula = '=HYPERLINK("http://evil.example","click")'
    sink.write([RowResult("ann@x.com#1", "ann@x.com", {"Send error": formula, "Gift request ID": "00123"})])
    row = fake.table(KEY, "People")[0]
    assert row["Send error"] == formula and row["Gift request ID"] == "00123"
    # the same text through USER_ENTERED would have become a formula and a number
    assert fake.rows(KEY, "People", render="FORMULA")[1] == fake.rows(KEY, "People")[1]


def test_rows_inserted_deleted_and_sorted_between_flushes(fake, client, retry):
    df, sink = read_people(fake, client, retry, 30)
    emails = list(df["Email"])
    sink.write([result(e) for e in emails[:10]])
    fake.insert_rows(KEY, "People", 2, [["New", "One", "new1@x.com"], ["New", "Two", "new2@x.com"]])
    sink.write([result(e) for e in emails[10:20]])
    for gone in (emails[5], emails[25]):
        rows = fake.rows(KEY, "People")
        fake.delete_row(KEY, "People", next(i for i, r in enumerate(rows, 1) if r[2:3] == [gone]))
    fake.sort_rows(KEY, "People", "Email", reverse=True)
    report = sink.write([result(e) for e in emails[20:]])
    assert report.unplaced == [f"{emails[25]}#1"]
    table = by_email(fake)
    for e in emails:
        if e in (emails[5], emails[25]):
            assert e not in table
            continue
        assert table[e]["Gift request ID"] == gid_for(e), e
        assert table[e]["Gift status"] == "Submitted"
    assert table["new1@x.com"]["Gift request ID"] == "" and table["new2@x.com"]["Gift status"] == ""
    assert [r.row_key for r in sink.unplaced] == [f"{emails[25]}#1"]


def test_rows_without_email_are_matched_by_name(fake, client, retry):
    fake.create_spreadsheet(KEY, {"People": [HEADER, ["Ann", "Lee", ""], ["Bob", "Ray", ""]]})
    sheet = open_list(client, retry)
    df = sheet.read()
    keys = row_keys(df, *IDENTITY)
    assert keys == ["#name:ann|lee#1", "#name:bob|ray#1"]
    sink = sheet.sink(*IDENTITY)
    fake.sort_rows(KEY, "People", "First Name", reverse=True)
    sink.write([RowResult(keys[0], "", {"Send error": "missing email"})])
    assert {r["First Name"]: r["Send error"] for r in fake.table(KEY, "People")} == {"Bob": "", "Ann": "missing email"}


def test_edited_email_falls_back_or_stays_pending(fake, client, retry):
    fake.create_spreadsheet(KEY, {"People": [HEADER, ["Ann", "Lee", "ann@x.com"]]})
    sink = open_list(client, retry).sink(*IDENTITY)
    fake.set_cell(KEY, "People", 2, 3, "ann.lee@x.com")
    report = sink.write([RowResult("ann@x.com#1", "ann@x.com", {"Gift request ID": "gr_a"})])
    assert report.unplaced == ["ann@x.com#1"] and report.write_calls == 0
    fake.set_cell(KEY, "People", 2, 3, "ANN@x.com ")  # put back: the pending result lands
    report = sink.write([])
    assert report.unplaced == [] and fake.table(KEY, "People")[0]["Gift request ID"] == "gr_a"


def test_an_edit_landing_between_read_and_write_is_repaired(fake, client, retry):
    sink = people_sink(fake, client, retry, 12)
    emails = [f"p{i:04d}@example.com" for i in range(12)]
    sink.write([result(e) for e in emails[:4]])

    def meddle(endpoint, body):  # a user edits the sheet just before our write is applied
        if endpoint == "values.batchUpdate":
            fake.on_before_write = None
            fake.insert_rows(KEY, "People", 2, [["Zed", "Zee", "zed@x.com"]])
            fake.sort_rows(KEY, "People", "Notes", reverse=True)

    fake.on_before_write = meddle
    sink.write([result(e) for e in emails[4:8]])
    table = by_email(fake)
    assert any(table[e]["Gift request ID"] != gid_for(e) for e in emails[:8])  # the race hit
    report = sink.settle()
    assert report.repaired > 0
    table = by_email(fake)
    for e in emails:
        assert table[e]["Gift request ID"] == (gid_for(e) if e in emails[:8] else ""), e
    assert table["zed@x.com"]["Gift request ID"] == "" and table["zed@x.com"]["Gift status"] == ""
    assert sink.settle().write_calls == 0


@pytest.mark.slow
def test_concurrent_edits_during_a_loop_of_flushes(fake, client, retry):
    n = 150
    df, sink = read_people(fake, client, retry, n)
    stop = threading.Event()
    rng = random.Random(7)
    deleted: set[str] = set()

    def user():
        k = 0
        while not stop.is_set():
            action = rng.choice(["insert", "delete", "sort", "sort"])
            with fake.lock:
                rows = fake.rows(KEY, "People")
                if action == "insert":
                    k += 1
                    fake.insert_rows(
                        KEY, "People", rng.randint(2, len(rows) + 1), [["In", f"Serted{k}", f"inserted{k}@x.com"]]
                    )
                elif action == "delete" and len(rows) > 20:
                    at = rng.randint(2, len(rows))
                    if rows[at - 1][2:3]:
                        deleted.add(rows[at - 1][2])
                    fake.delete_row(KEY, "People", at)
                else:
                    fake.sort_rows(
                        KEY, "People", rng.choice(["Email", "Notes", "Last Name"]), reverse=rng.random() < 0.5
                    )
            time.sleep(0.002)

    thread = threading.Thread(target=user, daemon=True)
    thread.start()
    try:
        emails = list(df["Email"])
        for start in range(0, n, 10):
            sink.write([result(e) for e in emails[start : start + 10]])
    finally:
        stop.set()
        thread.join(5)
    for _ in range(3):
        if sink.settle().write_calls == 0:
            break
    table = by_email(fake)
    for e in emails:
        if e in deleted:
            continue
        assert table[e]["Gift request ID"] == gid_for(e), e
        assert table[e]["Gift status"] == "Submitted", e
    for e, row in table.items():
        if e.startswith("inserted"):
            assert row["Gift request ID"] == "" and row["Gift status"] == "", e
    assert fake.counts["values.batchUpdate"] <= n // 10 + 3


def test_quota_storm_backs_off_then_succeeds(fake, client, retry, sleeps):
    sink = people_sink(fake, client, retry, 3)
    fake.force_429(3)
    sink.write([result(f"p{i:04d}@example.com") for i in range(3)])
    assert sleeps == [1.0, 2.0, 4.0] and fake.throttled == 3
    assert all(r["Gift request ID"] for r in fake.table(KEY, "People"))


def test_quota_storm_past_the_attempts_raises_and_nothing_is_lost(fake, client, sleeps):
    fake.create_spreadsheet(KEY, {"People": [HEADER, *people(3)]})
    sheet = SheetList.open(client, KEY, retry=SheetsRetry(max_attempts=3, sleep=sleeps.append))
    sink = sheet.sink(*IDENTITY)
    batch = [result(f"p{i:04d}@example.com") for i in range(3)]
    fake.force_429(10)
    with pytest.raises(SheetsQuotaError, match="quota"):
        sink.write(batch)
    assert sleeps == [1.0, 2.0]
    assert all(r.get("Gift request ID", "") == "" for r in fake.table(KEY, "People"))
    fake.force_429(0)
    sink.write(batch)  # the engine retries the same results at its next flush
    assert [r["Gift request ID"] for r in fake.table(KEY, "People")] == ["gr_p0000", "gr_p0001", "gr_p0002"]


def test_per_minute_budget_is_waited_out_with_backoff():
    now = [0.0]
    with FakeSheets(writes_per_minute=3, clock=lambda: now[0]) as fake:
        fake.create_spreadsheet(KEY, {"People": [HEADER, *people(6)]})
        client = make_client(SA_INFO, emulator_host=fake.host)
        waited: list[float] = []

        def sleep(s: float) -> None:
            waited.append(s)
            now[0] += s

        sink = SheetList.open(client, KEY, retry=SheetsRetry(max_attempts=8, sleep=sleep)).sink("Email")
        for i in range(6):
            sink.write([result(f"p{i:04d}@example.com")])
        assert fake.throttled > 0 and sum(waited) >= 60
        assert all(r["Gift request ID"] for r in fake.table(KEY, "People"))


def test_renamed_tab_is_followed(fake, client, retry):
    sink = people_sink(fake, client, retry, 2)
    fake.rename_sheet(KEY, "People", "Guests")
    sink.write([result("p0001@example.com")])
    assert by_email(fake, "Guests")["p0001@example.com"]["Gift request ID"] == "gr_p0001"


def test_missing_identity_column_is_a_clear_error(fake, client, retry):
    sink = people_sink(fake, client, retry, 2)
    fake.set_cell(KEY, "People", 1, 3, "E-mail address")
    with pytest.raises(SheetsError, match="column 'Email' is no longer"):
        sink.write([result("p0001@example.com")])


@pytest.mark.slow
def test_5000_rows_read_and_one_flush_is_one_write(fake, client, retry):
    n = 5000
    df, sink = read_people(fake, client, retry, n)
    assert len(df) == n
    report = sink.write(
        [
            RowResult(
                k,
                e,
                {
                    "Gift request ID": gid_for(e),
                    "Redemption URL": f"https://g.example/{i}",
                    "Gift status": "Submitted",
                    "Eligibility": "eligible",
                    "Sent at": "2026-01-02T03:04:05.000Z",
                },
            )
            for i, (k, e) in enumerate(zip(df.index, df["Email"]))
        ]
    )
    assert report.write_calls == 1 and sink.write_calls == 1
    assert fake.writes == 1 and fake.counts["values.batchUpdate"] == 1
    assert report.rows_written == n
    table = fake.table(KEY, "People")
    assert table[0]["Gift request ID"] == "gr_p0000" and table[-1]["Redemption URL"] == f"https://g.example/{n - 1}"


# -- history tab ---------------------------------------------------------------------------
def _events(n: int) -> list[StatusEvent]:
    return [
        StatusEvent(
            f"ev{i}",
            f"gr_{i}",
            "submitted",
            EventSource.SEND,
            email=f"p{i}@x.com",
            event_type="gift_request_created",
            occurred_at="2026-01-02T03:04:05.000Z",
            received_at=f"2026-01-02T03:04:0{i}.000Z",
            redemption_url=f"https://g/{i}",
            actor="ann@acme.com",
        )
        for i in range(n)
    ]


def test_history_tab_created_when_missing_and_appended_in_one_call(fake, client, retry):
    fake.create_spreadsheet(KEY, {"People": [HEADER]})
    tab = HistoryTab.open(client, KEY, retry=retry)
    assert fake.sheet_titles(KEY) == ["People", HISTORY_TITLE]
    assert fake.rows(KEY, HISTORY_TITLE) == [list(HISTORY_HEADER)]
    fake.reset_counts()
    events = _events(3)
    assert tab.append(events) == 3
    assert fake.counts == {"values.append": 1}
    assert tab.read_events() == events
    tab.append(events[:1])  # a duplicate (e.g. re-sent after a timeout) is read once
    assert tab.read_events() == events


def test_history_tab_a_user_created_empty_gets_its_header(fake, client, retry):
    fake.create_spreadsheet(KEY, {"People": [HEADER], HISTORY_TITLE: []})
    tab = HistoryTab.open(client, KEY, retry=retry)
    tab.append(_events(1))
    assert fake.rows(KEY, HISTORY_TITLE)[0] == list(HISTORY_HEADER)
    assert tab.read_events() == _events(1)


def test_history_tab_missing_reads_as_empty_without_creating(fake, client, retry):
    fake.create_spreadsheet(KEY, {"People": [HEADER]})
    tab = HistoryTab.open(client, KEY, create=False, retry=retry)
    assert tab.read_events() == [] and fake.sheet_titles(KEY) == ["People"]


@pytest.mark.usefixtures("store_backend")
def test_sync_outbox_moves_the_store_outbox_to_the_tab(fake, client, tmp_path, sleeps):
    fake.create_spreadsheet(KEY, {"People": [HEADER]})
    store = backends.store(tmp_path)
    events = _events(4)
    store.add_events(events)
    target = history_target(KEY)
    store.enqueue(target, [e.event_id for e in events])
    sheet = SheetList.open(client, KEY, retry=SheetsRetry(max_attempts=2, sleep=sleeps.append))
    tab = sheet.history_tab(create=True)
    fake.force_429(5)
    with pytest.raises(SheetsQuotaError):
        sync_outbox(store, target, tab)
    assert [e.event_id for e in store.pending(target)] == [e.event_id for e in events]
    fake.force_429(0)
    assert sync_outbox(store, target, tab) == 4
    assert store.pending(target) == []
    assert {e.event_id for e in tab.read_events()} == {e.event_id for e in events}
    assert sync_outbox(store, target, tab) == 0
    store.close()


# -- bench -------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
def test_bench_runs_with_200_rows(capsys):
    path = Path(__file__).resolve().parent.parent / "bench" / "sheets_calls.py"
    spec = importlib.util.spec_from_file_location("sheets_calls_bench", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while it loads
    spec.loader.exec_module(mod)
    res = mod.main(["--rows", "200", "--flush-every", "40"])
    assert res.all_written and res.list_write_calls == 5 and res.throttled == 0  # one write per flush
    assert "headroom" in capsys.readouterr().out


def test_a_newer_status_written_by_someone_else_is_not_put_back(fake):
    """A status refresh (or a person) writes between two of a run's flushes: the run's repair
    step must not take the sheet back to its own older value."""
    key = "1SheetKeyForTheRepairRuleAbCdEfGhIj"
    fake.create_spreadsheet(
        key,
        {"People": [["First Name", "Last Name", "Email"], ["Ana", "Lopez", "ana@x.com"], ["Bo", "Kim", "bo@x.com"]]},
    )
    client = make_client(None, emulator_host=fake.host)
    run_sink = SheetList.open(client, key).sink("Email", "First Name", "Last Name")
    refresh_sink = SheetList.open(client, key).sink("Email", "First Name", "Last Name")
    run_sink.write([RowResult("ana@x.com#1", "ana@x.com", {"Gift request ID": "g-ana", "Gift status": "Submitted"})])
    refresh_sink.write([RowResult("ana@x.com#1", "ana@x.com", {"Gift status": "Redeemed"})])
    run_sink.write([RowResult("bo@x.com#1", "bo@x.com", {"Gift request ID": "g-bo", "Gift status": "Submitted"})])
    run_sink.settle()
    table = {r["Email"]: r for r in fake.table(key, "People")}
    assert table["ana@x.com"]["Gift status"] == "Redeemed" and table["ana@x.com"]["Gift request ID"] == "g-ana"
    assert table["bo@x.com"]["Gift request ID"] == "g-bo"


def test_history_rows_follow_the_tabs_own_header_when_someone_added_a_column(fake):
    """A person adds a Notes column in the middle of the Gift history tab: later events are
    still written under the right headers, and read back as they were."""
    key = "1SheetKeyForTheHistoryHeaderAbCdEfG"
    header = ["Received at", "Notes", "Event id", "Type", "Gift request ID", "Email", "Status", "Source"]
    fake.create_spreadsheet(key, {"People": [["Email"]], "Gift history": [header]})
    client = make_client(None, emulator_host=fake.host)
    tab = HistoryTab.open(client, key)
    event = StatusEvent(
        "evt-1",
        "g-1",
        "redeemed",
        EventSource.WEBHOOK,
        email="ana@x.com",
        event_type="gift_request_redeemed",
        occurred_at="2026-11-20T10:00:00.000Z",
    )
    tab.append([event])
    rows = fake.rows(key, "Gift history")
    assert rows[0][: len(header)] == header and "Redemption URL" in rows[0] and "Actor" in rows[0]
    row = dict(zip(rows[0], rows[1]))
    assert (row["Notes"], row["Event id"], row["Gift request ID"], row["Status"]) == ("", "evt-1", "g-1", "redeemed")
    [back] = HistoryTab.open(client, key, create=False).read_events()
    assert (back.event_id, back.gift_request_id, back.status, back.email) == ("evt-1", "g-1", "redeemed", "ana@x.com")
