"""A list that brings its own `Invitation sent at` or `Invitation error` column, holding values
Giftrun did not write: `invite` (and `send --invite`) refuses before any email, in one line naming
the column and its rows, and the file stays byte for byte; values Giftrun wrote there never refuse."""

from __future__ import annotations

import pytest

from tests.invite_support import received

pytestmark = pytest.mark.usefixtures("store_backend")


def with_column(tmp_path, header: str, values: list[str]) -> bytes:
    lines = (tmp_path / "list.csv").read_bytes().decode().split("\r\n")
    rows = [lines[0] + "," + header] + [line + "," + v for line, v in zip(lines[1:], values)]
    data = "\r\n".join(rows + [""]).encode()
    (tmp_path / "list.csv").write_bytes(data)
    return data


@pytest.mark.parametrize(
    "header, values, words",
    [
        ("Invitation sent at", ["", "via Mailchimp", "", ""], "'Invitation sent at' (1 row: 3)"),
        ("Invitation sent at", ["2026-03-01", "", "2026-03-02 09:00", ""], "'Invitation sent at' (2 rows: 2, 4)"),
        ("invitation_error", ["bounced last year", "", "", ""], "'invitation_error' (1 row: 2)"),
    ],
)
def test_a_column_of_the_users_own_refuses_the_invitations_naming_it(tmp_path, invite_cli, header, values, words):
    assert invite_cli("send", "list.csv").returncode == 0
    before = with_column(tmp_path, header, values)
    proc = invite_cli("invite", "list.csv", "--template", "invite.txt")
    assert proc.returncode == 2 and words in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert "Nothing was emailed." in proc.stderr and not invite_cli.server.messages()
    assert (tmp_path / "list.csv").read_bytes() == before
    dry = invite_cli("invite", "list.csv", "--template", "invite.txt", "--dry-run")
    assert dry.returncode == 2 and words in dry.stderr


def test_send_with_invite_refuses_before_the_first_gift(tmp_path, invite_cli):
    with_column(tmp_path, "Invitation sent at", ["", "via Mailchimp", "", ""])
    proc = invite_cli("send", "list.csv", "--invite", "--template", "invite.txt")
    assert proc.returncode == 2 and "'Invitation sent at' (1 row: 3)" in proc.stderr, proc.stderr
    assert not invite_cli.sandbox.gifts and not invite_cli.server.messages()


def test_what_giftrun_wrote_there_never_refuses(tmp_path, invite_cli, mail):
    from tests.smtp_server import Faults

    refusing = mail(Faults(refuse={"bo@example.com": "550 5.1.1 mailbox unavailable"}))
    assert invite_cli("send", "list.csv").returncode == 0
    first = invite_cli("invite", "list.csv", "--template", "invite.txt", GIFTRUN_SMTP_URL=refusing.url)
    assert first.returncode == 0 and "Emailed 2 · refused 1" in first.stdout, first.stdout + first.stderr
    again = invite_cli("invite", "list.csv", "--template", "invite.txt")  # its times and its error on the rows
    assert again.returncode == 0, again.stderr
    assert received(refusing) == ["ana@example.com", "cy@example.com"] and not invite_cli.server.messages()
