"""A database blip is a pause, on a real PostgreSQL (a private cluster: these stop and starve it).

Stopped and started mid-run, restarted, its backends terminated, every connection slot taken:
the run waits ("Waiting for the database…" in its progress), goes on when the database is back,
and ends with every row sent once, journalled with &Open's id and on its row, nothing unknown.
A gift &Open created while the database was away keeps its id. A database that stays away
stops the run with one line after the retry window, the created gifts still on their rows."""

from __future__ import annotations

import csv
import subprocess
import threading
import uuid
from collections.abc import Callable

import psycopg
import pytest

from lib.andopen import AndOpenClient
from lib.models import Recipient, SendState, iso, normalize_email, utcnow
from lib.ratelimit import RetryPolicy
from lib.sandbox import Faults
from lib.sending import SendItem, SendRun
from lib.sources import csv_list_key
from lib.store import Store
from lib.writeback import GIFT_REQUEST_ID
from tests.pg_cluster import PgCluster, private_cluster
from tests.support import (
    CLI,
    RecordingSink,
    assert_nobody_gifted_twice,
    cli_env,
    cli_in_process,
    gift_counts,
    until,
)

pytestmark = [pytest.mark.slow, pytest.mark.private_store]  # a cluster of its own, stopped and started
pg_cluster = pytest.fixture(scope="module")(private_cluster)

ROWS = 60
FAST = RetryPolicy(base=0.01, cap=0.05)


def people(n: int) -> list[SendItem]:
    return [SendItem(str(i), Recipient(f"First{i}", f"Last{i}", f"person{i}@example.com")) for i in range(n)]


class Watched:
    """A run on its own thread, with every 'waiting' its progress showed."""

    def __init__(self, run: SendRun) -> None:
        self.run = run
        self.waits: list[str] = []
        run.begin()
        self.thread = threading.Thread(target=run.execute, daemon=True)
        self.thread.start()
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while self.thread.is_alive():
            if (w := getattr(self.run.snapshot(), "waiting", "")) and (not self.waits or self.waits[-1] != w):
                self.waits.append(w)
            self.thread.join(0.02)

    def join(self, timeout: float = 90) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the run did not end"


def start_run(cluster: PgCluster, sb, http, sink: RecordingSink, *, wait: float = 30) -> tuple[Watched, Store]:
    store = Store(cluster.url, schema=f"blip_{uuid.uuid4().hex[:12]}", retry_seconds=wait)
    client = AndOpenClient(http, sb.token, sb.url)
    run = SendRun(client, store, "list-x", people(ROWS), sb.campaign_ids[0], rate=40, sink=sink, policy=FAST)
    return Watched(run), store


def assert_every_row_sent_once_with_its_id(sb, store: Store, sink: RecordingSink, watched: Watched) -> None:
    p = watched.run.snapshot()
    assert p.state == "completed", p
    assert (p.sent, p.unknown, p.failed) == (ROWS, 0, 0), p
    assert_nobody_gifted_twice(sb)
    gifts = {e: g[0]["id"] for e, g in sb.gifts_by_email().items()}
    assert len(gifts) == ROWS
    journal = store.journal("list-x")
    rows = sink.rows()
    for item in people(ROWS):
        email = normalize_email(item.recipient.email)
        assert journal[email].state == SendState.SENT and journal[email].gift_request_id == gifts[email], journal[email]
        assert rows[item.row_key][GIFT_REQUEST_ID] == gifts[email]


@pytest.fixture(autouse=True)
def _cluster_up_again(pg_cluster):
    """Whatever a test did to the cluster, the next one finds it running."""
    yield
    pg_cluster.ensure_running()


def _mid_run(sb, at: int = 15) -> None:
    assert until(lambda: sum(gift_counts(sb).values()) >= at, timeout=60)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_database_stopped_and_started_mid_run_pauses_the_run_and_loses_no_gift(
    pg_cluster,
    make_sandbox,
    http,
    mode,
):
    sb = make_sandbox(faults=Faults(latency=0.3))  # requests in flight when the database goes
    sink = RecordingSink()
    watched, store = start_run(pg_cluster, sb, http, sink)
    try:
        _mid_run(sb)
        away = iso(utcnow())
        pg_cluster.stop(mode)
        until(lambda: watched.waits or not watched.thread.is_alive(), timeout=10)
        pg_cluster.start()
        back = iso(utcnow())
        watched.join()
        assert_every_row_sent_once_with_its_id(sb, store, sink, watched)
        assert watched.waits and all(w.startswith("Waiting for the database…") for w in watched.waits), watched.waits
        # Answers that arrived while the database was away: their ids were kept, journalled later.
        answered_away = [e for e in store.journal("list-x").values() if away <= (e.finished_at or "") <= back]
        assert answered_away, "no answer arrived while the database was away: the test proved nothing"
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(lambda c: c.restart("fast"), id="restarted"),
        pytest.param(
            lambda c: [
                c.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name='giftrun'")
                for _ in range(5)
            ],
            id="backends-terminated",
        ),
    ],
)
def test_a_restart_or_killed_backends_mid_run_lose_nothing(
    pg_cluster,
    make_sandbox,
    http,
    fault: Callable[[PgCluster], object],
):
    sb = make_sandbox(faults=Faults(latency=0.05))
    sink = RecordingSink()
    watched, store = start_run(pg_cluster, sb, http, sink)
    try:
        _mid_run(sb)
        fault(pg_cluster)
        watched.join()
        assert_every_row_sent_once_with_its_id(sb, store, sink, watched)
    finally:
        store.close()


