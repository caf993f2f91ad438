"""`store copy` moves a team's SQLite store into a shared database: everything arrives, a
second copy changes nothing, and a send the file holds always wins over one the database
could send again — so after the move nobody is gifted twice."""

from __future__ import annotations

import pytest

from lib.models import EventSource, Recipient, SendState, StatusEvent
from lib.store import Store
from lib.store.copy import copy_store
from lib.store.invitations import InviteKind, InviteRefusal, InviteState
from tests import backends
from tests.support import cli_env, run_cli

LIST = "csv:/srv/lists/q4.csv"


def claim(store: Store, email: str, run_id: str = "r1") -> bool:
    return store.begin_attempt(LIST, Recipient("Ana", "Ruiz", email), row_key="0", campaign_id="c", run_id=run_id)


def filled_sqlite_store(folder) -> Store:
    s = Store(folder)
    run = s.acquire_run(LIST, "cron@old-server")
    for email, state in [
        ("sent@example.com", SendState.SENT),
        ("unknown@example.com", SendState.UNKNOWN),
        ("rejected@example.com", SendState.REJECTED),
        ("clash@example.com", SendState.SENT),
        ("kept@example.com", SendState.REJECTED),
    ]:
        assert claim(s, email, run)
        s.record_outcome(LIST, email, state, gift_request_id="g-" + email[:4] if state == SendState.SENT else None)
    s.finish_run(run, "completed", {"sent": 2})
    s.add_events(
        [
            StatusEvent(
                "send:g-sent",
                "g-sent",
                "submitted",
                EventSource.SEND,
                email="sent@example.com",
                occurred_at="2026-10-01T09:00:00.000Z",
                actor="cron@old-server",
            ),
            StatusEvent(
                "ev-2",
                "g-sent",
                "delivered",
                EventSource.WEBHOOK,
                email="sent@example.com",
                occurred_at="2026-10-03T09:00:00.000Z",
            ),
        ]
    )
    s.record_override(LIST, "vip@example.com", "maria@team", "asked twice")
    s.save_list("list:1", "people.csv", b"Email\nsent@example.com\n", {"email": "Email"})
    s.enqueue("sheet:KEY", ["ev-2"])
    return s


INV, REM = InviteKind.INVITATION, InviteKind.REMINDER
EMAILS = {  # (gift, kind) → the line the old server's file holds
    ("g-sent", INV): InviteState.SENT,
    ("g-sent", REM): InviteState.SENT,
    ("g-unknown", INV): InviteState.UNKNOWN,
    ("g-flight", INV): InviteState.ATTEMPTING,  # a run killed mid-email
    ("g-failed", INV): InviteState.FAILED,
    ("g-refused", INV): InviteState.REFUSED,
    ("g-clash", INV): InviteState.SENT,  # the database holds a failure for it
    ("g-kept", INV): InviteState.FAILED,  # the database holds it sent
}


def journal_email(store: Store, gift: str, kind: InviteKind, state: InviteState, run_id: str) -> None:
    claimed = store.claim_invitation(
        gift, kind, email=f"{gift}@example.com", list_key=LIST, row_key=gift, run_id=run_id, message_id=f"<{gift}>"
    )
    assert claimed.claimed
    if state != InviteState.ATTEMPTING:
        store.record_invitation(gift, kind, state, error=None if state == InviteState.SENT else "why")


def fill_invitations(s: Store) -> None:
    run = s.acquire_run("invite:" + LIST, "cron@old-server")
    for (gift, kind), st in EMAILS.items():
        journal_email(s, gift, kind, st, run)
    s.save_invite_template(LIST, INV, "Subject: Hi {first_name}\n\n{redemption_url}", "maria@team")
    s.save_invite_template(LIST, REM, "Subject: Still there?\n\n{redemption_url}", "maria@team")


@pytest.mark.usefixtures("store_backend")
def test_copy_carries_the_invitation_journal_and_nobody_is_emailed_twice_after_the_move(tmp_path):
    source = Store(tmp_path / "old")
    fill_invitations(source)
    target = backends.store(tmp_path / "new")
    try:
        run = target.acquire_run("invite:other", "app@new")
        journal_email(target, "g-clash", INV, InviteState.FAILED, run)
        journal_email(target, "g-kept", INV, InviteState.SENT, run)

        report = copy_store(source, target)
        assert (report.copied["invitations"], report.already["invitations"]) == (7, 1)
        assert report.copied["invite_templates"] == 2
        lines = target.invitations()
        assert {k: r.state for k, r in lines.items()} == {
            **EMAILS,
            ("g-clash", INV): InviteState.SENT,  # the file's sent beats the database's failure
            ("g-kept", INV): InviteState.SENT,  # the database's sent is never replaced
        }
        assert lines[("g-sent", INV)].message_id == "<g-sent>" and lines[("g-sent", INV)].list_key == LIST
        fresh = target.acquire_run("invite:" + LIST + ":after", "app@new")
        for gift, kind in [("g-sent", INV), ("g-sent", REM), ("g-unknown", INV), ("g-flight", INV), ("g-clash", INV)]:
            claim = target.claim_invitation(
                gift, kind, email=f"{gift}@example.com", list_key=LIST, row_key=gift, run_id=fresh, message_id="<x>"
            )
            assert claim.refusal == InviteRefusal.HELD, f"{gift} {kind} could be emailed again after the move"
        assert target.invite_template(LIST, REM) == "Subject: Still there?\n\n{redemption_url}"
        assert target.email_room(100).used == 6  # the team's email limit counts what the old server sent

        again = copy_store(source, target)
        assert again.copied["invitations"] == 0 and again.copied["invite_templates"] == 0
    finally:
        source.close()
        target.close()


