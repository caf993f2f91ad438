"""`invite SOURCE --remind-after 5d --reminder-template FILE` as a person at a shell runs it: the
sandbox makes the gifts and answers for their status, a real SMTP server on 127.0.0.1 takes the
emails, the store's invitation lines are backdated as days passing would leave them. A gift still
Submitted that long after its invitation gets exactly one reminder (a rerun sends none); a gift
that moved on gets none, also when only &Open knows it yet (asked just before the email); a gift
invited too recently gets none; a reminder without its template is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lib.models import iso, utcnow
from lib.store.invitations import InviteKind, InviteState
from tests import backends
from tests.invite_support import read_rows, received

pytestmark = pytest.mark.usefixtures("store_backend")

REMINDER = """Subject: Your gift is waiting, {first_name}

Hi {first_name}, a reminder: your gift is still here for you: {redemption_url}

{sender_name}
"""
INVITED = ["ana@example.com", "bo@example.com", "cy@example.com"]
REMIND = ("invite", "list.csv", "--remind-after", "5d", "--reminder-template", "remind.txt")


@pytest.fixture
def invited(tmp_path, invite_cli):
    """Three gifts sent and their invitations emailed; `invited.days_ago(n)` moves every
    invitation n days into the past, as the store would hold it n days later."""
    (tmp_path / "remind.txt").write_text(REMINDER, encoding="utf-8")
    assert invite_cli("send", "list.csv", "--invite", "--template", "invite.txt").returncode == 0
    assert received(invite_cli.server) == INVITED
    store = backends.store(tmp_path / "data")

    def days_ago(n: float) -> None:
        at = iso(utcnow() - timedelta(days=n))
        t = store.db.table("invitations")
        with store.db.write() as conn:
            store.db.execute(
                conn, f"UPDATE {t} SET attempted_at=:at, finished_at=:at WHERE kind='invitation'", {"at": at}
            )

    invite_cli.days_ago, invite_cli.store = days_ago, store
    yield invite_cli
    store.close()


def reminders(server) -> list[str]:
    return sorted(m.rcpt_tos[0] for m in server.messages() if m.subject.startswith("Your gift is waiting"))


def gift_of(tmp_path, email: str) -> str:
    return next(r["Gift request ID"] for r in read_rows(tmp_path / "list.csv") if r["Email"] == email)


def test_a_gift_still_submitted_gets_exactly_one_reminder_and_a_rerun_sends_none(tmp_path, invited):
    invited.days_ago(6)
    before = (tmp_path / "list.csv").read_bytes()
    first = invited(*REMIND)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "3 to email (reminders)" in first.stdout and "Emailed 3 · refused 0 · unknown 0" in first.stdout
    assert reminders(invited.server) == INVITED
    by_email = {m.rcpt_tos[0]: m for m in invited.server.messages() if m.subject.startswith("Your gift")}
    assert gift_of(tmp_path, "bo@example.com") and read_rows(tmp_path / "list.csv")[1]["Redemption URL"] in (
        by_email["bo@example.com"].part("plain")
    )
    journal = invited.store.invitations()
    assert {journal[(gift_of(tmp_path, e), InviteKind.REMINDER)].state for e in INVITED} == {InviteState.SENT}
    assert (tmp_path / "list.csv").read_bytes() == before  # a reminder writes nothing on the row

    again = invited(*REMIND)
    assert again.returncode == 0 and "0 to email (reminders)" in again.stdout
    assert reminders(invited.server) == INVITED  # still one each


@pytest.mark.parametrize(
    "status, store_knows",
    [
        *[(s, True) for s in ("redeemed", "cancelled")],  # the store heard (a poll, a webhook)
        *[(s, False) for s in ("redeemed", "cancelled", "dispatched", "delivered")],  # only &Open knows yet
    ],
)
def test_a_gift_that_moved_on_gets_no_reminder(tmp_path, invited, status, store_knows):
    invited.days_ago(6)
    invited.sandbox.set_status(gift_of(tmp_path, "bo@example.com"), status)
    if store_knows:
        assert invited("status", "list.csv", "--poll").returncode == 0
    proc = invited(*REMIND)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert reminders(invited.server) == ["ana@example.com", "cy@example.com"]
    if not store_knows:  # planned on the store's word (Submitted), stopped by &Open's just before the email
        assert "3 to email (reminders)" in proc.stdout and "1 reminders not sent: &Open says" in proc.stdout
    rec = invited.store.invitations().get((gift_of(tmp_path, "bo@example.com"), InviteKind.REMINDER))
    assert rec is None  # nothing journalled: a later run may still remind if the gift came back


@pytest.mark.parametrize("days, sent", [(4, []), (4.99, []), (5.01, INVITED)])
def test_only_a_gift_invited_that_long_ago_is_reminded(invited, days, sent):
    invited.days_ago(days)
    proc = invited(*REMIND)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert reminders(invited.server) == sent
    if not sent:
        assert "0 to email (reminders)" in proc.stdout


@pytest.mark.parametrize(
    "args, words",
    [
        (("--remind-after", "5d"), "--reminder-template FILE is required"),
        (
            ("--remind-after", "5d", "--reminder-template", "missing.txt"),
            "--reminder-template: missing.txt is not a file",
        ),
        (("--reminder-template", "remind.txt"), "--reminder-template goes with --remind-after"),
        (("--remind-after", "5 days", "--reminder-template", "remind.txt"), "give a duration such as 5d"),
    ],
)
def test_a_reminder_without_its_template_or_duration_is_refused_with_exit_2(tmp_path, invite_cli, args, words):
    (tmp_path / "remind.txt").write_text(REMINDER, encoding="utf-8")
    proc = invite_cli("invite", "list.csv", *args)
    assert proc.returncode == 2 and words in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert invite_cli.server.messages() == []
