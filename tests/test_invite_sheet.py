"""Invitations for a Google Sheet, through real gspread and the fake Sheets API (tests/fake_sheets.py),
the sandbox and a real SMTP server on 127.0.0.1, the CLI called in process: `Invitation sent at` and
`Invitation error` are added to the sheet and written on each person's row by identity, even when
the rows are re-sorted and a row is inserted while the emails go; the user's cells come back as they
were; a second run emails nobody; a row that shows `Invitation sent at` is never emailed, even by a
store that never saw it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lib.mail_catcher import CatchingHandler, MailCatcher
from lib.writeback import GIFT_REQUEST_ID, INVITATION_ERROR, INVITATION_SENT_AT, REDEMPTION_URL
from tests import backends
from tests.invite_support import TEMPLATE
from tests.support import cli_in_process, sheets_cli_env

pytestmark = pytest.mark.usefixtures("store_backend")

KEY = "1InviteVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2up"
TAB = "People"
URL = f"https://docs.google.com/spreadsheets/d/{KEY}/edit#gid=0"
HEADER = ["First Name", "Last Name", "Email", "Company", "Approved", "Notes"]
PEOPLE = [
    ["Ana", "Lima", "ana@example.com", "Acme", "yes", "00123"],
    ["Bo", "Li", "bo@example.com", "Acme, Inc.", "yes", "1e5"],
    ["Cy", "Wu", "cy@example.com", "Initech", "yes", " two  spaces "],
    ["Di", "Ox", "di@example.com", "Acme", "no", "TRUE"],
    ["Ed", "Fa", "ed@example.com", "Hooli", "yes", "3/4"],
]
APPROVED = ["ana@example.com", "bo@example.com", "cy@example.com", "ed@example.com"]


class Hooked(CatchingHandler):
    """Keeps each message, then calls `after(n)` with how many it has: a person editing the sheet
    while the emails go."""

    def __init__(self) -> None:
        super().__init__()
        self.after: Callable[[int], None] = lambda n: None

    def keep(self, envelope: Any) -> None:
        super().keep(envelope)
        self.after(len(self.snapshot()))


@pytest.fixture
def sheet(tmp_path, sandbox, fake):
    fake.create_spreadsheet(KEY, {TAB: [HEADER, *PEOPLE]})
    (tmp_path / "invite.txt").write_text(TEMPLATE.replace("{message}\n\n", ""), encoding="utf-8")
    handler = Hooked()
    catcher = MailCatcher(handler).start()
    env = {
        **sheets_cli_env(tmp_path / "data", sandbox, fake),
        "ANDOPEN_CAMPAIGN_ID": sandbox.campaign_ids[0],
        "GIFTRUN_SMTP_URL": catcher.url,
        "GIFTRUN_INVITE_FROM": "Ana Rep <rep@team.example>",
        "GIFTRUN_EMAIL_RATE": "3000",
    }

    def cli(*args: str, data: str = "data"):
        return cli_in_process(tmp_path, {**env, **backends.env(tmp_path / data)}, *args)

    cli.fake, cli.catcher, cli.handler = fake, catcher, handler
    yield cli
    catcher.stop()


def rows_by_email(fake) -> dict[str, dict[str, str]]:
    return {r["Email"]: r for r in fake.table(KEY, TAB) if r.get("Email")}


def user_cells(fake) -> dict[str, list[str]]:
    return {e: [r[h] for h in HEADER] for e, r in rows_by_email(fake).items()}


def received(catcher) -> list[str]:
    return sorted(m.rcpt_tos[0] for m in catcher.messages())


def test_results_land_on_each_persons_row_while_the_sheet_is_re_sorted_and_the_users_cells_stay(sheet):
    assert sheet("send", URL).returncode == 0
    before = user_cells(sheet.fake)

    def edit(n: int) -> None:  # after the second email: sort Z→A by email, insert a new person on top
        if n == 2:
            sheet.fake.mutate(
                lambda f: (
                    f.sort_rows(KEY, TAB, "Email", reverse=True),
                    f.insert_rows(KEY, TAB, 2, [["Fay", "Go", "fay@example.com", "Globex", "", "new"]]),
                )
            )

    sheet.handler.after = edit
    proc = sheet("invite", URL, "--template", "invite.txt")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Emailed 4 · refused 0 · unknown 0" in proc.stdout and received(sheet.catcher) == APPROVED

    header = sheet.fake.rows(KEY, TAB)[0]
    assert header[: len(HEADER)] == HEADER and header[-2:] == [INVITATION_SENT_AT, INVITATION_ERROR]
    rows = rows_by_email(sheet.fake)
    sent_to = {m.rcpt_tos[0]: m.part("plain") for m in sheet.catcher.messages()}
    for email in APPROVED:
        row = rows[email]
        assert row[INVITATION_SENT_AT].endswith(" UTC") and row[INVITATION_ERROR] == "", row
        assert row[REDEMPTION_URL] and row[REDEMPTION_URL] in sent_to[email]  # this row's link, to this person
    for email in ("di@example.com", "fay@example.com"):
        assert rows[email][INVITATION_SENT_AT] == "" and rows[email][INVITATION_ERROR] == ""
    after = user_cells(sheet.fake)
    assert after.pop("fay@example.com") == ["Fay", "Go", "fay@example.com", "Globex", "", "new"]
    assert after == before  # the user's cells, as they were

    again = sheet("invite", URL, "--template", "invite.txt")
    assert again.returncode == 0 and "Emailed 0" in again.stdout and len(sheet.catcher.messages()) == 4


def test_a_row_showing_invitation_sent_at_is_never_emailed_even_by_a_wiped_store(sheet):
    assert sheet("send", URL).returncode == 0
    assert sheet("invite", URL, "--template", "invite.txt").returncode == 0
    assert received(sheet.catcher) == APPROVED
    fresh = sheet("invite", URL, "--template", "invite.txt", data="wiped")  # a new disk or database
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "0 to email" in fresh.stdout and len(sheet.catcher.messages()) == 4


def test_an_invitation_error_is_written_on_its_row_of_the_sheet(sheet):
    assert sheet("send", URL).returncode == 0
    gift = rows_by_email(sheet.fake)["bo@example.com"][GIFT_REQUEST_ID]
    row = 1 + [r["Email"] for r in sheet.fake.table(KEY, TAB)].index("bo@example.com") + 1
    sheet.fake.set_cell(KEY, TAB, row, HEADER.index("Company") + 1, "")  # {Company} now has no value here
    proc = sheet("invite", URL, "--template", "invite.txt")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = rows_by_email(sheet.fake)
    assert "Company" in rows["bo@example.com"][INVITATION_ERROR] and rows["bo@example.com"][INVITATION_SENT_AT] == ""
    assert rows["bo@example.com"][GIFT_REQUEST_ID] == gift and "bo@example.com" not in received(sheet.catcher)
