"""A Google Sheet as source, destination and shared history store (issue 6), end to end:
the CLI in a real subprocess, real gspread through the emulator switch
(SHEETS_EMULATOR_HOST) to the fake Sheets API (tests/fake_sheets.py), the sandbox started
in this process, real SQLite stores in tmp_path, a real webhook receiver on 127.0.0.1.

Nothing here asserts timing; every wait is bounded.
"""

from __future__ import annotations

import csv
import json
import random
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pandas as pd
import pytest
import requests

from lib import eligibility as elig
from lib import sheet_source, sheets
from lib.models import EventSource, StatusEvent, iso, normalize_email, utcnow
from lib.sandbox import Sandbox
from lib.settings import Settings
from lib.sheet_source import history_mirror, import_shared_history, load_sheet, mirror_events
from lib.store import Store
from lib.webhooks import receiver_app, sign
from lib.writeback import (
    ELIGIBILITY,
    GIFT_REQUEST_ID,
    GIFT_STATUS,
    REDEMPTION_URL,
    RESULT_COLUMNS,
    SEND_ERROR,
    SENT_AT,
    SKIP_REASON,
)
from tests import backends, support
from tests.fake_sheets import FakeSheets, Formula
from tests.support import CLI, assert_nobody_gifted_twice, posts, run_cli

KEY = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"
HISTORY_KEY = "1HistVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2hist"
TAB = "People"
HEADER = ["First Name", "Last Name", "Email", "Approved", "Notes"]
SA_EMAIL = "giftrun-bot@acme-project.iam.gserviceaccount.com"
SECRET = "whsec_test_0123456789abcdef"
RUN_TIMEOUT = 180


def url(key: str = KEY) -> str:
    return f"https://docs.google.com/spreadsheets/d/{key}/edit#gid=0"


until = partial(support.until, step=0.05)


@pytest.fixture
def sb():
    with Sandbox() as sandbox:
        yield sandbox


def cli_env(data_dir: Path, sb: Sandbox, fake: FakeSheets, **overrides: str) -> dict[str, str]:
    """The shared CLI environment, reaching the fake Sheets API as a service account."""
    return support.cli_env(
        data_dir,
        sb,
        **{
            "SHEETS_EMULATOR_HOST": fake.host,
            "GOOGLE_SERVICE_ACCOUNT_JSON": json.dumps({"type": "service_account", "client_email": SA_EMAIL}),
            **overrides,
        },
    )


