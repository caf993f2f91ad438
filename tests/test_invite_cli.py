"""`python -m lib.cli invite` and `send --invite` as a person at a shell runs them (called in
process): the sandbox on 127.0.0.1 makes the gifts, a real SMTP server on 127.0.0.1 takes the
emails, the list is a real CSV. Each gift's invitation is emailed once, across a rerun and a wiped
store; the user's cells come back byte for byte; cancelled, do-not-gift and unapproved rows are
never emailed; template and configuration mistakes refuse before any email; --dry-run and
--test-to send and record what they say; an unknown is cleared only on purpose."""

from __future__ import annotations

import csv
import shutil

import pytest

from tests.invite_support import ROWS, TEMPLATE, read_rows, received
from tests.smtp_server import Faults
from tests.support import cli_env, gift_counts

pytestmark = pytest.mark.usefixtures("store_backend")


@pytest.fixture
def cli(invite_cli):
    return invite_cli


@pytest.mark.slow
def test_each_gift_is_emailed_its_link_once_and_a_rerun_emails_nobody(tmp_path, cli):
    assert cli("send", "list.csv").returncode == 0
    first = cli("invite", "list.csv", "--template", "invite.txt")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Emailed 3 · refused 0 · unknown 0" in first.stdout
    assert received(cli.server) == ["ana@example.com", "bo@example.com", "cy@example.com"]
    rows = read_rows(tmp_path / "list.csv")
    by_email = {m.rcpt_tos[0]: m for m in cli.server.messages()}
    for row in rows[:3]:
        msg = by_email[row["Email"]]
        assert row["Redemption URL"] in msg.part("plain") and row["Invitation sent at"].endswith(" UTC")
        assert row["Invitation error"] == ""
    assert "Thanks for the call!" in by_email["ana@example.com"].part("plain")
    assert "Acme, Inc. would like" in by_email["bo@example.com"].part("plain")
    text = (tmp_path / "list.csv").read_bytes().decode()
    for original, line in zip(ROWS, text.splitlines(keepends=True)[1:]):
        assert line.startswith(original.rstrip("\r\n") + ",")  # the user's cells, byte for byte

    again = cli("invite", "list.csv", "--template", "invite.txt")
    assert again.returncode == 0 and "Emailed 0" in again.stdout and len(cli.server.messages()) == 3


@pytest.mark.slow
def test_a_wiped_store_never_emails_a_row_that_shows_invitation_sent_at(tmp_path, cli):
    cli("send", "list.csv")
    cli("invite", "list.csv", "--template", "invite.txt")
    fresh = cli_env(tmp_path / "elsewhere")  # a new disk, or another database: the row is the record
    proc = cli("invite", "list.csv", "--template", "invite.txt", **{k: fresh.get(k) for k in fresh if "GIFTRUN" in k})
    assert proc.returncode == 0 and "0 to email" in proc.stdout and len(cli.server.messages()) == 3


@pytest.mark.slow
def test_send_with_invite_sends_the_gifts_then_the_invitations_in_one_command(tmp_path, cli):
    proc = cli("send", "list.csv", "--invite", "--template", "invite.txt")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sum(gift_counts(cli.sandbox).values()) == 3 and len(cli.server.messages()) == 3
    assert all(r["Invitation sent at"] for r in read_rows(tmp_path / "list.csv")[:3])


@pytest.mark.parametrize(
    "template, words",
    [
        (TEMPLATE.replace("{Company}", "{Employer}"), "uses {Employer}, but the list has no such column"),
        (TEMPLATE.replace("Subject: ", "Topic: "), "must start with a line 'Subject: …'"),
        (TEMPLATE.replace("{redemption_url}", "the link"), "never uses {redemption_url}"),
    ],
)
def test_a_template_mistake_refuses_before_any_gift_or_email(tmp_path, cli, template, words):
    (tmp_path / "bad.txt").write_text(template, encoding="utf-8")
    before = (tmp_path / "list.csv").read_bytes()
    for args in (
        ("send", "list.csv", "--invite", "--template", "bad.txt"),
        ("invite", "list.csv", "--template", "bad.txt"),
    ):
        proc = cli(*args)
        assert proc.returncode == 2 and words in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert not gift_counts(cli.sandbox) and not cli.server.messages()
    assert (tmp_path / "list.csv").read_bytes() == before


@pytest.mark.parametrize(
    "unset, words",
    [("GIFTRUN_SMTP_URL", "GIFTRUN_SMTP_URL is not set"), ("GIFTRUN_INVITE_FROM", "GIFTRUN_INVITE_FROM is not set")],
)
def test_missing_mail_settings_are_one_line_exit_2(cli, unset, words):
    proc = cli("invite", "list.csv", "--template", "invite.txt", **{unset: None})
    assert proc.returncode == 2 and words in proc.stderr


