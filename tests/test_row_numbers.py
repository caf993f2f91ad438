"""A row number means one person everywhere (issue 22, item 3): Review & send's grid and its
messages, the CLI's dry run, send and invite listings, the notes written back onto rows and the
invitation preview all name a row by the number the user's spreadsheet shows beside it — the
header is row 1; in a CSV every record is a row (title lines and blank lines count, a cell over
several lines is one row, as Excel, LibreOffice and Google Sheets open it); blank rows count in a
Google Sheet. Before, the CLI and the invitations counted people from 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lib import csvio
from tests.apptest_support import click, go, new_session, run
from tests.support import cli_env, cli_in_process, sheets_cli_env
from ui import invite_ui

pytestmark = pytest.mark.usefixtures("store_backend")

HEADER = ["First Name", "Last Name", "Email", "Approved", "Notes"]
ANA = ["Ana", "Lopez", "ana@example.com", "yes", "first person"]  # sent
BO = ["Bo", "Ng", "not-an-email", "yes", "a note"]  # invalid
BO_LONG = [*BO[:4], "a note\nover two lines"]  # Bo, with a note that runs over two lines
CY = ["Cy", "Diaz", "ana@example.com", "yes", ""]  # duplicate of Ana
DI = ["Di", "Wu", "di@example.com", "maybe", ""]  # neither yes nor no: not sent, and said so
EMAILS = {"ana": ANA[2], "bo": BO[2], "cy": CY[2], "di": DI[2]}
KEY = "1RowNumbersSheetAbCdEfGhIjKlMnOpQrStUvW"
LINK = f"https://docs.google.com/spreadsheets/d/{KEY}/edit#gid=0"
TEMPLATE = "Subject: A gift for you, {first_name}\n\nHi {first_name}: {redemption_url}\n"


def _csv(*lines: str) -> bytes:
    return "".join(line + "\r\n" for line in lines).encode()


def _line(row: list[str]) -> str:
    return ",".join(f'"{v}"' if "\n" in v or "," in v else v for v in row)


@dataclass(frozen=True)
class Case:
    id: str
    rows: dict[str, int]  # each person's row number as the spreadsheet shows it
    csv: bytes = b""  # the list as a file, or
    sheet: tuple[list[str], ...] = ()  # the list as a Google Sheet tab


CASES = [
    Case("plain-csv", {"ana": 2, "bo": 3, "cy": 4, "di": 5}, csv=_csv(*map(_line, (HEADER, ANA, BO, CY, DI)))),
    Case(  # title row 1, blank row 2, header row 3; Bo's note takes lines 6-7 of the file but one row
        "csv-with-blank-lines-and-a-multi-line-cell",
        {"ana": 4, "bo": 6, "cy": 7, "di": 9},
        csv=_csv("Guest list", "", _line(HEADER), _line(ANA), "", _line(BO_LONG), _line(CY), "", _line(DI)),
    ),
    Case(  # blank rows between people count in the sheet's numbering
        "google-sheet-with-blank-rows",
        {"ana": 2, "bo": 4, "cy": 5, "di": 8},
        sheet=(HEADER, ANA, [""] * 5, BO, CY, [""] * 5, [""] * 5, DI),
    ),
]


def _source(case: Case, tmp_path, fake) -> str:
    if case.sheet:
        fake.create_spreadsheet(KEY, {"People": [list(r) for r in case.sheet]})
        return LINK
    (tmp_path / "list.csv").write_bytes(case.csv)
    return "list.csv"


def _send_error_of(case: Case, tmp_path, fake, email: str) -> list[str]:
    """The Send error written back onto each row with `email`, in the list's order."""
    if case.sheet:
        return [r["Send error"] for r in fake.table(KEY, "People") if r["Email"] == email]
    frame = csvio.read_csv((tmp_path / "list.csv").read_bytes()).frame
    return frame.loc[frame["Email"] == email, "Send error"].tolist()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_cli_names_each_person_by_the_row_the_spreadsheet_shows(case, tmp_path, make_sandbox, mail, fake):
    sb, server = make_sandbox(), mail()
    n = case.rows
    source = _source(case, tmp_path, fake)
    env = sheets_cli_env(tmp_path / "data", sb, fake) if case.sheet else cli_env(tmp_path / "data", sb)
    env |= {
        "ANDOPEN_CAMPAIGN_ID": sb.campaign_ids[0],
        "GIFTRUN_SMTP_URL": server.url,
        "GIFTRUN_INVITE_FROM": "Rep <rep@team.example>",
    }
    dry = cli_in_process(tmp_path, env, "send", source, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    listed = [line.strip() for line in dry.stdout.splitlines() if line.startswith("  row ")]
    assert listed == [
        f"row {n['ana']} ana@example.com: would be sent",
        f"row {n['bo']} not-an-email: invalid — Email 'not-an-email' is not a valid address",
        f"row {n['cy']} ana@example.com: duplicate — Same email as row {n['ana']}, which is sent instead",
        f"row {n['di']} di@example.com: not approved",
        f"row {n['di']}: Approved is 'maybe', which is not a recognised yes "
        "(true, yes, y, 1, x, ✓, ✔, checked or on): not sent.",
    ], dry.stdout

    sent = cli_in_process(tmp_path, env, "send", source)
    assert sent.returncode == 0 and "Sent 1 ·" in sent.stdout, sent.stdout + sent.stderr
    assert f"  row {n['cy']} ana@example.com: duplicate — Same email as row {n['ana']}," in sent.stdout
    written = _send_error_of(case, tmp_path, fake, "ana@example.com")  # the note on Cy's row names Ana's row
    assert written == ["", f"Same email as row {n['ana']}, which is sent instead"], written

    (tmp_path / "invite.txt").write_text(TEMPLATE, encoding="utf-8")
    invite = cli_in_process(tmp_path, env, "invite", source, "--template", "invite.txt", "--dry-run")
    assert invite.returncode == 0, invite.stdout + invite.stderr
    listed = [line.strip() for line in invite.stdout.splitlines() if line.startswith("  row ")]
    assert [line.split(":")[0] for line in listed] == [f"row {n[p]} {EMAILS[p]}" for p in ("ana", "bo", "cy", "di")]
    assert f"The first email, to row {n['ana']}, exactly as it would be sent" in invite.stdout, invite.stdout
    test = cli_in_process(tmp_path, env, "invite", source, "--template", "invite.txt", "--test-to", "me@team.example")
    assert test.returncode == 0 and f"(rendered for row {n['ana']})" in test.stdout, test.stdout + test.stderr


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_review_and_send_names_the_same_rows_in_its_grid_and_invitation_preview(case, data_dir, fake, monkeypatch):
    n = case.rows
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", fake.host)  # read when the app's services start
    at = run(new_session(data_dir))
    if case.sheet:
        _source(case, data_dir, fake)
        at.text_input(key="sheet_link").set_value(LINK)
        run(at)
        click(at, "open_sheet")
    else:
        at.file_uploader(key="giftrun_upload").set_value(("list.csv", case.csv, "text/csv"))
        run(at)
        click(at, "use_upload")
    go(at, "review_send")

    grid = at.data_editor[0].value
    assert list(grid["Row"]) == [str(n[p]) for p in ("ana", "bo", "cy", "di")], grid
    cy = grid[grid["Row"] == str(n["cy"])].iloc[0]
    assert cy["Problem"].startswith(f"Same email as row {n['ana']}, which is sent instead"), cy["Problem"]

    preview = at.selectbox(key="invite-preview-row")  # the demo's outbox: the invitation step is shown
    assert list(preview.options) == [f"{n[p]}: {EMAILS[p]}" for p in ("ana", "bo", "cy", "di")]


@pytest.mark.slow
def test_a_long_lists_invitation_preview_is_picked_by_typing_the_row_number(data_dir, monkeypatch):
    """Past PICK_LIST_MAX people the preview's row is typed, not picked from a dropdown of
    them all; a number that is nobody's row (a blank or title row) says so."""
    monkeypatch.setattr(invite_ui, "PICK_LIST_MAX", 3)  # these 4 people take the long list's way
    case = CASES[1]  # rows 4, 6, 7, 9: blank rows between
    n = case.rows
    at = run(new_session(data_dir))
    at.file_uploader(key="giftrun_upload").set_value(("list.csv", case.csv, "text/csv"))
    run(at)
    click(at, "use_upload")
    go(at, "review_send")

    assert not [s for s in at.selectbox if s.key == "invite-preview-row"]
    box = at.number_input(key="invite-preview-row-number")
    assert (box.value, box.min, box.max) == (n["ana"], n["ana"], n["di"])
    assert box.label == f"Preview the email for row ({n['ana']} to {n['di']})"

    def previewed() -> list[str]:
        return [t.value for t in at.text if "Subject:" in t.value]

    assert f"Row {n['ana']}: `ana@example.com`" in [c.value for c in at.caption]
    [email] = previewed()
    assert "To: Ana Lopez <ana@example.com>" in email and "Hi Ana" in email, email

    box.set_value(n["di"])
    run(at)
    [email] = previewed()
    assert "di@example.com" in email and "Hi Di" in email, email

    at.number_input(key="invite-preview-row-number").set_value(5)  # the blank row between Ana and Bo
    run(at)
    assert previewed() == []
    assert "Row 5 holds nobody in this list (a blank or heading row): type another." in [c.value for c in at.caption]