@pytest.mark.usefixtures("store_backend")
def test_copy_moves_everything_and_a_second_copy_changes_nothing(tmp_path):
    source = filled_sqlite_store(tmp_path / "old")
    target = backends.store(tmp_path / "new")
    try:
        # the database already has its own lines for two of these people
        assert claim(target, "clash@example.com", "r9")
        target.record_outcome(LIST, "clash@example.com", SendState.REJECTED, error="bad")
        assert claim(target, "kept@example.com", "r9")
        target.record_outcome(LIST, "kept@example.com", SendState.SENT, gift_request_id="g-db")

        report = copy_store(source, target)
        assert report.copied["sends"] == 4 and report.already["sends"] == 1
        journal = target.journal(LIST)
        assert {e: j.state for e, j in journal.items()} == {
            "sent@example.com": SendState.SENT,
            "unknown@example.com": SendState.UNKNOWN,
            "rejected@example.com": SendState.REJECTED,
            "clash@example.com": SendState.SENT,  # the file's sent beats the database's rejected
            "kept@example.com": SendState.SENT,
        }  # the database's sent is never replaced
        assert journal["clash@example.com"].gift_request_id == "g-clas"
        assert journal["kept@example.com"].gift_request_id == "g-db"
        for email in ("sent@example.com", "unknown@example.com", "clash@example.com"):
            assert not claim(target, email, "r10"), f"{email} could be gifted again after the move"
        assert target.gift("g-sent").status == "delivered"
        assert [e.event_id for e in target.events(gift_request_id="g-sent")] == ["send:g-sent", "ev-2"]
        assert target.overrides(LIST)["vip@example.com"][0] == "maria@team"
        assert target.load_list("list:1") == ("people.csv", b"Email\nsent@example.com\n", {"email": "Email"})
        assert [e.event_id for e in target.pending("sheet:KEY")] == ["ev-2"]
        assert [r.actor for r in target.runs()] == ["cron@old-server"]
        audit = [(a["actor"], a["action"]) for a in target.audit_log()]
        assert audit == [("maria@team", "override")]

        again = copy_store(source, target)
        assert sum(again.copied.values()) == 0
        assert [(a["actor"], a["action"]) for a in target.audit_log()] == audit
        assert len(target.events()) == 2
    finally:
        source.close()
        target.close()


@pytest.mark.postgres_only
def test_the_cli_copies_into_the_configured_database_and_says_what_it_did(tmp_path, store_backend):
    old = filled_sqlite_store(tmp_path / "old")
    fill_invitations(old)
    old.close()
    env = cli_env(tmp_path / "new")  # GIFTRUN_DATABASE_URL and its schema
    first = run_cli(tmp_path, env, "store", "copy", "--from", str(tmp_path / "old"), timeout=120)
    assert first.returncode == 0, first.stderr
    assert "sends: 5 copied, 0 already there" in first.stdout and "events: 2 copied" in first.stdout
    assert "invitations: 8 copied, 0 already there" in first.stdout
    second = run_cli(tmp_path, env, "store", "copy", "--from", str(tmp_path / "old"), timeout=120)
    assert "sends: 0 copied, 5 already there" in second.stdout
    info = run_cli(tmp_path, env, "store", "info", timeout=60)
    assert info.returncode == 0 and "PostgreSQL" in info.stdout and "5 journal lines" in info.stdout
    assert "8 invitation lines (5 sent or held:" in info.stdout
    assert "postgres@" not in info.stdout + first.stdout  # never the URL itself


def test_copy_refuses_a_folder_without_a_store_and_a_url_that_is_not_postgres(tmp_path):
    env = cli_env(tmp_path / "x")
    proc = run_cli(
        tmp_path,
        env,
        "store",
        "copy",
        "--to",
        "postgresql://u:pw@127.0.0.1:1/db",
        "--from",
        str(tmp_path / "empty"),
        timeout=60,
    )
    assert proc.returncode == 2 and "No Giftrun store in" in proc.stderr
    proc = run_cli(tmp_path, env, "store", "copy", "--to", "mysql://u:secretpw@h/db", timeout=60)
    assert proc.returncode == 2 and "PostgreSQL URL" in proc.stderr and "secretpw" not in proc.stderr