def test_a_refused_password_exits_1_naming_the_server_never_the_password(tmp_path, cli, mail):
    server = mail(tls_folder=tmp_path, auth=True)
    cli("send", "list.csv")
    proc = cli(
        "invite",
        "list.csv",
        "--template",
        "invite.txt",
        GIFTRUN_SMTP_URL=f"smtp://rep%40team.example:hunter2-secret@127.0.0.1:{server.port}",
        GIFTRUN_SMTP_CA_FILE=str(tmp_path / "smtp-cert.pem"),
    )
    assert proc.returncode == 1 and f"127.0.0.1:{server.port}" in proc.stdout + proc.stderr
    assert "hunter2" not in proc.stdout + proc.stderr and not server.messages()
    assert all(not r.get("Invitation sent at") for r in read_rows(tmp_path / "list.csv"))


def test_dry_run_shows_the_first_email_and_sends_and_writes_nothing(tmp_path, cli):
    cli("send", "list.csv")
    before = (tmp_path / "list.csv").read_bytes()
    proc = cli("invite", "list.csv", "--template", "invite.txt", "--dry-run", GIFTRUN_SMTP_URL=None)
    assert proc.returncode == 0, proc.stderr
    assert "3 to email" in proc.stdout and "Subject: A gift for you, Ana" in proc.stdout
    assert "  Thanks for the call!" in proc.stdout and "Dry run: nothing sent, nothing written." in proc.stdout
    assert (tmp_path / "list.csv").read_bytes() == before and not cli.server.messages()


@pytest.mark.slow
def test_test_to_sends_one_marked_email_to_that_address_only_and_records_nothing(tmp_path, cli):
    cli("send", "list.csv")
    proc = cli("invite", "list.csv", "--template", "invite.txt", "--test-to", "me@team.example")
    assert proc.returncode == 0, proc.stderr
    [test] = cli.server.messages()
    assert test.rcpt_tos == ("me@team.example",) and test.subject == "[Test] A gift for you, Ana"
    assert all(not r.get("Invitation sent at") for r in read_rows(tmp_path / "list.csv"))
    assert cli("invite", "list.csv", "--template", "invite.txt").returncode == 0
    assert received(cli.server) == ["ana@example.com", "bo@example.com", "cy@example.com", "me@team.example"]


@pytest.mark.slow
def test_cancelled_do_not_gift_and_unapproved_rows_are_never_emailed(tmp_path, cli):
    cli("send", "list.csv")
    rows = read_rows(tmp_path / "list.csv")
    rows[0]["Gift status"] = "Cancelled"
    with open(tmp_path / "list.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert cli("do-not-gift", "add", "bo@example.com", "--reason", "asked not to").returncode == 0
    proc = cli("invite", "list.csv", "--template", "invite.txt")
    assert proc.returncode == 0 and received(cli.server) == ["cy@example.com"]
    assert "row 3 bo@example.com: do not gift" in proc.stdout


@pytest.mark.slow
def test_an_unknown_email_is_never_resent_until_a_person_clears_it(tmp_path, cli, mail):
    dropping = mail(Faults(drop_after_data={"bo@example.com"}))
    cli("send", "list.csv")
    first = cli("invite", "list.csv", "--template", "invite.txt", GIFTRUN_SMTP_URL=dropping.url)
    assert first.returncode == 0 and "Emailed 2 · refused 0 · unknown 1" in first.stdout
    assert read_rows(tmp_path / "list.csv")[1]["Invitation error"].startswith("Unknown: the mail server may have")
    again = cli("invite", "list.csv", "--template", "invite.txt")
    assert "Emailed 0" in again.stdout and not cli.server.messages()
    cleared = cli("invite", "list.csv", "--template", "invite.txt", "--clear-unknown-invite", "bo@example.com")
    assert "Cleared 1 unknown email for bo@example.com." in cleared.stdout
    assert received(cli.server) == ["bo@example.com"] and received(dropping) == [
        "ana@example.com",
        "bo@example.com",
        "cy@example.com",
    ]


@pytest.mark.slow
def test_a_dry_run_without_a_gift_yet_says_so(tmp_path, cli):
    shutil.copy(tmp_path / "list.csv", tmp_path / "fresh.csv")
    proc = cli("invite", "fresh.csv", "--template", "invite.txt", "--dry-run")
    assert proc.returncode == 0 and "0 to email" in proc.stdout and "3 without a gift yet" in proc.stdout
