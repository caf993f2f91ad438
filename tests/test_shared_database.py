"""One PostgreSQL database shared by several hosts behaves as one Giftrun: hosts with their
own empty data folders send overlapping lists at once and nobody is gifted twice; a host
restarted with an empty folder sends the same file and nobody gets a second gift (the ids
come back onto the rows); an unknown outcome on one host is held on another; a receiver on
one host and `status` on another agree; concurrent deliveries to several receivers store
each event once; an unreachable database is one clear error with nothing sent; a database
lost mid-run stops the run and leaves nothing that was sent looking unsent.

Each "host" is a subprocess with its own GIFTRUN_DATA_DIR and the same GIFTRUN_DATABASE_URL."""

from __future__ import annotations

import csv
import json
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from lib import csvio
from lib.models import Recipient, SendState, normalize_email
from lib.sandbox import Faults
from lib.sending import SendItem, SendRun
from lib.store import Store, StoreUnavailable
from lib.webhooks import sign
from lib.writeback import GIFT_REQUEST_ID, GIFT_STATUS, SEND_ERROR
from tests import backends
from tests.support import CLI, TcpProxy, assert_nobody_gifted_twice, cli_env, closed_port, gift_counts, run_cli, until

HEADER = ["First Name", "Last Name", "Email", "Approved"]
SECRET = "whsec_shared_db_test"


pytestmark = [pytest.mark.postgres_only, pytest.mark.usefixtures("store_backend")]  # hosts share a database


def host_env(tmp_path: Path, host: str, sb=None, **extra: str) -> dict[str, str]:
    """A host: its own empty data folder, the one shared database."""
    env = cli_env(tmp_path / "db", sb, **extra)  # the shared database's schema is named by this folder
    env["GIFTRUN_DATA_DIR"] = str(tmp_path / f"host-{host}")
    return env


def shared_store(tmp_path: Path) -> Store:
    return backends.store(tmp_path / "db")


