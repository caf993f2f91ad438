"""Regression tests for the review fixes: nobody is gifted twice, and nothing is lost quietly.

Each test failed on the code before the fixes (703b0a3) and passes now:

1. a row carrying a `Gift request ID` is never sent again, even when this store's journal
   lacks it (a fresh GIFTRUN_DATA_DIR, a renamed copy of the results file, plan_rows itself);
2. an answer broken after the request went out is an unknown outcome, never retried;
3. two lists sent at the same moment gift each person once when a look-back is on;
4. Stop while rows wait to retry after 429s leaves no journal line ATTEMPTING;
5. the first `--clear-unknown` after a killed run clears the in-flight row;
6. after a run, the review still shows &Open's reason for a rejected row;
7. a store write failing inside a worker stops the run with a clear message;
8. the CLI prints no traceback, even for an exception it logs.

Real sandbox on 127.0.0.1, real SQLite store in tmp_path, `python -m lib.cli` as a real
subprocess where the scenario is a CLI one. Every wait is bounded.
"""

from __future__ import annotations

import csv
import shutil
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from lib import csvio
from lib import eligibility as elig
from lib import store as store_mod
from lib.andopen import AndOpenClient, NotSentError, UnknownOutcomeError
from lib.models import Recipient, SendState, normalize_email
from lib.plan import RowAction, plan_rows
from lib.ratelimit import RetryPolicy
from lib.recipients import check_rows
from lib.review import review
from lib.runtime import http_session
from lib.sandbox import Faults, Sandbox
from lib.sending import NOT_SENT_STOPPED, SendItem, SendRun
from lib.sources import csv_list_key, prepare, upload_list_key
from lib.store import Store
from lib.writeback import ELIGIBILITY, GIFT_REQUEST_ID, SEND_ERROR, SKIP_REASON
from tests import backends
from tests.support import REPO, RecordingSink, cli_env, gift_counts, posted_email, posts, run_cli, until

LIST = "test:never-twice"
FAST = RetryPolicy(base=0.02, cap=0.2)
HEADER = ["First Name", "Last Name", "Email", "Approved"]
RUN_TIMEOUT = 120


# -- helpers ------------------------------------------------------------------------------
def client_for(url: str, token: str, timeout=(5.0, 30.0)) -> AndOpenClient:
    session = http_session()
    session.trust_env = False  # loopback only, never a proxy
    return AndOpenClient(session, token, url, timeout=timeout)


def people(n: int, prefix: str = "p") -> list[SendItem]:
    return [SendItem(f"{prefix}{i}", Recipient(f"First{i}", f"Last{i}", f"{prefix}{i}@example.com")) for i in range(n)]