def cli(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return run_cli(cwd, env, *args, timeout=RUN_TIMEOUT)


def popen(cwd: Path, env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen([*CLI, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the CLI run did not end in time:\n{out}\n{err}")
    assert "Traceback" not in out + err, err
    return proc.returncode, out, err


def people(n: int) -> list[list[str]]:
    return [[f"First{i:03d}", f"Last{i:03d}", f"person{i:03d}@example.com", "yes", f"note {i}"] for i in range(n)]


def table(fake: FakeSheets, key: str = KEY, tab: str = TAB) -> list[dict[str, str]]:
    return fake.table(key, tab)


def by_email(fake: FakeSheets, key: str = KEY) -> dict[str, dict[str, str]]:
    return {normalize_email(r["Email"]): r for r in table(fake, key) if r.get("Email")}


def assert_results_on_their_rows(fake: FakeSheets, sb: Sandbox, emails: list[str]) -> None:
    """Every sent person's row carries that person's gift (by email, from the sandbox)."""
    assert_nobody_gifted_twice(sb)
    gifts = sb.gifts_by_email()
    rows = by_email(fake)
    wrong = {}
    for email in emails:
        [gift] = gifts[email]
        r = rows[email]
        got = (r.get(GIFT_REQUEST_ID), r.get(REDEMPTION_URL), r.get(GIFT_STATUS), r.get(SEND_ERROR))
        if got != (gift["id"], gift["redemption_url"], "Submitted", ""):
            wrong[email] = got
    assert not wrong, f"{len(wrong)} rows carry the wrong result: {dict(list(wrong.items())[:5])}"


# -- load_sheet ------------------------------------------------------------------------------
def test_load_sheet_reads_text_and_keys_rows_by_identity(fake, tmp_path):
    fake.create_spreadsheet(
        KEY,
        {
            TAB: [
                HEADER,
                ["Ann", "Lee", "Ann@Example.com ", "yes", "00123"],
                ["", "", "", "", ""],
                ["Ann", "Lee", "ann@example.com", "no", "=1+1"],
                ["Bo", "Ng", "", "yes", "1e5"],
            ]
        },
        title="Leads",
    )
    client = sheets.make_client(None, emulator_host=fake.host, timeout=10)
    loaded, sink = load_sheet(url(), Settings(data_dir=tmp_path), client=client)
    assert loaded.list_key == f"sheet:{KEY}:0" and loaded.name == "Leads / People"
    assert list(loaded.frame.index) == ["ann@example.com#1", "ann@example.com#2", "#name:bo|ng#1"]
    assert list(loaded.frame["Notes"]) == ["00123", "=1+1", "1e5"]
    assert list(loaded.frame.columns) == HEADER + list(RESULT_COLUMNS)
    assert isinstance(sink, sheets.SheetSink) and sink.email_col == "Email"
    assert fake.writes == 0, "opening a list wrote to it"


# -- send to a sheet, like the CSV path ---------------------------------------------------------
FORMULA_NOTE = '=HYPERLINK("http://evil.example","click me")'
MIXED = [
    ["Alice", "Smith", "alice@example.com", "yes", FORMULA_NOTE],  # sent
    ["Bob", "Jones", "bob@example.com", "no", "00123"],  # not approved
    ["=SUM(1,2)", "King", "carol@example.com", "yes", "+1 555"],  # sent; its name looks like a formula
    ["Eve", "Moss", "eve@example", "yes", "=A1"],  # invalid email
    ["Frank", "Ng", "frank@example.com", "TRUE", ""],  # sent
]


@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
def test_send_to_a_sheet_works_like_the_csv_path(fake, sb, tmp_path):
    fake.create_spreadsheet(KEY, {TAB: [HEADER, *MIXED], "Other tab": [["keep me"]]})
    env = cli_env(tmp_path / "data", sb, fake)
    args = ("send", url(), "--campaign", sb.campaign_ids[0], "--rate", "50")

    proc = cli(tmp_path, env, *args)

    assert proc.returncode == 0, proc.stderr
    assert "3 to send, 1 not approved, 1 invalid" in proc.stdout, proc.stdout
    assert "Sent 3 · rejected 0 · unknown outcome 0" in proc.stdout
    values = fake.rows(KEY, TAB, render="FORMULA")
    # result columns after the user's last column, in the contract's order; user cells untouched
    assert values[0] == HEADER + list(RESULT_COLUMNS)
    assert [r[: len(HEADER)] + [""] * (len(HEADER) - len(r[: len(HEADER)])) for r in values[1:]] == MIXED
    with fake.lock:
        grid = fake.spreadsheets[KEY].sheets[0].grid
        formulas = [(i, j) for i, row in enumerate(grid) for j, c in enumerate(row) if isinstance(c, Formula)]
    assert formulas == [], "formula-like text became a formula"
    assert fake.rows(KEY, TAB) == values, "a cell renders differently from its text"
    assert fake.rows(KEY, "Other tab") == [["keep me"]]

    assert_results_on_their_rows(fake, sb, ["alice@example.com", "carol@example.com", "frank@example.com"])
    rows = by_email(fake)
    assert "eve@example" in rows["eve@example"][SEND_ERROR] and rows["eve@example"][GIFT_REQUEST_ID] == ""
    assert (rows["bob@example.com"][GIFT_REQUEST_ID], rows["bob@example.com"][SEND_ERROR]) == ("", "")
    assert all(rows[e][SENT_AT] for e in ("alice@example.com", "carol@example.com", "frank@example.com"))
    assert sb.gifts_by_email()["carol@example.com"][0]["recipient"]["first_name"] == "=SUM(1,2)"

    # the Gift history tab: created, one row per send event
    history = fake.table(KEY, sheets.HISTORY_TITLE)
    assert fake.rows(KEY, sheets.HISTORY_TITLE)[0] == list(sheets.HISTORY_HEADER)
    gifts = sb.gifts_by_email()
    assert sorted(
        (h["Email"], h["Gift request ID"], h["Source"], h["Status"], h["Event id"]) for h in history
    ) == sorted((e, g[0]["id"], "send", "submitted", f"send:{g[0]['id']}") for e, g in gifts.items())

    # again: nothing is sent, nothing changes, no history row is appended twice
    before = fake.rows(KEY, TAB)
    proc = cli(tmp_path, env, *args)
    assert proc.returncode == 0, proc.stderr
    assert "0 to send" in proc.stdout and "3 already sent" in proc.stdout, proc.stdout
    assert len(posts(sb)) == 3, "the second run sent again"
    assert fake.rows(KEY, TAB) == before
    assert len(fake.table(KEY, sheets.HISTORY_TITLE)) == 3


@pytest.mark.usefixtures("store_backend")
@pytest.mark.parametrize("case", ["not shared", "missing"])
def test_an_unusable_sheet_is_one_clear_line(fake, sb, tmp_path, case):
    fake.create_spreadsheet(KEY, {TAB: [HEADER, *people(3)]})
    target = KEY
    if case == "not shared":
        fake.set_shared(KEY, False)
    else:
        target = KEY[:-4] + "gone"
    proc = cli(tmp_path, cli_env(tmp_path / "data", sb, fake), "send", url(target), "--campaign", sb.campaign_ids[0])

    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    [line] = [l for l in proc.stderr.splitlines() if l.strip()]
    if case == "not shared":
        assert SA_EMAIL in line and "share" in line.lower(), line
    else:
        assert "No Google Sheet was found" in line and target in line, line
    assert posts(sb) == []
    assert fake.writes == 0


# -- rows inserted during a run ----------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
def test_rows_inserted_above_and_sorted_during_a_run_keep_every_result_on_its_row(fake, sb, tmp_path):
    n = 60
    fake.create_spreadsheet(KEY, {TAB: [HEADER, *people(n)]})
    rng = random.Random(7)
    proc = popen(
        tmp_path, cli_env(tmp_path / "data", sb, fake), "send", url(), "--campaign", sb.campaign_ids[0], "--rate", "10"
    )
    inserted = sorts = 0
    try:
        assert until(lambda: len(posts(sb)) >= 1 or proc.poll() is not None, 60), "the run never started"
        # insert rows above people (at the top and in the middle) until shortly before the end;
        # the last flush and the settle then happen without edits in between
        while proc.poll() is None and len(posts(sb)) < n - 10:
            at = 2 if inserted % 2 == 0 else rng.randint(2, n + inserted)
            row = (
                [""] * len(HEADER)
                if inserted % 5 == 4
                else ["Inserted", f"Row{inserted}", f"inserted{inserted}@example.com", "", "added mid-run"]
            )
            fake.insert_rows(KEY, TAB, at, [row])
            inserted += 1
            if inserted % 8 == 0:  # and now and then someone sorts the sheet
                fake.sort_rows(KEY, TAB, "Email" if inserted % 16 else "Last Name", reverse=inserted % 3 == 0)
                sorts += 1
            time.sleep(0.05)
    finally:
        code, out, err = finish(proc)

    assert code == 0, (out, err)
    assert inserted >= 20 and sorts >= 2, f"only {inserted} rows inserted and {sorts} sorts during the run"
    assert len(posts(sb)) == n
    assert_results_on_their_rows(fake, sb, [f"person{i:03d}@example.com" for i in range(n)])
    stray = {
        r["Email"]: {c: r.get(c) for c in RESULT_COLUMNS if r.get(c)}
        for r in table(fake)
        if r["First Name"] == "Inserted"
    }
    assert not any(stray.values()), f"results landed on inserted rows: {stray}"
    assert fake.rows(KEY, TAB)[0] == HEADER + list(RESULT_COLUMNS)
    assert len(fake.table(KEY, sheets.HISTORY_TITLE)) == n
    assert fake.writes <= 20, f"{fake.writes} write calls for a {n}-row run"


# -- a quota storm -------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
def test_a_quota_storm_mid_run_loses_no_result(fake, sb, tmp_path):
    n = 60
    fake.create_spreadsheet(KEY, {TAB: [HEADER, *people(n)]})
    proc = popen(
        tmp_path, cli_env(tmp_path / "data", sb, fake), "send", url(), "--campaign", sb.campaign_ids[0], "--rate", "10"
    )
    try:
        assert until(lambda: len(posts(sb)) >= 10 or proc.poll() is not None, 60)
        # more refusals than one write-back's backoff absorbs (5 attempts): that flush gives up
        # and the engine must keep its results for a later flush
        fake.force_429(6)
    finally:
        code, out, err = finish(proc)

    assert code == 0, (out, err)
    assert fake.throttled == 6, "the storm did not hit the run's write-back"
    assert len(posts(sb)) == n
    assert_results_on_their_rows(fake, sb, [f"person{i:03d}@example.com" for i in range(n)])
    assert "could not be written" not in out, out
    assert "Results written to" in out
    assert len(fake.table(KEY, sheets.HISTORY_TITLE)) == n


# -- status with a sheet -------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
def test_status_with_a_sheet_url_polls_and_writes_gift_status_and_history(fake, sb, tmp_path):
    fake.create_spreadsheet(KEY, {TAB: [HEADER, *people(4)]})
    env = cli_env(tmp_path / "data", sb, fake)
    assert cli(tmp_path, env, "send", url(), "--campaign", sb.campaign_ids[0], "--rate", "50").returncode == 0
    ids = {e: r[GIFT_REQUEST_ID] for e, r in by_email(fake).items()}
    sb.set_status(ids["person000@example.com"], "delivered")
    sb.set_status(ids["person002@example.com"], "cancelled")

    proc = cli(tmp_path, env, "status", url(), "--poll")

    assert proc.returncode == 0, proc.stderr
    assert {e: r[GIFT_STATUS] for e, r in by_email(fake).items()} == {
        "person000@example.com": "Delivered",
        "person001@example.com": "Submitted",
        "person002@example.com": "Cancelled",
        "person003@example.com": "Submitted",
    }
    history = fake.table(KEY, sheets.HISTORY_TITLE)
    polled = sorted((h["Gift request ID"], h["Status"]) for h in history if h["Source"] == "poll")
    assert polled == sorted([(ids["person000@example.com"], "delivered"), (ids["person002@example.com"], "cancelled")])
    assert len([h for h in history if h["Source"] == "send"]) == 4


# -- the sheet as the shared store (issue 6, item 5) ----------------------------------------------------
@contextmanager
def serve(app):
    """Run a Starlette app with uvicorn on a free 127.0.0.1 port in a thread."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert until(lambda: server.started, 15), "the receiver did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def deliver(base: str, event_id: str, gift: dict, event_type: str, secret: str = SECRET) -> int:
    body = json.dumps(gift).encode()
    ts = int(time.time())
    session = requests.Session()
    session.trust_env = False
    resp = session.post(
        f"{base}/webhooks/andopen",
        data=body,
        timeout=10,
        headers={
            "Content-Type": "application/json",
            "AndOpen-Webhook-Signature": sign(secret, ts, body),
            "AndOpen-Webhook-Dispatch-Timestamp": str(ts),
            "AndOpen-Webhook-Event-Id": event_id,
            "AndOpen-Webhook-Event-Type": event_type,
        },
    )
    return resp.status_code


def gift_body(gift_id: str, email: str, status: str) -> dict:
    now = iso(utcnow())
    return {
        "id": gift_id,
        "status": status,
        "campaign_id": "c-other-tool",
        "redemption_url": f"https://andopen.example/r/{gift_id}",
        "recipient": {"first_name": "Zoe", "last_name": "Park", "email": email},
        "created_at": now,
        "updated_at": now,
    }


# Gifts sent by another tool, known to Giftrun only from webhooks.
WEBHOOKS = [
    ("evt-1", gift_body("gr-ext-zoe", "Zoe@Example.com", "submitted"), "gift_request_created"),
    ("evt-2", gift_body("gr-ext-zoe", "Zoe@Example.com", "redeemed"), "gift_request_redeemed"),
    ("evt-3", gift_body("gr-ext-yan", "yan@example.com", "delivered"), "gift_request_delivered"),
]


def history_settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, history_sheet=url(HISTORY_KEY))


def tab_event_ids(fake: FakeSheets) -> list[str]:
    if sheets.HISTORY_TITLE not in fake.sheet_titles(HISTORY_KEY):
        return []
    return [r["Event id"] for r in fake.table(HISTORY_KEY, sheets.HISTORY_TITLE)]


def assert_store_b_sees_the_shared_history(fake: FakeSheets, settings: Settings, store_b: Store) -> None:
    client = sheets.make_client(None, emulator_host=fake.host, timeout=10)
    assert store_b.gift("gr-ext-zoe") is None
    assert import_shared_history(settings, store_b, client) == 3
    assert import_shared_history(settings, store_b, client) == 0, "importing twice added events"
    zoe, yan = store_b.gift("gr-ext-zoe"), store_b.gift("gr-ext-yan")
    assert (zoe.status, zoe.email, zoe.redemption_url) == (
        "redeemed",
        "zoe@example.com",
        "https://andopen.example/r/gr-ext-zoe",
    )
    assert (yan.status, yan.email) == ("delivered", "yan@example.com")
    assert {e.source for e in store_b.events()} == {EventSource.WEBHOOK}

    # the look-back check on the other host: a gift known only from a webhook makes its recipient skip
    emails = pd.Series(["zoe@example.com", "YAN@example.com", "new@example.com"], index=["a", "b", "c"])
    known = elig.known_gifts(store_b)
    verdict = elig.check(emails, known, elig.parse_window("30d"), now=utcnow())
    assert list(verdict[ELIGIBILITY]) == ["skip", "skip", "eligible"], verdict
    assert "Redeemed" in verdict.loc["a", SKIP_REASON] and "Delivered" in verdict.loc["b", SKIP_REASON], verdict


@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
def test_receiver_appends_accepted_webhooks_to_the_shared_tab_and_another_store_reads_them(fake, tmp_path, monkeypatch):
    monkeypatch.setattr(sheet_source, "MIRROR_INTERVAL", 0.3)
    fake.create_spreadsheet(HISTORY_KEY, {"Notes": [["shared history lives here"]]})
    settings = history_settings(tmp_path / "receiver")
    store_a = backends.store(settings.data_dir)
    client = sheets.make_client(None, emulator_host=fake.host, timeout=10)
    target = sheets.history_target(settings.history_sheet)

    with serve(
        receiver_app(backends.store(settings.data_dir), SECRET, on_accepted=history_mirror(settings, store_a, client))
    ) as base:
        for event_id, gift, event_type in WEBHOOKS:
            assert deliver(base, event_id, gift, event_type) == 200
        assert deliver(base, "evt-2", WEBHOOKS[1][1], WEBHOOKS[1][2]) == 200  # a duplicate delivery
        assert deliver(base, "evt-bad", WEBHOOKS[0][1], "gift_request_created", secret="wrong") == 401
        assert until(lambda: len(tab_event_ids(fake)) >= 3, 20), "the shared tab did not get the events"

    assert sorted(tab_event_ids(fake)) == ["evt-1", "evt-2", "evt-3"]
    assert store_a.pending(target) == []
    rows = {r["Event id"]: r for r in fake.table(HISTORY_KEY, sheets.HISTORY_TITLE)}
    assert (
        rows["evt-2"]["Gift request ID"],
        rows["evt-2"]["Status"],
        rows["evt-2"]["Source"],
        rows["evt-2"]["Email"],
    ) == ("gr-ext-zoe", "redeemed", "webhook", "zoe@example.com")

    assert_store_b_sees_the_shared_history(fake, settings, backends.store(tmp_path / "app"))


@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
def test_while_google_refuses_events_wait_in_the_receivers_outbox(fake, tmp_path, monkeypatch):
    monkeypatch.setattr(sheet_source, "MIRROR_INTERVAL", 0.3)
    fake.create_spreadsheet(HISTORY_KEY, {"Notes": [["x"]], sheets.HISTORY_TITLE: [list(sheets.HISTORY_HEADER)]})
    settings = history_settings(tmp_path / "receiver")
    store_a = backends.store(settings.data_dir)
    client = sheets.make_client(None, emulator_host=fake.host, timeout=10)
    target = sheets.history_target(settings.history_sheet)
    fake.force_429(10**6)

    with serve(
        receiver_app(backends.store(settings.data_dir), SECRET, on_accepted=history_mirror(settings, store_a, client))
    ) as base:
        for event_id, gift, event_type in WEBHOOKS:
            assert deliver(base, event_id, gift, event_type) == 200  # accepted although Google refuses
        assert until(lambda: fake.throttled >= 2, 20), "the mirror never tried to append"
        assert sorted(e.event_id for e in store_a.pending(target)) == ["evt-1", "evt-2", "evt-3"]
        assert tab_event_ids(fake) == []
        fake.force_429(0)  # Google accepts again: the queue goes out
        assert until(lambda: len(tab_event_ids(fake)) >= 3, 40), "the queued events never reached the tab"
        assert until(lambda: store_a.pending(target) == [], 10)

    assert sorted(tab_event_ids(fake)) == ["evt-1", "evt-2", "evt-3"]
    assert_store_b_sees_the_shared_history(fake, settings, backends.store(tmp_path / "app"))


@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
def test_mirror_events_keeps_refused_events_queued_and_sync_outbox_sends_them_once(fake, tmp_path):
    fake.create_spreadsheet(HISTORY_KEY, {"Notes": [["x"]]})
    settings = history_settings(tmp_path / "receiver")
    store = backends.store(settings.data_dir)
    target = sheets.history_target(settings.history_sheet)
    client = sheets.make_client(None, emulator_host=fake.host, timeout=10)
    tab = sheets.HistoryTab.open(
        client, settings.history_sheet, retry=sheets.SheetsRetry(max_attempts=3, sleep=lambda s: None)
    )
    events = [
        StatusEvent(
            event_id=f"evt-{i}",
            gift_request_id=f"gr-{i}",
            status="redeemed",
            source=EventSource.WEBHOOK,
            email=f"p{i}@example.com",
        )
        for i in range(4)
    ]
    store.add_events(events)

    fake.force_429(1000)
    assert mirror_events(store, target, tab, events[:2]) == 0
    assert mirror_events(store, target, tab, events[2:]) == 0
    assert [e.event_id for e in store.pending(target)] == ["evt-0", "evt-1", "evt-2", "evt-3"]
    assert [r["Event id"] for r in fake.table(HISTORY_KEY, sheets.HISTORY_TITLE)] == []

    fake.force_429(0)
    appends = fake.counts["values.append"]
    assert sheets.sync_outbox(store, target, tab) == 4
    assert fake.counts["values.append"] == appends + 1, "the queue was not appended in one call"
    assert store.pending(target) == []
    assert sheets.sync_outbox(store, target, tab) == 0
    assert mirror_events(store, target, tab, events) == 0, "an event already copied was queued again"
    assert [r["Event id"] for r in fake.table(HISTORY_KEY, sheets.HISTORY_TITLE)] == [e.event_id for e in events]


@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
def test_the_cli_on_another_host_skips_a_recipient_known_only_from_the_shared_tab(fake, sb, tmp_path):
    """The receiver's host filled the shared tab; the CLI runs elsewhere with an empty store."""
    fake.create_spreadsheet(HISTORY_KEY, {"Notes": [["x"]]})
    settings = history_settings(tmp_path / "receiver")
    store_a = backends.store(settings.data_dir)
    client = sheets.make_client(None, emulator_host=fake.host, timeout=10)
    intake_events = [
        StatusEvent(
            event_id=eid,
            gift_request_id=g["id"],
            status=g["status"],
            source=EventSource.WEBHOOK,
            email=g["recipient"]["email"],
            event_type=t,
            occurred_at=g["updated_at"],
            redemption_url=g["redemption_url"],
        )
        for eid, g, t in WEBHOOKS
    ]
    store_a.add_events(intake_events)
    tab = sheets.HistoryTab.open(client, settings.history_sheet)
    assert mirror_events(store_a, sheets.history_target(settings.history_sheet), tab, intake_events) == 3

    path = tmp_path / "list.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(HEADER)
        w.writerow(["Zoe", "Park", "zoe@example.com", "yes", ""])
        w.writerow(["Nia", "Diaz", "nia@example.com", "yes", ""])
    env = cli_env(tmp_path / "app", sb, fake, GIFTRUN_HISTORY_SHEET=url(HISTORY_KEY))

    proc = cli(tmp_path, env, "send", "list.csv", "--campaign", sb.campaign_ids[0], "--rate", "50")

    assert proc.returncode == 0, proc.stderr
    assert "Imported 3 events from the shared Gift history." in proc.stdout, proc.stdout
    assert [normalize_email(((r.json or {}).get("recipient") or {}).get("email")) for r in posts(sb)] == [
        "nia@example.com"
    ]
    with open(path, newline="", encoding="utf-8") as fh:
        rows = {r["Email"]: r for r in csv.DictReader(fh)}
    assert rows["zoe@example.com"][ELIGIBILITY] == "skip" and "Redeemed" in rows["zoe@example.com"][SKIP_REASON]
    assert rows["zoe@example.com"][GIFT_REQUEST_ID] == ""
    assert rows["nia@example.com"][ELIGIBILITY] == "eligible" and rows["nia@example.com"][GIFT_REQUEST_ID]


def write_csv(path: Path, rows: list[list[str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows(rows)


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return {normalize_email(r["Email"]): r for r in csv.DictReader(fh)}


def gets(sb: Sandbox) -> list[str]:
    return [
        r.path.split("?")[0].rsplit("/", 1)[1]
        for r in list(sb.requests)
        if r.method == "GET" and r.path.startswith("/gift_requests/")
    ]


@pytest.fixture
def sent_with_shared_history(fake, sb, tmp_path):
    """A CSV of 3 people sent by the CLI (store: tmp/app); then the receiver on another host
    hears that person000's gift was delivered and puts it on the shared tab."""
    fake.create_spreadsheet(HISTORY_KEY, {"Notes": [["x"]]})
    path = tmp_path / "list.csv"
    write_csv(path, people(3))
    env = cli_env(tmp_path / "app", sb, fake, GIFTRUN_HISTORY_SHEET=url(HISTORY_KEY))
    assert cli(tmp_path, env, "send", "list.csv", "--campaign", sb.campaign_ids[0], "--rate", "50").returncode == 0
    ids = {e: r[GIFT_REQUEST_ID] for e, r in read_csv(path).items()}
    delivered = ids["person000@example.com"]
    sb.set_status(delivered, "delivered")
    settings = history_settings(tmp_path / "receiver")
    store_a = backends.store(settings.data_dir)
    event = StatusEvent(
        event_id="evt-delivered",
        gift_request_id=delivered,
        status="delivered",
        source=EventSource.WEBHOOK,
        email="person000@example.com",
        event_type="gift_request_delivered",
        occurred_at=sb.gifts[delivered]["updated_at"],
    )
    store_a.add_event(event)
    client = sheets.make_client(None, emulator_host=fake.host, timeout=10)
    tab = sheets.HistoryTab.open(client, settings.history_sheet)
    assert mirror_events(store_a, sheets.history_target(settings.history_sheet), tab, [event]) == 1
    return path, env, ids


@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
def test_status_reads_the_shared_tab_without_asking_andopen(sb, tmp_path, sent_with_shared_history):
    path, env, ids = sent_with_shared_history
    proc = cli(tmp_path, env, "status", "list.csv")
    assert proc.returncode == 0, proc.stderr
    assert gets(sb) == []
    assert {e: r[GIFT_STATUS] for e, r in read_csv(path).items()} == {
        "person000@example.com": "Delivered",
        "person001@example.com": "Submitted",
        "person002@example.com": "Submitted",
    }


@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
def test_status_poll_does_not_ask_about_gifts_the_shared_tab_knows_are_final(sb, tmp_path, sent_with_shared_history):
    path, env, ids = sent_with_shared_history
    proc = cli(tmp_path, env, "status", "list.csv", "--poll")
    assert proc.returncode == 0, proc.stderr
    assert read_csv(path)["person000@example.com"][GIFT_STATUS] == "Delivered"
    assert sorted(gets(sb)) == sorted([ids["person001@example.com"], ids["person002@example.com"]])