def write_list(path: Path, people: list[int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows([f"First{i}", f"Last{i}", f"person{i}@example.com", "yes"] for i in people)


def send_args(sb, path: Path, *more: str) -> list[str]:
    return ["send", str(path), "--campaign", sb.campaign_ids[0], "--rate", "100", *more]


@pytest.mark.slow
def test_hosts_sending_overlapping_lists_at_once_gift_nobody_twice(make_sandbox, tmp_path):
    sb = make_sandbox(faults=Faults(latency=0.03))
    lists = {h: tmp_path / f"host-{h}" / "list.csv" for h in "abc"}
    for n, (h, path) in enumerate(lists.items()):
        write_list(path, list(range(40)) + list(range(100 + 10 * n, 110 + 10 * n)))  # 40 shared, 10 own
    procs = [
        subprocess.Popen(
            [*CLI, *send_args(sb, path, "--lookback", "forever")],
            cwd=tmp_path,
            env=host_env(tmp_path, h, sb),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for h, path in lists.items()
    ]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert all("Traceback" not in out + err for out, err in outs)
    assert_nobody_gifted_twice(sb)
    assert sum(gift_counts(sb).values()) == 40 + 30  # each shared person once, each host's own ten
    gifted_by = {}
    for h, path in lists.items():
        for row in csvio.read_csv_path(path).to_dict("records"):
            if row[GIFT_REQUEST_ID]:
                assert row["Email"] not in gifted_by, f"{row['Email']} has a gift id on two hosts' lists"
                gifted_by[row["Email"]] = h
    assert len(gifted_by) == 70


def test_a_host_restarted_with_an_empty_folder_sends_nobody_again_and_restores_the_ids(make_sandbox, tmp_path):
    sb = make_sandbox()
    path = tmp_path / "list.csv"
    write_list(path, list(range(40)))
    original = path.read_bytes()
    first = run_cli(tmp_path, host_env(tmp_path, "before", sb), *send_args(sb, path), timeout=120)
    assert first.returncode == 0, first.stderr
    ids = {r["Email"]: r[GIFT_REQUEST_ID] for r in csvio.read_csv_path(path).to_dict("records")}
    assert all(ids.values()) and len(ids) == 40

    path.write_bytes(original)  # the user's own copy, without results, on a host whose disk was wiped
    again = run_cli(tmp_path, host_env(tmp_path, "after-restart", sb), *send_args(sb, path), timeout=120)
    assert again.returncode == 0, again.stderr
    assert "0 to send" in again.stdout and "40 already sent" in again.stdout
    assert sum(gift_counts(sb).values()) == 40
    assert {r["Email"]: r[GIFT_REQUEST_ID] for r in csvio.read_csv_path(path).to_dict("records")} == ids


def test_an_unknown_outcome_on_one_host_is_held_on_another(make_sandbox, tmp_path):
    sb = make_sandbox(faults=Faults(error_500_after_create=1.0))  # created, but the answer is a 500
    path = tmp_path / "list.csv"
    write_list(path, list(range(5)))
    original = path.read_bytes()
    a = run_cli(tmp_path, host_env(tmp_path, "a", sb), *send_args(sb, path), timeout=120)
    assert a.returncode == 0 and "unknown outcome 5" in a.stdout, a.stdout
    sb.faults = Faults()
    path.write_bytes(original)
    b = run_cli(tmp_path, host_env(tmp_path, "b", sb), *send_args(sb, path), timeout=120)
    assert b.returncode == 0, b.stderr
    assert "0 to send" in b.stdout and "5 waiting for a check in &Open" in b.stdout
    assert sum(gift_counts(sb).values()) == 5
    rows = csvio.read_csv_path(path).to_dict("records")
    assert all(r[SEND_ERROR].startswith("Unknown outcome") for r in rows)


def _signed(event_id: str, gift: dict, event_type: str) -> tuple[dict, bytes]:
    body = json.dumps(gift).encode()
    ts = str(int(time.time()))
    return (
        {
            "AndOpen-Webhook-Signature": sign(SECRET, ts, body),
            "AndOpen-Webhook-Dispatch-Timestamp": ts,
            "AndOpen-Webhook-Event-Id": event_id,
            "AndOpen-Webhook-Event-Type": event_type,
            "Content-Type": "application/json",
        },
        body,
    )


class Receiver:
    """`python -m lib.cli webhooks` on a host of its own."""

    def __init__(self, tmp_path: Path, host: str) -> None:
        self.port = closed_port()
        self.proc = subprocess.Popen(
            [*CLI, "webhooks", "--port", str(self.port)],
            cwd=tmp_path,
            env=host_env(tmp_path, host, ANDOPEN_WEBHOOK_SECRET=SECRET),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        assert until(self._up, timeout=30), "the receiver never started"

    def _up(self) -> bool:
        try:
            return requests.get(self.url + "/health", timeout=1).ok
        except requests.RequestException:
            return False

    def post(self, headers: dict, body: bytes) -> requests.Response:
        return requests.post(self.url + "/webhooks/andopen", data=body, headers=headers, timeout=30)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.communicate(timeout=30)


@pytest.mark.slow
def test_a_receiver_on_one_host_and_status_on_another_agree(make_sandbox, tmp_path):
    sb = make_sandbox()
    path = tmp_path / "list.csv"
    write_list(path, list(range(4)))
    assert run_cli(tmp_path, host_env(tmp_path, "sender", sb), *send_args(sb, path), timeout=120).returncode == 0
    gifts = {g["recipient"]["email"]: g for gs in sb.gifts_by_email().values() for g in gs}
    receiver = Receiver(tmp_path, "receiver")
    try:
        for email, status in [
            ("person0@example.com", "delivered"),
            ("person1@example.com", "cancelled"),
            ("person2@example.com", "redeemed"),
        ]:
            r = receiver.post(*_signed(str(uuid.uuid4()), {**gifts[email], "status": status}, f"gift_request_{status}"))
            assert r.status_code == 200, r.text
    finally:
        receiver.stop()
    status = run_cli(tmp_path, host_env(tmp_path, "reporter"), "status", str(path), timeout=120)
    assert status.returncode == 0, status.stderr
    rows = {r["Email"]: r[GIFT_STATUS] for r in csvio.read_csv_path(path).to_dict("records")}
    assert rows == {
        "person0@example.com": "Delivered",
        "person1@example.com": "Cancelled",
        "person2@example.com": "Redeemed",
        "person3@example.com": "Submitted",
    }


@pytest.mark.slow
def test_concurrent_deliveries_to_several_receivers_store_each_event_once(tmp_path):
    receivers = [Receiver(tmp_path, f"r{i}") for i in range(3)]
    try:
        deliveries = []
        for g in range(60):
            gift = {
                "id": f"gift-{g}",
                "status": "submitted",
                "recipient": {"email": f"p{g}@example.com"},
                "updated_at": "2026-11-01T10:00:00.000Z",
            }
            for n, status in enumerate(["redeemed", "dispatched", "delivered"]):
                deliveries.append(
                    _signed(
                        f"ev-{g}-{status}",
                        {**gift, "status": status, "updated_at": f"2026-11-01T1{n + 1}:00:00.000Z"},
                        f"gift_request_{status}",
                    )
                )
        answers: list[tuple[str, str]] = []
        lock = threading.Lock()

        def deliver_everything_to(receiver: Receiver) -> None:
            for headers, body in reversed(deliveries) if receiver is receivers[1] else deliveries:
                r = receiver.post(headers, body)
                with lock:
                    answers.append((headers["AndOpen-Webhook-Event-Id"], r.json().get("status", r.text)))

        threads = [threading.Thread(target=deliver_everything_to, args=(r,)) for r in receivers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        for r in receivers:
            r.stop()
    assert len(answers) == 3 * 180
    accepted = [e for e, s in answers if s == "accepted"]
    assert sorted(accepted) == sorted({e for e, _ in answers}), "an event was accepted twice, or never"
    assert {s for _, s in answers} == {"accepted", "duplicate"}
    store = shared_store(tmp_path)
    try:
        assert len(store.events()) == 180
        assert {g.status for g in store.gifts()} == {"delivered"} and len(store.gifts()) == 60
    finally:
        store.close()


def test_an_unreachable_database_is_one_clear_error_and_nothing_is_sent(make_sandbox, tmp_path):
    sb = make_sandbox()
    path = tmp_path / "list.csv"
    write_list(path, list(range(3)))
    before = path.read_bytes()
    port = closed_port()
    env = host_env(tmp_path, "a", sb, GIFTRUN_DATABASE_URL=f"postgresql://giftrun:s3cret-pass@127.0.0.1:{port}/team")
    proc = run_cli(tmp_path, env, *send_args(sb, path), timeout=120)
    assert proc.returncode == 1
    assert f"127.0.0.1:{port}/team" in proc.stderr and "s3cret-pass" not in proc.stderr + proc.stdout
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert sb.gifts_by_email() == {} and path.read_bytes() == before


@pytest.mark.slow
def test_a_database_lost_mid_run_stops_the_run_and_nothing_sent_looks_unsent(make_sandbox, tmp_path, http):
    """The network to the database drops during a run: the run stops; every gift &Open made is
    on a journal line that is sent, or in flight (unknown at the next look), never free to send."""
    from sqlalchemy.engine import make_url

    from lib.andopen import AndOpenClient

    sb = make_sandbox(faults=Faults(latency=0.05))
    url = make_url(backends.database_url())
    proxy = TcpProxy(url.port or 5432)
    via_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    schema = backends.schema_for(tmp_path / "db")
    store = Store(via_proxy, schema=schema, retry_seconds=1)  # it never comes back: stop after 1 s of waiting
    items = [SendItem(str(i), Recipient(f"First{i}", f"Last{i}", f"person{i}@example.com")) for i in range(200)]
    run = SendRun(AndOpenClient(http, sb.token, sb.url), store, "list-x", items, sb.campaign_ids[0], rate=40)
    run.begin()
    done = threading.Thread(target=lambda: _swallow(run.execute), daemon=True)
    done.start()
    assert until(lambda: sum(gift_counts(sb).values()) >= 20, timeout=60)
    proxy.cut()
    done.join(60)
    assert not done.is_alive(), "the run did not stop when the database went away"
    assert run.snapshot().state == "stopped"
    assert len(gift_counts(sb)) < 200
    with pytest.raises(StoreUnavailable):
        store.journal("list-x")
    store.close()

    direct = shared_store(tmp_path)  # the database is back (reached directly)
    try:
        journal = direct.journal("list-x")
        for email in gift_counts(sb):
            entry = journal.get(normalize_email(email))
            assert entry is not None and entry.state in (SendState.SENT, SendState.ATTEMPTING), (email, entry)
        assert_nobody_gifted_twice(sb)
    finally:
        direct.close()


def _swallow(fn) -> None:
    try:
        fn()
    except Exception:
        pass