def write_list(path: Path, n: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows([f"First{i}", f"Last{i}", f"person{i}@example.com", "yes"] for i in range(n))


def cli(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return run_cli(tmp_path, env, *args, timeout=RUN_TIMEOUT)  # asserts: no traceback


def gift_ids_in(path: Path) -> dict[str, str]:
    return {normalize_email(r["Email"]): r[GIFT_REQUEST_ID] for r in csvio.read_csv_path(path).to_dict("records")}


class BrokenAnswerServer:
    """A raw-socket HTTP server on 127.0.0.1: reads each request whole, answers
    `201 Created` with Content-Length 500 but only 20 body bytes, then closes."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request read whole
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> BrokenAnswerServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    @property
    def posts(self) -> int:
        return sum(m == "POST" for m, _ in self.requests)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(5)
                try:
                    self._answer(conn)
                except OSError:
                    pass

    def _answer(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path = lines[0].split(" ")[:2]
        length = next(
            (
                int(v)
                for k, _, v in (line.partition(":") for line in lines[1:])
                if k.strip().lower() == "content-length"
            ),
            0,
        )
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return
            body += chunk
        self.requests.append((method, path))
        conn.sendall(
            b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"
            + b'{"id": "g1", "statu'
        )  # 20 of the 500 bytes promised
        conn.shutdown(socket.SHUT_RDWR)


# == 1. a gift id on the row blocks a resend, whatever the journal says ==================
@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
def test_a_fresh_data_dir_with_lookback_off_sends_nothing_already_on_the_rows(make_sandbox, tmp_path):
    """A CI runner starts with an empty GIFTRUN_DATA_DIR every time: the gift ids written
    into the file by the first run must keep the second run from gifting anyone again."""
    sb = make_sandbox()
    path = tmp_path / "list.csv"
    write_list(path, 3)
    args = ["send", "list.csv", "--campaign", sb.campaign_ids[0], "--rate", "50"]
    first = cli(tmp_path, cli_env(tmp_path / "data-day1", sb), *args)
    assert first.returncode == 0, first.stderr
    assert len(posts(sb)) == 3
    ids = gift_ids_in(path)
    assert all(ids.values()), ids

    proc = cli(tmp_path, cli_env(tmp_path / "data-day2", sb), *args, "--lookback", "off")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "0 to send" in proc.stdout and "3 already sent" in proc.stdout, proc.stdout
    assert "Sent 0 " in proc.stdout, proc.stdout
    assert len(posts(sb)) == 3, "a row carrying a Gift request ID was sent again"
    assert gift_counts(sb) == {f"person{i}@example.com": 1 for i in range(3)}
    assert gift_ids_in(path) == ids, "the gift ids on the rows changed"


@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
@pytest.mark.parametrize("lookback", ["30d", "off"])
def test_a_renamed_copy_of_the_results_file_sends_nothing(make_sandbox, tmp_path, lookback):
    """Another path is another list (another journal); the gift ids on its rows still count."""
    sb = make_sandbox()
    path = tmp_path / "leads.csv"
    write_list(path, 3)
    env = cli_env(tmp_path / "data", sb)
    assert cli(tmp_path, env, "send", "leads.csv", "--campaign", sb.campaign_ids[0], "--rate", "50").returncode == 0
    assert len(posts(sb)) == 3
    copy = tmp_path / "leads-results.csv"
    shutil.copy(path, copy)

    proc = cli(
        tmp_path, env, "send", copy.name, "--campaign", sb.campaign_ids[0], "--rate", "50", "--lookback", lookback
    )
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "0 to send" in proc.stdout, proc.stdout
    assert len(posts(sb)) == 3, "the renamed copy was sent again"
    assert gift_counts(sb) == {f"person{i}@example.com": 1 for i in range(3)}
    assert gift_ids_in(copy) == gift_ids_in(path)


def _checks(rows: list[list[str]]):
    df = pd.DataFrame(rows, columns=HEADER)
    loaded = prepare(df, list_key=upload_list_key("plan.csv"), name="plan.csv")
    return check_rows(loaded.frame, loaded.cmap, list(loaded.frame.index))


@pytest.mark.parametrize("gifted_row", [0, 1], ids=["gift id on the first row", "gift id on the second row"])
def test_plan_rows_holds_a_row_with_a_gift_id_and_its_duplicate_without_a_journal(gifted_row):
    checks = _checks(
        [
            ["Alice", "Smith", "alice@example.com", "yes"],
            ["Alice", "Smith", "ALICE@example.com ", "yes"],
            ["Bobby", "Jones", "bob@example.com", "yes"],
        ]
    )
    gifted, other = str(gifted_row), str(1 - gifted_row)
    plan = plan_rows(checks, {}, None, gift_ids={gifted: "gift-123", other: "", "2": ""})
    by_key = {r.row_key: r for r in plan.rows}

    assert by_key[gifted].action == RowAction.ALREADY_SENT, by_key[gifted]
    assert by_key[other].action == RowAction.DUPLICATE, by_key[other]
    assert "which was already sent" in by_key[other].message, by_key[other].message
    assert f"row {gifted_row + 2}," in by_key[other].message  # as the spreadsheet numbers it: the header is row 1
    assert by_key["2"].action == RowAction.SEND
    assert [i.row_key for i in plan.items] == ["2"], "only the row without a gift id may be sent"


# == 2. a broken answer after the request went out ========================================
@pytest.mark.usefixtures("store_backend")
def test_an_answer_cut_off_after_the_request_went_out_is_an_unknown_outcome(tmp_path):
    with BrokenAnswerServer() as srv:
        client = client_for(srv.url, "ao-v1-staging-brokenanswer", timeout=(2.0, 5.0))
        with pytest.raises(UnknownOutcomeError) as caught:
            client.create_gift_request("c", "Alice", "Smith", "alice@example.com")
        assert not isinstance(caught.value, NotSentError), "a request that went out was called never sent"
        assert srv.posts == 1

        store = backends.store(tmp_path / "data")
        try:
            item = SendItem("0", Recipient("Bobby", "Jones", "bob@example.com"))
            p = SendRun(client, store, LIST, [item], "c", policy=FAST).run()
            assert (p.state, p.unknown, p.failed, p.sent, p.retries) == ("completed", 1, 0, 0, 0), p
            assert srv.posts == 2, "a broken answer to a create was retried: a second gift"
            assert store.journal(LIST)["bob@example.com"].state == SendState.UNKNOWN
        finally:
            store.close()


# == 3. two lists at the same moment ======================================================
def _two_runs(sb: Sandbox, store: Store, *, lookback) -> tuple[list[SendRun], list[RecordingSink]]:
    """Two SendRuns over the same 20 people (one list reversed), started together."""
    common = people(20)
    lists = [
        ("list:anna", [SendItem(f"a{i}", it.recipient) for i, it in enumerate(common)]),
        ("list:ben", [SendItem(f"b{i}", it.recipient) for i, it in enumerate(common)][::-1]),
    ]
    client = client_for(sb.url, sb.token)
    sinks = [RecordingSink(), RecordingSink()]
    kw = {} if lookback == "default" else {"lookback_days": lookback}
    runs = [
        SendRun(client, store, key, items, sb.campaign_ids[0], rate=20, policy=FAST, sink=sink, **kw)
        for (key, items), sink in zip(lists, sinks)
    ]
    threads = [threading.Thread(target=r.run, daemon=True) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a run did not finish"
    return runs, sinks


@pytest.mark.slow
@pytest.mark.parametrize("lookback", [None, 30], ids=["forever", "30 days"])
def test_two_lists_sent_at_once_gift_each_person_once_with_a_lookback(make_sandbox, store, lookback):
    sb = make_sandbox(faults=Faults(latency=0.05))
    runs, sinks = _two_runs(sb, store, lookback=lookback)

    counts = gift_counts(sb)
    assert counts == {f"p{i}@example.com": 1 for i in range(20)}, "someone was gifted twice (or not at all)"
    progress = [r.snapshot() for r in runs]
    assert all(p.state == "completed" for p in progress), progress
    assert sum(p.sent for p in progress) == 20
    assert sum(p.skipped for p in progress) == 20, progress
    for run, p, sink in zip(runs, progress, sinks):
        skipped = {k: v for k, v in sink.rows().items() if v.get(ELIGIBILITY) == "skip"}
        assert len(skipped) == p.skipped, (p, skipped)
        for key, values in skipped.items():
            assert "another list" in values[SKIP_REASON], values
            assert not values.get(GIFT_REQUEST_ID)
        journal = store.journal(run.list_key)
        assert {e for e, j in journal.items() if j.state == SendState.SENT} == {
            normalize_email(i.recipient.email) for i in run.items if i.row_key not in skipped
        }


@pytest.mark.slow
@pytest.mark.parametrize("lookback", ["NO_LOOKBACK", "default"])
def test_with_the_lookback_off_both_lists_send(make_sandbox, store, lookback):
    """The switch: with the check off (the default), each list sends to everyone."""
    sb = make_sandbox(faults=Faults(latency=0.05))
    runs, _ = _two_runs(sb, store, lookback=store_mod.NO_LOOKBACK if lookback == "NO_LOOKBACK" else lookback)
    assert all(r.lookback_days is store_mod.NO_LOOKBACK for r in runs)
    assert gift_counts(sb) == {f"p{i}@example.com": 2 for i in range(20)}
    assert [(r.snapshot().sent, r.snapshot().skipped) for r in runs] == [(20, 0), (20, 0)]


def test_an_override_lets_that_person_through_the_send_time_lookback(make_sandbox, store):
    sb = make_sandbox()
    client = client_for(sb.url, sb.token)
    items = people(2)
    assert SendRun(client, store, "list:anna", items, sb.campaign_ids[0], policy=FAST).run().sent == 2
    store.record_override("list:ben", "P0@example.com", "ben@team", "asked for a second gift")

    sink = RecordingSink()
    p = SendRun(client, store, "list:ben", items, sb.campaign_ids[0], policy=FAST, sink=sink, lookback_days=None).run()
    assert (p.sent, p.skipped) == (1, 1), p
    assert gift_counts(sb) == {"p0@example.com": 2, "p1@example.com": 1}
    assert sink.rows()["p1"][ELIGIBILITY] == "skip" and "another list" in sink.rows()["p1"][SKIP_REASON]


# == 4. stop while rows wait to retry after 429s ==========================================
@pytest.mark.slow
def test_stop_while_rows_wait_to_retry_after_429s_leaves_nothing_attempting(make_sandbox, store):
    sb = make_sandbox(faults=Faults(rate_limit=0.2))  # one per 5 s: a refused row waits Retry-After (5 s)
    items = people(40)
    run = SendRun(
        client_for(sb.url, sb.token),
        store,
        LIST,
        items,
        sb.campaign_ids[0],
        rate=20,
        concurrency=8,
        policy=FAST,
        sink=RecordingSink(),
    )
    started = time.monotonic()
    threading.Thread(target=run.run, daemon=True).start()
    assert until(lambda: sum(r.status == 429 for r in posts(sb)) >= 1, timeout=15), "never throttled"
    time.sleep(max(0.0, 2.0 - (time.monotonic() - started)))
    run.stop()
    assert run.wait(15), "the run did not stop"

    journal, gifts = store.journal(LIST), sb.gifts_by_email()
    assert run.snapshot().state == "stopped"
    attempting = [e for e, j in journal.items() if j.state == SendState.ATTEMPTING]
    assert not attempting, f"left ATTEMPTING after the run ended: {attempting}"
    failed = [e for e, j in journal.items() if j.state == SendState.FAILED]
    assert failed, "no row was waiting to retry: the test proves nothing"
    for e in failed:
        assert journal[e].error == NOT_SENT_STOPPED, journal[e]
        assert e not in gifts, f"{e} is FAILED (safe to send again) but the sandbox created a gift"
    assert {e for e, j in journal.items() if j.state == SendState.SENT} == set(gifts)
    assert store.mark_orphans_unknown(LIST) == 0


# == 5. --clear-unknown right after a kill ================================================
@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
def test_the_first_clear_unknown_after_a_killed_run_clears_the_in_flight_row(make_sandbox, tmp_path):
    sb = make_sandbox()
    path = tmp_path / "list.csv"
    write_list(path, 1)
    data = tmp_path / "data"
    key = csv_list_key(path)
    # The killed run: its run row is "running", its process is gone.
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from tests import backends; "
            "print(backends.store(sys.argv[1]).acquire_run(sys.argv[2], 'cli'))",
            str(data),
            key,
        ],
        cwd=REPO,
        env=cli_env(data),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip()
    store = backends.store(data)
    try:
        assert store.begin_attempt(
            key,
            Recipient("First0", "Last0", "person0@example.com"),
            row_key="0",
            campaign_id=sb.campaign_ids[0],
            run_id=run_id,
        )
        assert store.journal(key)["person0@example.com"].state == SendState.ATTEMPTING
    finally:
        store.close()

    out = cli(
        tmp_path,
        cli_env(data, sb),
        "send",
        "list.csv",
        "--campaign",
        sb.campaign_ids[0],
        "--clear-unknown",
        "person0@example.com",
    )
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert "Cleared the unknown outcome for person0@example.com" in out.stdout, out.stdout
    assert "No unknown outcome recorded" not in out.stdout
    assert [posted_email(r) for r in posts(sb)] == ["person0@example.com"]
    assert gift_ids_in(path)["person0@example.com"] == sb.gifts_by_email()["person0@example.com"][0]["id"]


# == 6. &Open's reason for a rejection survives the review after the run ==================
@pytest.mark.slow
def test_the_review_after_a_run_still_shows_andopens_rejection(make_sandbox, store):
    sb = make_sandbox()
    df = pd.DataFrame(
        [["Alice", "Smith", "alice@example.com", "yes"], ["Carol", "King", "carol@example.com", "yes"]], columns=HEADER
    )
    loaded = prepare(df, list_key=upload_list_key("leads.csv"), name="leads.csv")
    # Carol's address went out with a stray space (straight through SendRun): &Open says 422.
    items = [
        SendItem("0", Recipient("Alice", "Smith", "alice@example.com")),
        SendItem("1", Recipient("Carol", "King", "carol@example.com ")),
    ]
    p = SendRun(client_for(sb.url, sb.token), store, loaded.list_key, items, sb.campaign_ids[0], policy=FAST).run()
    assert (p.sent, p.rejected) == (1, 1), p
    assert store.journal(loaded.list_key)["carol@example.com"].state == SendState.REJECTED

    rev = review(loaded, store, elig.parse_window("30d"))
    error = rev.frame.loc["1", SEND_ERROR]
    assert "&Open rejected this row" in error and "recipient.email" in error, repr(error)
    actions = {r.row_key: r.action for r in rev.plan.rows}
    assert actions == {"0": RowAction.ALREADY_SENT, "1": RowAction.SEND}, actions
    assert [i.row_key for i in rev.plan.items] == ["1"], "the rejected row must be sendable again"
    assert rev.frame.loc["0", GIFT_REQUEST_ID] == sb.gifts_by_email()["alice@example.com"][0]["id"]


# == 7. a store write failing inside a worker =============================================
@pytest.mark.slow
def test_a_store_write_failing_in_a_worker_stops_the_run_and_the_gift_keeps_its_id(make_sandbox, store, monkeypatch):
    sb = make_sandbox()
    died: list = []
    monkeypatch.setattr(threading, "excepthook", lambda args: died.append(args.exc_value))
    real = store.record_outcome
    calls = {"n": 0}

    def record_outcome(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise sqlite3.OperationalError("database is locked")
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "record_outcome", record_outcome)
    items = people(30)
    sink = RecordingSink()
    run = SendRun(
        client_for(sb.url, sb.token),
        store,
        LIST,
        items,
        sb.campaign_ids[0],
        rate=20,
        concurrency=4,
        policy=FAST,
        sink=sink,
    )
    p = run.run()

    assert not died, f"a worker thread died: {died!r}"
    assert p.state == "stopped", p
    assert "store" in p.message and "OperationalError" in p.message, p.message
    assert calls["n"] >= 1
    journal = store.journal(LIST)
    assert len(gift_counts(sb)) < len(items), "the run went on after the store failed"
    # The gift whose journal write failed keeps its id: on its row at once, in the journal when the
    # store took writes again (at the end of the run), and counted in the summary.
    gifts = {e: g[0]["id"] for e, g in sb.gifts_by_email().items()}
    assert p.sent == len(gifts), (p, gifts)
    rows = sink.rows()
    by_email = {normalize_email(i.recipient.email): i.row_key for i in items}
    for email, gift_id in gifts.items():
        assert journal[email].state == SendState.SENT and journal[email].gift_request_id == gift_id, journal[email]
        assert rows[by_email[email]][GIFT_REQUEST_ID] == gift_id
    assert not [e for e, j in journal.items() if j.state in (SendState.ATTEMPTING, SendState.UNKNOWN)]
    assert store.mark_orphans_unknown(LIST) == 0
    assert max(gift_counts(sb).values()) == 1


# == 8. the CLI never prints a traceback, even for a logged exception =====================
BUGGY_CLI = textwrap.dedent("""
    import sys
    from lib.andopen import AndOpenClient

    def create_gift_request(self, *args, **kwargs):
        raise RuntimeError("a bug in the client")

    AndOpenClient.create_gift_request = create_gift_request  # the sender logs it with log.exception
    from lib.cli import main
    sys.exit(main(sys.argv[1:]))
""")


@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
def test_the_cli_prints_no_traceback_for_an_exception_it_logs(make_sandbox, tmp_path):
    """`python -m lib.cli`'s own main(), in a subprocess whose client has a bug: the sender
    logs it with log.exception; with --verbose (log lines are shown only then) the CLI's log
    output must stay one line per problem."""
    sb = make_sandbox()
    path = tmp_path / "list.csv"
    write_list(path, 2)
    proc = subprocess.run(
        [sys.executable, "-c", BUGGY_CLI, "send", "list.csv", "--campaign", sb.campaign_ids[0], "--verbose"],
        cwd=tmp_path,
        env=cli_env(tmp_path / "data", sb),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert "unexpected error while sending" in proc.stderr, (proc.stdout, proc.stderr)  # the log line is there
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    assert 'File "' not in proc.stderr, proc.stderr
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "unknown outcome 2" in proc.stdout, proc.stdout
    assert posts(sb) == []
