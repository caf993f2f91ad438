"""Unknown outcomes resolve themselves end to end: &Open's `gift_request_created` update reaches
the store (the standalone receiver, the intake, the shared history tab) and the row gets its gift
id at the next write-back (a run's flush, `status SOURCE`); a kill soak — 20 SIGKILLs during one
send, then one clean run — gifts nobody twice and, once the updates are delivered, leaves no gift
that exists in &Open off its row."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from lib import csvio
from lib.models import EventSource, Recipient, SendState, StatusEvent, iso, normalize_email, utcnow
from lib.sandbox import Faults
from lib.store.resolution import CONFIRMED_IN_FLIGHT, RESOLVED
from lib.webhooks import WebhookIntake, sign
from lib.writeback import GIFT_REQUEST_ID, SEND_ERROR
from tests import backends
from tests.receivers import SECRET, start_standalone, stop
from tests.support import CLI, assert_nobody_gifted_twice, cli_env, gift_counts, posts, run_cli, until

HEADER = ["First Name", "Last Name", "Email", "Approved"]


def write_list(path: Path, n: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows([f"First{i}", f"Last{i}", f"person{i}@example.com", "yes"] for i in range(n))


def rows(path: Path) -> dict[str, dict[str, str]]:
    return {normalize_email(r["Email"]): r for r in csvio.read_csv_path(path).to_dict("records")}


def assert_every_gift_is_on_its_row(sb, path: Path) -> None:
    on_rows = rows(path)
    for email, gifts in sb.gifts_by_email().items():
        assert [g["id"] for g in gifts] == [on_rows[normalize_email(email)][GIFT_REQUEST_ID]], (
            f"{email}: &Open has {[g['id'] for g in gifts]}, "
            f"the row says {on_rows[normalize_email(email)][GIFT_REQUEST_ID]!r}"
        )


def test_the_intake_resolves_a_lost_send_from_a_signed_created_update(store):
    assert store.begin_attempt(
        "list-a", Recipient("Ana", "Ruiz", "ana@example.com"), row_key="0", campaign_id="camp-1", run_id="r1"
    )
    store.record_outcome("list-a", "ana@example.com", SendState.UNKNOWN, error="read timed out")
    now = iso(utcnow())
    body = json.dumps(
        {
            "id": "g-9",
            "status": "submitted",
            "campaign_id": "camp-1",
            "created_at": now,
            "updated_at": now,
            "redemption_url": "https://gift.andopen.co/r/9",
            "recipient": {"email": "Ana@Example.com", "first_name": "Ana", "last_name": "Ruiz"},
        }
    ).encode()
    ts = str(int(time.time()))
    status, answer = WebhookIntake(store, "whsec_x").handle(
        {
            "AndOpen-Webhook-Signature": sign("whsec_x", ts, body),
            "AndOpen-Webhook-Dispatch-Timestamp": ts,
            "AndOpen-Webhook-Event-Id": "ev-created-9",
            "AndOpen-Webhook-Event-Type": "gift_request_created",
        },
        body,
    )
    assert status == 200, answer
    entry = store.journal("list-a")["ana@example.com"]
    assert (entry.state, entry.gift_request_id) == (SendState.SENT, "g-9")


@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
def test_a_run_whose_answers_are_lost_ends_with_every_gift_on_its_row(make_sandbox, tmp_path):
    """Every create answers 500 after creating; &Open's created updates reach a receiver that
    shares the store, and the run's own flushes put the gift ids on the rows."""
    data = tmp_path / "data"
    receiver = start_standalone(tmp_path, backends.env(data))
    try:
        sb = make_sandbox(
            faults=Faults(error_500_after_create=1.0, latency=0.02),
            webhook_url=receiver.url + "/webhooks/andopen",
            webhook_secret=SECRET,
        )
        path = tmp_path / "list.csv"
        write_list(path, 12)
        proc = run_cli(tmp_path, cli_env(data, sb), "send", "list.csv", "--campaign", sb.campaign_ids[0], timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "unknown outcome 12" in proc.stdout
        if not all(r[GIFT_REQUEST_ID] for r in rows(path).values()):  # a late update: `status` writes it
            assert until(lambda: _resolved(data) == 12, timeout=90)
            assert run_cli(tmp_path, cli_env(data, sb), "status", "list.csv", timeout=60).returncode == 0
        assert_nobody_gifted_twice(sb)
        assert_every_gift_is_on_its_row(sb, path)
        assert all(not r[SEND_ERROR] for r in rows(path).values())
        again = run_cli(tmp_path, cli_env(data, sb), "send", "list.csv", "--campaign", sb.campaign_ids[0], timeout=120)
        assert "0 to send" in again.stdout and "12 already sent" in again.stdout
        assert len(posts(sb)) == 12
    finally:
        stop(receiver.proc)


def deliver(base: str, event_id: str, gift: dict, event_type: str = "gift_request_created"):
    """A signed delivery, as &Open sends it."""
    import requests

    body = json.dumps(gift).encode()
    ts = str(int(time.time()))
    return requests.post(
        base + "/webhooks/andopen",
        data=body,
        timeout=30,
        headers={
            "AndOpen-Webhook-Signature": sign(SECRET, ts, body),
            "AndOpen-Webhook-Dispatch-Timestamp": ts,
            "AndOpen-Webhook-Event-Id": event_id,
            "AndOpen-Webhook-Event-Type": event_type,
            "Content-Type": "application/json",
        },
    )


def _resolved(data: Path) -> int:
    """Lines settled by &Open's updates: an unknown outcome resolved, or, when the update came
    before the run heard its 500 (a loaded machine), the attempt confirmed while in flight."""
    store = backends.store(data)
    try:
        return len({a["email"] for a in store.audit_log() if a["action"] in (RESOLVED, CONFIRMED_IN_FLIGHT)})
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
def test_an_update_from_another_campaign_or_an_older_gift_resolves_nothing(make_sandbox, tmp_path):
    data = tmp_path / "data"
    receiver = start_standalone(tmp_path, backends.env(data))
    try:
        sb = make_sandbox(faults=Faults(error_500_after_create=1.0))
        path = tmp_path / "list.csv"
        write_list(path, 2)
        assert (
            run_cli(
                tmp_path, cli_env(data, sb), "send", "list.csv", "--campaign", sb.campaign_ids[0], timeout=120
            ).returncode
            == 0
        )
        for n, (campaign, created) in enumerate(
            [(sb.campaign_ids[1], iso(utcnow())), (sb.campaign_ids[0], "2025-01-01T10:00:00.000Z")]
        ):
            gift = {
                "id": f"g-other-{n}",
                "status": "submitted",
                "campaign_id": campaign,
                "created_at": created,
                "recipient": {"email": f"person{n}@example.com"},
            }
            assert deliver(receiver.url, f"ev-o{n}", gift).status_code == 200
        store = backends.store(data)
        try:
            journal = store.journal(f"csv:{path.resolve()}")
            assert {e.state for e in journal.values()} == {SendState.UNKNOWN}
            why = [a["detail"] for a in store.audit_log() if a["action"] == "unresolved"]
            assert any("it is for campaign" in w for w in why) and any("too far from the attempt" in w for w in why)
        finally:
            store.close()
    finally:
        stop(receiver.proc)


@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
def test_kill_soak_gifts_nobody_twice_and_leaves_no_gift_off_its_row(make_sandbox, tmp_path):
    data = tmp_path / "data"
    receiver = start_standalone(tmp_path, backends.env(data))
    rng = random.Random(7)
    try:
        sb = make_sandbox(
            faults=Faults(latency=0.05), webhook_url=receiver.url + "/webhooks/andopen", webhook_secret=SECRET
        )
        path = tmp_path / "list.csv"
        write_list(path, 400)
        env = cli_env(data, sb)
        args = [*CLI, "send", "list.csv", "--campaign", sb.campaign_ids[0], "--rate", "40"]
        kills = 0
        while kills < 20:
            before = len(posts(sb))
            proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            until(lambda: len(posts(sb)) > before, timeout=30)
            time.sleep(rng.uniform(0.0, 0.6))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
            proc.wait(timeout=30)
            if len(posts(sb)) >= 400:
                break
        assert kills >= 20 or len(sb.gifts) >= 300, "the soak never killed enough runs"
        final = run_cli(tmp_path, env, *args[len(CLI) :], timeout=300)
        assert final.returncode == 0, final.stderr
        created = len(sb.gifts)
        assert until(
            lambda: (
                len({d.gift_id for d in list(sb.deliveries) if d.event_type == "gift_request_created" and d.ok})
                >= created
            ),
            timeout=60,
        ), "the created updates were not delivered"
        assert run_cli(tmp_path, env, "status", "list.csv", timeout=120).returncode == 0
        assert_nobody_gifted_twice(sb)
        assert_every_gift_is_on_its_row(sb, path)
        gifted = set(gift_counts(sb))
        for email, row in rows(path).items():  # a row without a gift either never reached &Open or says check
            assert row[GIFT_REQUEST_ID] or email not in gifted
    finally:
        stop(receiver.proc)


@pytest.mark.usefixtures("store_backend")
def test_the_shared_history_tab_resolves_a_lost_send_on_another_host(fake, tmp_path):
    """Hosts that share only a Google Sheet: the receiver's host appends the created update to the
    `Gift history` tab; the sending host imports it and its unknown outcome resolves."""
    from lib.settings import Settings
    from lib.sheet_source import import_shared_history
    from lib.sheets import HistoryTab, make_client
    from tests.test_sheet_source import HISTORY_KEY, url

    store = backends.store(tmp_path / "sender")
    try:
        assert store.begin_attempt(
            "list-a", Recipient("Ana", "Ruiz", "ana@example.com"), row_key="0", campaign_id="camp-1", run_id="r1"
        )
        store.record_outcome("list-a", "ana@example.com", SendState.UNKNOWN, error="read timed out")
        fake.create_spreadsheet(HISTORY_KEY, {"Notes": [["shared history lives here"]]})
        now = iso(utcnow())
        client = make_client(None, emulator_host=fake.host, timeout=10)
        HistoryTab.open(client, url(HISTORY_KEY), create=True).append(
            [
                StatusEvent(
                    "ev-created",
                    "g-77",
                    "submitted",
                    EventSource.WEBHOOK,
                    email="ana@example.com",
                    event_type="gift_request_created",
                    occurred_at=now,
                    campaign_id="camp-1",
                    created_at=now,
                )
            ]
        )
        settings = Settings(history_sheet=url(HISTORY_KEY), **backends.settings_kwargs(tmp_path / "sender"))
        assert import_shared_history(settings, store, client) >= 1
        entry = store.journal("list-a")["ana@example.com"]
        assert (entry.state, entry.gift_request_id) == (SendState.SENT, "g-77")
    finally:
        store.close()
