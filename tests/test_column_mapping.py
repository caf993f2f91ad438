"""A column mapping is applied as given or refused with the list's columns: never ignored.

A mistyped `--map 'email=Work Emial'` used to be dropped and the run sent to the other
email column; a mapping saved with a list in the app that names a column the list (a sheet)
no longer has fell back to whatever column matched loosely. Every such mapping — from the
CLI, the Build list pickers, a reopened list, the sheet at Send time — is now an error that
lists the columns, or (reopening) leaves the field unmatched with a note, for the user to
pick; two fields given one column and a field given twice are refused too.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from lib import sheets
from lib.recipients import ColumnMap, ColumnMappingError, match_columns, without_stale
from lib.sandbox import Sandbox
from lib.settings import Settings
from lib.sheet_source import SheetColumnsError, load_sheet
from tests.apptest_support import click, go, new_session, run, texts
from tests.support import cli_env, posts, run_cli, sheets_cli_env

COLUMNS = ["First Name", "Last Name", "Email", "Work Email", "Approved"]


# -- match_columns -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "overrides, stale",
    [
        ({"email": "Work Emial"}, {"email": "Work Emial"}),  # a typo
        ({"email": "Personal email"}, {"email": "Personal email"}),  # another list's column
        ({"First name": "Given", "approved": "OK?"}, {"first_name": "Given", "approved": "OK?"}),
        ({"last_name": "Last  Name"}, {"last_name": "Last  Name"}),  # inner spacing differs: not the same
    ],
)
def test_a_mapping_to_a_missing_column_is_refused_with_the_columns(overrides, stale):
    with pytest.raises(ColumnMappingError) as caught:
        match_columns(COLUMNS, overrides)
    message = str(caught.value)
    assert all(f"'{c}'" in message for c in stale.values()), message
    assert "'First Name', 'Last Name', 'Email', 'Work Email', 'Approved'" in message
    assert caught.value.stale == stale and caught.value.columns == tuple(COLUMNS)


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"email": "work email"}, ("First Name", "Last Name", "Work Email", "Approved")),  # case
        ({"email": " Work Email "}, ("First Name", "Last Name", "Work Email", "Approved")),  # spaces around
        ({"email": "WORK EMAIL", "approved": ""}, ("First Name", "Last Name", "Work Email", None)),
    ],
)
def test_a_mapping_that_differs_only_in_case_or_spaces_finds_its_column(overrides, expected):
    assert match_columns(COLUMNS, overrides) == ColumnMap(*expected)


@pytest.mark.parametrize(
    "overrides",
    [
        {"first_name": "Email", "last_name": "Email"},
        {"email": "Work Email", "approved": "work email"},
        {"first_name": "First Name", "last_name": "first name"},
    ],
)
def test_two_fields_mapped_to_one_column_are_refused(overrides):
    with pytest.raises(ColumnMappingError, match="are both mapped to the column"):
        match_columns(COLUMNS, overrides)


def test_column_names_in_the_message_show_control_characters_as_escapes():
    with pytest.raises(ColumnMappingError) as caught:
        match_columns(["Email\x1b[2J", "Name\u202e"], {"email": "Mail\x07"})
    message = str(caught.value)
    assert "\x1b" not in message and "\u202e" not in message and "\x07" not in message
    assert "'Email\\x1b[2J'" in message and "'Name\\u202e'" in message and "'Mail\\x07'" in message


def test_a_saved_mapping_loses_only_its_missing_columns_with_a_note():
    usable, note = without_stale(["First", "Last", "E-mail"], {"first_name": "First", "email": "Work Email"})
    assert usable == {"first_name": "First", "email": ""}
    assert "Email was 'Work Email'" in note and "'First', 'Last', 'E-mail'" in note
    assert match_columns(["First", "Last", "E-mail"], usable).email is None  # no silent fallback to E-mail
    assert without_stale(["First"], {"first_name": "first"}) == ({"first_name": "first"}, "")


# -- the CLI -------------------------------------------------------------------------------------
def _write(path: Path, rows: list[list[str]]) -> bytes:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    return path.read_bytes()


LIST = [
    COLUMNS,
    ["Ana", "Bauer", "ana@home.example", "ana@work.example", "yes"],
    ["Bo", "Kim", "bo@home.example", "bo@work.example", "yes"],
]


@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
@pytest.mark.parametrize(
    "maps, words",
    [
        (["email=Work Emial"], "Email is mapped to 'Work Emial', which is not a column of this list"),
        (["email=Work Email", "email=Email"], "--map gives email twice"),
        (["first_name=Email", "last_name=Email"], "First name and Last name are both mapped to the column 'Email'"),
        (["approved=Aproved"], "Approved is mapped to 'Aproved'"),
    ],
)
def test_a_bad_map_is_exit_2_with_one_line_and_nothing_sent_or_written(make_sandbox, tmp_path, maps, words):
    sb: Sandbox = make_sandbox()
    before = _write(tmp_path / "list.csv", LIST)
    args = [a for m in maps for a in ("--map", m)]
    proc = run_cli(
        tmp_path,
        cli_env(tmp_path / "data", sb),
        "send",
        "list.csv",
        "--campaign",
        sb.campaign_ids[0],
        *args,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert words in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    if "not a column" in words:
        assert "'First Name', 'Last Name', 'Email', 'Work Email', 'Approved'" in proc.stderr
    assert posts(sb) == [] and (tmp_path / "list.csv").read_bytes() == before


@pytest.mark.usefixtures("store_backend")
def test_a_map_in_another_case_sends_from_that_column(make_sandbox, tmp_path):
    sb: Sandbox = make_sandbox()
    _write(tmp_path / "list.csv", LIST)
    proc = run_cli(
        tmp_path,
        cli_env(tmp_path / "data", sb),
        "send",
        "list.csv",
        "--campaign",
        sb.campaign_ids[0],
        "--map",
        "email=work email",
        "--rate",
        "50",
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.json["recipient"]["email"] for p in posts(sb)) == ["ana@work.example", "bo@work.example"]


# -- a sheet -------------------------------------------------------------------------------------
KEY = "1MapTestSheetAbCdEfGhIjKlMnOpQrStUvWxYz"
LINK = f"https://docs.google.com/spreadsheets/d/{KEY}/edit#gid=0"


def test_load_sheet_refuses_a_mapping_to_a_column_the_tab_no_longer_has(fake, tmp_path):
    fake.create_spreadsheet(KEY, {"People": [list(r) for r in LIST]})
    client = sheets.make_client(None, emulator_host=fake.host, timeout=10)
    with pytest.raises(SheetColumnsError) as caught:
        load_sheet(LINK, Settings(data_dir=tmp_path), {"email": "Private Email"}, client=client)
    assert "In the tab 'People': Email is mapped to 'Private Email'" in str(caught.value)
    assert isinstance(caught.value, sheets.SheetsError) and caught.value.stale == {"email": "Private Email"}


@pytest.mark.usefixtures("store_backend")
def test_the_cli_refuses_a_bad_map_on_a_sheet(fake, make_sandbox, tmp_path):
    sb: Sandbox = make_sandbox()
    fake.create_spreadsheet(KEY, {"People": [list(r) for r in LIST]})
    env = sheets_cli_env(tmp_path / "data", sb, fake)
    proc = run_cli(
        tmp_path, env, "send", LINK, "--campaign", sb.campaign_ids[0], "--map", "email=Work Emial", timeout=120
    )
    assert proc.returncode == 2 and "--map: In the tab 'People': Email is mapped to 'Work Emial'" in proc.stderr
    assert posts(sb) == [] and fake.rows(KEY, "People") == LIST


# -- the app -------------------------------------------------------------------------------------
def _open_sheet_and_pick_work_email(at):
    at.text_input(key="sheet_link").set_value(LINK)
    run(at)
    click(at, "open_sheet")
    key = at.session_state["giftrun_list"].list_key
    at.selectbox(key=f"map_email_{key}").select("Work Email")
    return run(at), key


def _rename_work_email(fake) -> None:
    fake.set_cell(KEY, "People", 1, 4, "Office Email")


@pytest.mark.slow
def test_reopening_a_list_whose_chosen_column_is_gone_says_so_and_leaves_it_unmatched(fake, data_dir, monkeypatch):
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", fake.host)
    fake.create_spreadsheet(KEY, {"People": [list(r) for r in LIST]})
    first, key = _open_sheet_and_pick_work_email(run(new_session(data_dir)))
    assert first.session_state["giftrun_list"].cmap.email == "Work Email"
    _rename_work_email(fake)

    second = run(new_session(data_dir))  # another tab, later: Recent lists → Reopen
    second.selectbox(key="reopen_choice").select(key)
    click(second, "reopen")
    assert "no longer match its columns" in texts(second.warning)
    assert "Email was 'Work Email'" in texts(second.text) and "'Office Email'" in texts(second.text)
    pickers = {s.label: s.value for s in second.selectbox if s.key and s.key.startswith("map_")}
    assert pickers["Email"] == "(none)", "the app fell back to another email column"
    assert "Pick a column for: Email" in texts(second.warning)


@pytest.mark.slow
def test_sending_after_the_chosen_column_was_renamed_in_the_sheet_is_refused(fake, data_dir, monkeypatch):
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", fake.host)
    fake.create_spreadsheet(KEY, {"People": [list(r) for r in LIST]})
    at, _key = _open_sheet_and_pick_work_email(run(new_session(data_dir)))
    go(at, "review_send")
    _rename_work_email(fake)  # a colleague renames the column before Send
    click(at, "send")
    assert "Email is mapped to 'Work Email', which is not a column of this list" in texts(at.error)
    sandbox: Sandbox = __import__("lib.runtime", fromlist=["_services"])._services.demo.sandbox
    assert sandbox.gifts_by_email() == {}, "sent to another email column"


def test_picking_one_column_for_two_fields_is_refused_on_build_list(data_dir):
    at = run(new_session(data_dir))
    at.file_uploader(key="giftrun_upload").set_value(
        ("people.csv", b"First,Last,Email\nAda,Lovelace,a@x.com\n", "text/csv")
    )
    run(at)
    click(at, "use_upload")
    key = at.session_state["giftrun_list"].list_key
    at.selectbox(key=f"map_last_name_{key}").select("First")
    run(at)
    assert "Pick a different column for each field" in texts(at.error)
    assert "First name and Last name are both mapped to the column 'First'" in texts(at.text)
    assert at.session_state["giftrun_list"].cmap.last_name == "Last"  # the refused choice is not applied
