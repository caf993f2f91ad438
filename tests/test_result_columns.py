"""Result columns are found the way input columns are, loosely, everywhere (issue 11, item 1):
a list whose column reads `Gift Request ID`, `gift_request_id`, `GiftRequestID` or
`Gift request id ` (exports from other tools) is never sent again through that spelling,
results are written into the user's own column under the user's own header, and no second
column appears — in a CSV (CLI send and status, the app's download) and in a Google Sheet
(real gspread against the fake Sheets API).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from lib import csvio
from lib import eligibility as elig
from lib.headers import normalise_header
from lib.models import iso, utcnow
from lib.plan import apply_results
from lib.sources import csv_bytes, prepare, results_in
from lib.writeback import RESULT_COLUMNS, RowResult, result_columns, result_positions, result_values
from tests import support
from tests.support import cli_env, posted_email, posts, run_cli

# (header as the user wrote it, which result column it is)
SPELLINGS = [
    ("Gift Request ID", "Gift request ID"),
    ("gift_request_id", "Gift request ID"),
    ("GiftRequestID", "Gift request ID"),
    ("Gift request id ", "Gift request ID"),
    ("GIFT-REQUEST-ID", "Gift request ID"),
    ("redemption_url", "Redemption URL"),
    ("Send Error", "Send error"),
    ("gift status", "Gift status"),
    ("ELIGIBILITY", "Eligibility"),
    ("skip_reason", "Skip reason"),
    ("Sent At", "Sent at"),
    ("sent_at", "Sent at"),
]
NOT_RESULT = ["Gift request", "Request ID", "Sent", "Status", "Error", "Gift", "Sent at time", "URL"]


@pytest.mark.parametrize("header,canonical", SPELLINGS)
def test_a_result_column_is_found_under_any_spelling_and_nothing_else_is(header, canonical):
    assert result_columns(["Email", *NOT_RESULT, header, "Notes"]) == {canonical: header}


def test_our_exact_spelling_wins_then_the_first_loose_one():
    assert result_positions(["gift_request_id", "Gift request ID", "GiftRequestID"]) == {"Gift request ID": 1}
    assert result_positions(["gift_request_id", "GiftRequestID"]) == {"Gift request ID": 0}
    assert result_positions([" Gift request ID "]) == {"Gift request ID": 0}


def test_a_gift_id_in_any_matching_column_counts():
    """A list an older version wrote twice has both spellings: an id in either blocks a resend."""
    frame = pd.DataFrame({"Gift Request ID": ["gr_1", "", ""], "Gift request ID": ["", "gr_2", ""]})
    assert result_values(frame, "Gift request ID").tolist() == ["gr_1", "gr_2", ""]


def test_results_go_into_the_users_column_and_no_column_is_added():
    frame = prepare(
        pd.DataFrame({"Email": ["a@x.com"], "gift_request_id": [""], "Sent At": [""]}, dtype="str"),
        list_key="k",
        name="x",
    ).frame
    assert [c for c in frame.columns if normalise_header(c) == "giftrequestid"] == ["gift_request_id"]
    out = apply_results(frame, [RowResult("0", "a@x.com", {"Gift request ID": "gr_9", "Sent at": "today"})])
    assert out.loc["0", "gift_request_id"] == "gr_9" and out.loc["0", "Sent At"] == "today"
    assert list(out.columns) == list(frame.columns)


def test_the_lookback_reads_gift_id_date_and_status_in_the_users_spelling(store):
    sent = utcnow() - timedelta(days=10)
    frame = pd.DataFrame(
        {
            "Email": ["ana@example.com"],
            "GiftRequestID": ["gr_other_tool"],
            "sent_at": [iso(sent)],
            "gift status": ["Delivered"],
        },
        dtype="str",
    )
    known = elig.known_gifts(store, list_key="list:a", list_frame=frame, email_col="Email")
    [gift] = known.to_dict("records")
    assert (gift["email"], gift["gift_request_id"], gift["status"]) == ("ana@example.com", "gr_other_tool", "delivered")
    assert abs(gift["gifted_at"] - pd.Timestamp(sent)) < pd.Timedelta(seconds=1)
    verdict = elig.check(pd.Series(["ana@example.com"]), known, elig.parse_window("30d"), now=utcnow())
    assert verdict["Eligibility"].tolist() == ["skip"]
    assert "(Delivered), 10 days ago" in verdict["Skip reason"][0]


# -- a CSV through the CLI --------------------------------------------------------------------------
def _csv(header_for_id: str, sent_at: str, error: str) -> bytes:
    return (
        f"First Name,Last Name,Email,Approved,{header_for_id},{sent_at},{error},Notes\n"
        "Ana,Lopez,ana@example.com,yes,gr_from_another_tool,2026-01-05,,sent by hand\n"
        "Bo,Ng,bo@example.com,yes,,,,new\n"
        "Cy,Oh,cy@example.com,yes,,,,new\n"
    ).encode()


@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
@pytest.mark.parametrize("header", ["Gift Request ID", "gift_request_id", "GiftRequestID", "Gift request id "])
def test_a_csv_with_its_own_spelling_is_sent_once_and_keeps_its_headers(make_sandbox, tmp_path, header):
    sb = make_sandbox()
    path = tmp_path / "list.csv"
    path.write_bytes(_csv(header, "sent_at", "Send Error"))
    env = cli_env(tmp_path / "data", sb)
    args = ("send", "list.csv", "--campaign", sb.campaign_ids[0], "--rate", "50")

    first = run_cli(tmp_path, env, *args, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "2 to send" in first.stdout and "1 already sent" in first.stdout, first.stdout
    assert sorted(posted_email(r) for r in posts(sb)) == ["bo@example.com", "cy@example.com"]

    doc = csvio.read_csv_file(path)
    header_line = path.read_bytes().split(b"\n", 1)[0].decode()
    assert header_line.startswith(f"First Name,Last Name,Email,Approved,{header},sent_at,Send Error,Notes,")
    loose = [c for c in doc.frame.columns if normalise_header(c) in {normalise_header(r) for r in RESULT_COLUMNS}]
    assert len(loose) == len(RESULT_COLUMNS), f"a result column appears twice: {loose}"
    frame = doc.frame.set_index("Email")
    gifts = {e: g[0]["id"] for e, g in sb.gifts_by_email().items()}
    assert frame.loc["bo@example.com", header.strip()] == gifts["bo@example.com"]
    assert frame.loc["cy@example.com", "sent_at"].endswith("UTC")
    assert frame.loc["ana@example.com", header.strip()] == "gr_from_another_tool"
    assert frame.loc["ana@example.com", "sent_at"] == "2026-01-05"

    second = run_cli(tmp_path, cli_env(tmp_path / "fresh-store", sb), *args, "--lookback", "off", timeout=120)
    assert second.returncode == 0, second.stderr
    assert "0 to send" in second.stdout and "3 already sent" in second.stdout, second.stdout
    assert len(posts(sb)) == 2, "a row was gifted twice through a header spelling"

    status = run_cli(tmp_path, env, "status", "list.csv", timeout=120)  # the status write-back, same column
    assert status.returncode == 0, status.stderr
    after = csvio.read_csv_file(path).frame.set_index("Email")
    assert list(after.columns) == list(frame.columns)
    assert after.loc["bo@example.com", "Gift status"] == "Submitted"


@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
def test_a_list_written_twice_by_an_older_version_sends_nobody_again(make_sandbox, tmp_path):
    """Both `Gift Request ID` (the user's) and `Gift request ID` (ours): an id in either counts,
    results go into ours."""
    sb = make_sandbox()
    path = tmp_path / "list.csv"
    path.write_bytes(
        b"First Name,Last Name,Email,Approved,Gift Request ID,Gift request ID\n"
        b"Ana,Lopez,ana@example.com,yes,gr_old,\n"
        b"Bo,Ng,bo@example.com,yes,,gr_newer\n"
        b"Cy,Oh,cy@example.com,yes,,\n"
    )
    proc = run_cli(
        tmp_path,
        cli_env(tmp_path / "data", sb),
        "send",
        "list.csv",
        "--campaign",
        sb.campaign_ids[0],
        "--lookback",
        "off",
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert [posted_email(r) for r in posts(sb)] == ["cy@example.com"]
    frame = csvio.read_csv_file(path).frame.set_index("Email")
    assert frame.loc["cy@example.com", "Gift request ID"] and not frame.loc["cy@example.com", "Gift Request ID"]


def test_the_apps_download_writes_into_the_users_columns():
    """The bytes behind "Download CSV with results" (views/review_send.py calls csv_bytes)."""
    raw = b"Email,First Name,Last Name,Approved,gift_request_id,Notes\r\nana@example.com,Ana,Lopez,TRUE,,+1 555\r\n"
    doc = csvio.read_csv(raw)
    loaded = prepare(doc.frame, list_key="k", name="x.csv", document=doc)
    frame = apply_results(loaded.frame, [RowResult("0", "", {"Gift request ID": "gr_1", "Eligibility": "eligible"})])
    out = csv_bytes(loaded, frame, ["Approved", *results_in(frame)])
    assert out == (
        b"Email,First Name,Last Name,Approved,gift_request_id,Notes,Redemption URL,Send error,Gift status,"
        b"Eligibility,Skip reason,Sent at\r\nana@example.com,Ana,Lopez,TRUE,gr_1,+1 555,,,,eligible,,\r\n"
    )


# -- a Google Sheet ---------------------------------------------------------------------------------
KEY = "1ResultColsRA5nFMdKvBdBZjgmUUqptlbs74OgvE2up"
TAB = "People"


def _sheet_env(tmp_path: Path, sb, fake) -> dict[str, str]:
    return cli_env(
        tmp_path / "data",
        sb,
        SHEETS_EMULATOR_HOST=fake.host,
        GOOGLE_SERVICE_ACCOUNT_JSON=json.dumps({"type": "service_account", "client_email": "bot@x.iam"}),
    )


@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
def test_a_sheet_with_its_own_spellings_is_sent_once_into_its_own_columns(make_sandbox, fake, tmp_path):
    sb = make_sandbox()
    header = ["First Name", "Last Name", "Email", "Approved", "gift_request_id", "Sent At", "send error", "Notes"]
    fake.create_spreadsheet(
        KEY,
        {
            TAB: [
                header,
                ["Ana", "Lopez", "ana@example.com", "yes", "gr_from_another_tool", "", "", ""],
                ["Bo", "Ng", "bo@example.com", "yes", "", "", "old note", ""],
                ["Cy", "Oh", "cy@example", "yes", "", "", "", ""],
            ]
        },
    )
    url = f"https://docs.google.com/spreadsheets/d/{KEY}/edit#gid=0"
    env = _sheet_env(tmp_path, sb, fake)
    args = ("send", url, "--campaign", sb.campaign_ids[0], "--rate", "50")

    first = run_cli(tmp_path, env, *args, timeout=120)
    assert first.returncode == 0, first.stderr
    assert [posted_email(r) for r in posts(sb)] == ["bo@example.com"]
    rows = fake.rows(KEY, TAB)
    missing = [c for c in RESULT_COLUMNS if c not in ("Gift request ID", "Sent at", "Send error")]
    # Bo's "old note" is not Giftrun's: that column stays the sheet's own (issue 20, item 2)
    own = ["Send error (Giftrun)"]
    assert rows[0] == header + missing + own, "the sheet got a second column for one it already had"
    by_email = {r[2]: dict(zip(rows[0], r + [""] * (len(rows[0]) - len(r)))) for r in rows[1:]}
    gift = sb.gifts_by_email()["bo@example.com"][0]
    assert by_email["bo@example.com"]["gift_request_id"] == gift["id"]
    assert (
        by_email["bo@example.com"]["Sent At"].endswith("UTC") and by_email["bo@example.com"]["send error"] == "old note"
    )
    assert by_email["bo@example.com"]["Send error (Giftrun)"] == ""
    assert "cy@example" in by_email["cy@example"]["Send error (Giftrun)"] and by_email["cy@example"]["send error"] == ""
    assert by_email["ana@example.com"]["gift_request_id"] == "gr_from_another_tool"

    before = fake.rows(KEY, TAB)
    second = run_cli(tmp_path, _sheet_env(tmp_path / "again", sb, fake), *args, "--lookback", "off", timeout=120)
    assert second.returncode == 0, second.stderr
    assert "0 to send" in second.stdout and "2 already sent" in second.stdout, second.stdout
    assert len(posts(sb)) == 1
    support.assert_nobody_gifted_twice(sb)
    assert fake.rows(KEY, TAB)[0] == before[0]