@pytest.mark.slow
def test_a_full_connection_table_pauses_the_run_until_slots_free_up(pg_cluster, make_sandbox, http):
    sb = make_sandbox(faults=Faults(latency=0.05))
    sink = RecordingSink()
    watched, store = start_run(pg_cluster, sb, http, sink)
    held: list[psycopg.Connection] = []

    def take_every_free_slot() -> None:
        while True:
            try:
                held.append(psycopg.connect(pg_cluster.url, connect_timeout=5))
            except psycopg.OperationalError:
                return

    try:
        _mid_run(sb)
        take_every_free_slot()
        admin = held[0]
        admin.autocommit = True
        # The run's own connections go too (as after a failover); their slots are taken at once.
        for _ in range(20):
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name='giftrun'")
            take_every_free_slot()
            if until(lambda: any("too many clients" in w for w in watched.waits), timeout=0.2):
                break
        assert any("too many clients" in w for w in watched.waits), watched.waits
        assert sum(gift_counts(sb).values()) < ROWS
        for conn in held:
            conn.close()
        held.clear()
        watched.join()
        assert_every_row_sent_once_with_its_id(sb, store, sink, watched)
    finally:
        for conn in held:
            conn.close()
        store.close()


@pytest.mark.slow
def test_a_database_that_stays_away_stops_the_cli_with_one_line_and_every_gift_keeps_its_id(
    pg_cluster,
    make_sandbox,
    tmp_path,
):
    """The CLI pauses, says so, gives up after GIFTRUN_DATABASE_RETRY_SECONDS with one line (exit 1);
    every gift &Open made is on its row with its id, no row that was never sent says unknown; once
    the database is back, the next run journals those ids (no row left unknown) and sends the rest."""
    sb = make_sandbox(faults=Faults(latency=0.3))
    path = tmp_path / "list.csv"
    write_list(path)
    schema = f"cli_{uuid.uuid4().hex[:12]}"
    env = cli_env(
        tmp_path / "data",
        sb,
        GIFTRUN_DATABASE_URL=pg_cluster.url,
        GIFTRUN_DATABASE_SCHEMA=schema,
        GIFTRUN_DATABASE_RETRY_SECONDS="2",
    )
    args = ("send", str(path), "--campaign", sb.campaign_ids[0], "--rate", "20")
    proc = subprocess.Popen(
        [*CLI, *args], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        _mid_run(sb, at=10)
        pg_cluster.stop("immediate")
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert "Traceback" not in out + err, out + err
    assert proc.returncode == 1, out + err
    assert "Waiting for the database…" in out, out
    stopped = [line for line in out.splitlines() if line.startswith("Run stopped:")]
    assert len(stopped) == 1 and "did not come back within 2 s" in stopped[0], out
    gifts = {e: g[0]["id"] for e, g in sb.gifts_by_email().items()}
    assert 0 < len(gifts) < ROWS
    assert f"Sent {len(gifts)} ·" in out, out  # the summary counts what &Open created
    rows = {normalize_email(r["Email"]): r for r in csv.DictReader(open(path, encoding="utf-8"))}
    for email, row in rows.items():
        assert row.get("Gift request ID", "") == gifts.get(email, ""), (email, row)
        assert "Unknown outcome" not in row.get("Send error", ""), (email, row)

    pg_cluster.start()
    again = cli_in_process(tmp_path, env, *args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert_nobody_gifted_twice(sb)
    assert len(sb.gifts_by_email()) == ROWS
    store = Store(pg_cluster.url, schema=schema)
    try:
        journal = store.journal(csv_list_key(path))
        for email, gift in sb.gifts_by_email().items():
            assert journal[email].state == SendState.SENT and journal[email].gift_request_id == gift[0]["id"]
    finally:
        store.close()
    rows = {normalize_email(r["Email"]): r for r in csv.DictReader(open(path, encoding="utf-8"))}
    assert all(r["Gift request ID"] and not r.get("Send error") for r in rows.values()), rows


def write_list(path, rows: int = ROWS) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["First Name", "Last Name", "Email", "Approved"])
        w.writerows([f"First{i}", f"Last{i}", f"person{i}@example.com", "yes"] for i in range(rows))


@pytest.mark.slow
def test_a_send_started_while_the_database_restarts_waits_for_it_and_sends(pg_cluster, make_sandbox, tmp_path):
    """Opening the store waits out a blip as the run does, saying so: the database is stopped
    when `send` starts and started once the CLI says it waits; the run then sends every row."""
    sb = make_sandbox()
    path = tmp_path / "list.csv"
    write_list(path, 10)
    env = cli_env(
        tmp_path / "data",
        sb,
        GIFTRUN_DATABASE_URL=pg_cluster.url,
        GIFTRUN_DATABASE_SCHEMA=f"late_{uuid.uuid4().hex[:12]}",
        GIFTRUN_DATABASE_RETRY_SECONDS="60",
    )
    pg_cluster.stop("immediate")
    proc = subprocess.Popen(
        [*CLI, "send", str(path), "--campaign", sb.campaign_ids[0]],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the CLI's first line: blocks until it says something
        assert first.startswith("Waiting for the database…"), first
        pg_cluster.start()
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, first + out + err
    assert "Traceback" not in out + err
    assert len(sb.gifts_by_email()) == 10
    assert_nobody_gifted_twice(sb)
