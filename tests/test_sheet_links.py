"""What counts as a Google Sheet: one rule (`sheets.looks_like_sheet`) for the CLI's SOURCE, the
app's link box and the parser. The CLI used to want 30+ characters for a bare key and the app
25+, so a 25–29 character key opened in the app and was 'File not found' to the CLI."""

from __future__ import annotations

import json

import pytest

from lib import cli, sheets
from lib.sandbox import Sandbox
from lib.writeback import GIFT_REQUEST_ID
from tests import support
from tests.apptest_support import click, new_session, run
from tests.support import run_cli

LONG_KEY = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"  # 44: a key as Google makes them today
SHORT_KEYS = ["a" * 25, "0AqShortKeyFromOldSheets1-_x", "k" * 29]  # 25 to 29 characters
HEADER = ["First Name", "Last Name", "Email", "Approved"]
PEOPLE = [["Ana", "Lopez", "ana@example.com", "yes"], ["Bo", "Kimura", "bo@example.com", "yes"]]
SA_EMAIL = "giftrun-bot@acme-project.iam.gserviceaccount.com"

SHEETS = [
    *SHORT_KEYS,
    LONG_KEY,
    f"  {LONG_KEY}  ",
    f"https://docs.google.com/spreadsheets/d/{LONG_KEY}/edit#gid=7",
    f"docs.google.com/spreadsheets/d/{LONG_KEY}",
    f"HTTPS://DOCS.GOOGLE.COM/spreadsheets/d/{LONG_KEY}/edit",
    f"https://docs.google.com/a/acme.com/spreadsheets/d/{LONG_KEY}/edit",
    f"https://docs.google.com/spreadsheet/ccc?key={LONG_KEY}#gid=0",
]
# Meant as a sheet, but not one that can be opened: the parser says what is wrong with the link.
UNUSABLE_LINKS = [
    "https://docs.google.com/spreadsheets/d/e/2PACX-1vabc/pubhtml",
    "https://docs.google.com/spreadsheets/",
]
NOT_SHEETS = [
    "",
    "   ",
    "a" * 24,
    "people.csv",
    "./lists/people.csv",
    "lists/a_list_of_people_for_march",
    "C:\\lists\\people.csv",
    "reports/spreadsheets/d/abcdefghijklmnopqrstuvwxyz/list.csv",
    "https://example.com/sheet",
    "https://docs.google.com/document/d/abc/edit",
    f"{'a' * 30}.csv",
    "a key with spaces in it, long enough",
]


@pytest.mark.parametrize("text", SHEETS)
def test_a_sheet_link_or_key_is_a_sheet_and_parses(text):
    assert sheets.looks_like_sheet(text)
    assert sheets.parse_sheet_ref(text).key in (LONG_KEY, text.strip())


@pytest.mark.parametrize("text", UNUSABLE_LINKS)
def test_a_link_meant_as_a_sheet_gets_the_reason_it_cannot_be_opened(text):
    assert sheets.looks_like_sheet(text)
    with pytest.raises(sheets.SheetsError) as caught:
        sheets.parse_sheet_ref(text)
    assert "Publish to web" in str(caught.value) or "doesn't look like a Google Sheet link" in str(caught.value)


@pytest.mark.parametrize("text", NOT_SHEETS)
def test_anything_else_is_not_a_sheet_to_anyone(text):
    assert not sheets.looks_like_sheet(text)
    with pytest.raises(sheets.SheetsError, match="doesn't look like a Google Sheet link"):
        sheets.parse_sheet_ref(text)


@pytest.mark.parametrize("key", SHORT_KEYS + [LONG_KEY])
def test_the_cli_takes_a_bare_key_of_25_characters_or_more_as_a_sheet(key, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli._source_kind(key) == "sheet"


@pytest.mark.parametrize("key", [SHORT_KEYS[1], LONG_KEY])
def test_a_file_by_that_name_in_the_folder_wins_over_the_key(key, tmp_path, monkeypatch):
    """A user who types the name of a file in their folder means that file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / key).write_text("First Name,Last Name,Email\n", encoding="utf-8")
    assert cli._source_kind(key) == "csv"
    assert cli._source_kind(str(tmp_path / key)) == "csv"


@pytest.mark.parametrize("text", [t for t in NOT_SHEETS if t.strip() and "://" not in t and "\\" not in t])
def test_a_name_that_is_not_a_sheet_is_a_missing_file_to_the_cli(text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(cli.CliError, match="File not found"):
        cli._source_kind(text)


@pytest.mark.usefixtures("store_backend")
def test_the_cli_sends_to_a_sheet_given_by_a_27_character_key(fake, tmp_path):
    key = SHORT_KEYS[1]
    fake.create_spreadsheet(key, {"People": [HEADER, *PEOPLE]})
    with Sandbox() as sb:
        env = support.cli_env(
            tmp_path / "data",
            sb,
            SHEETS_EMULATOR_HOST=fake.host,
            GOOGLE_SERVICE_ACCOUNT_JSON=json.dumps({"type": "service_account", "client_email": SA_EMAIL}),
        )
        proc = run_cli(tmp_path, env, "send", key, "--campaign", sb.campaign_ids[0], "--rate", "50", timeout=180)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        gifts = sb.gifts_by_email()
    rows = fake.table(key, "People")
    assert {r["Email"]: r[GIFT_REQUEST_ID] for r in rows} == {e: g[0]["id"] for e, g in gifts.items()}
    assert set(gifts) == {"ana@example.com", "bo@example.com"}


def test_the_app_opens_a_sheet_by_a_27_character_key(fake, data_dir, monkeypatch):
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", fake.host)
    key = SHORT_KEYS[1]
    fake.create_spreadsheet(key, {"People": [HEADER, *PEOPLE]})
    at = run(new_session(data_dir))
    at.text_input(key="sheet_link").set_value(key)
    run(at)
    assert not at.warning and not at.button(key="open_sheet").disabled
    click(at, "open_sheet")
    assert not at.exception
    assert any("2 people" in s.value for s in at.success), [s.value for s in at.success]


@pytest.mark.parametrize("text", ["people.csv", "a" * 24, "https://docs.google.com/document/d/abc/edit"])
def test_the_app_says_at_once_that_a_link_is_not_a_sheet(fake, data_dir, monkeypatch, text):
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", fake.host)
    at = run(new_session(data_dir))
    at.text_input(key="sheet_link").set_value(text)
    run(at)
    assert [w.value for w in at.warning if "look like a Google Sheet link" in w.value]
    assert at.button(key="open_sheet").disabled


@pytest.mark.usefixtures("store_backend")
def test_a_bare_key_that_is_neither_a_file_nor_a_sheet_says_both(fake, tmp_path):
    """Typed as a file name that does not exist, it looks like a key: the user hears that no
    sheet has that key and no file has that name."""
    with Sandbox() as sb:
        env = support.cli_env(
            tmp_path / "data",
            sb,
            SHEETS_EMULATOR_HOST=fake.host,
            GOOGLE_SERVICE_ACCOUNT_JSON=json.dumps({"type": "service_account", "client_email": SA_EMAIL}),
        )
        proc = run_cli(tmp_path, env, "send", SHORT_KEYS[0], "--campaign", sb.campaign_ids[0], timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"There is no file called '{SHORT_KEYS[0]}' here either." in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not sb.gifts_by_email()
