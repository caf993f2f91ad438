"""`python -m lib.cli send` as cron or CI runs it: a real subprocess, a real CSV, the sandbox
on 127.0.0.1, the store in GIFTRUN_DATA_DIR.

Exit codes: 0 the run completed (row errors included), 1 stopped, 2 unusable input. No
case may print a traceback. The kill test proves the issue's crash promise: SIGKILL
mid-run, run again → nobody gifted twice, the CSV intact, no result the journal holds lost.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
from functools import partial
from pathlib import Path

import pytest

from lib import csvio
from lib.models import SendState, normalize_email
from lib.sandbox import Faults, Sandbox
from lib.sending import DEFAULT_CONCURRENCY, UNKNOWN_MESSAGE
from lib.sources import csv_list_key
from lib.writeback import GIFT_REQUEST_ID, GIFT_STATUS, REDEMPTION_URL, RESULT_COLUMNS, SEND_ERROR
from tests import backends, support
from tests.support import CLI, NO_SUCH_CAMPAIGN, assert_nobody_gifted_twice, cli_env, posted_email, posts, run_cli

pytestmark = pytest.mark.usefixtures("store_backend")  # every test here touches the store

HEADER = ["Company", "First Name", "Last Name", "Email", "Approved", "Notes"]
RUN_TIMEOUT = 120  # seconds any one CLI run may take before the test gives up


# -- helpers ------------------------------------------------------------------------------
until = partial(support.until, timeout=30.0, step=0.02)  # a CLI subprocess takes a while to get going


def cli(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return run_cli(tmp_path, env, *args, timeout=RUN_TIMEOUT)


def popen(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.Popen:
    out = open(tmp_path / "cli.out", "w")
    err = open(tmp_path / "cli.err", "w")
    return subprocess.Popen([*CLI, *args], cwd=tmp_path, env=env, stdout=out, stderr=err)


def write_list(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> bytes:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path.read_bytes()


def many(n: int) -> list[list[str]]:
    return [
        [f"Co{i % 7}", f"First{i:03d}", f"Last{i:03d}", f"person{i:03d}@example.com", "yes", f"note {i}"]
        for i in range(n)
    ]


def posted_emails(sb: Sandbox, start: int = 0) -> list[str]:
    return [posted_email(r) for r in posts(sb)[start:]]


def by_email(df) -> dict[str, dict[str, str]]:
    return {normalize_email(r["Email"]): r for r in df.to_dict("records")}


# -- a normal run -------------------------------------------------------------------------
MIXED = [
    # Company, First, Last, Email, Approved, Notes          → what the row must end with
    ["Acme", "Alice", "Smith", "alice@example.com", "yes", "warm lead"],  # sent
    ["Beta", "Bob", "Jones", "bob@example", "yes", "typo"],  # invalid email
    ["Gamma", "Carol", "King", "carol@example.com", "no", ""],  # not approved
    ["Delta", "D", "Lee", "dan@example.com", "TRUE", "=1+1"],  # name too short
    ["Eps", "Erin", "Moss", "erin@example.com", "x", "a, comma"],  # sent
    ["Acme", "Alice", "Smith", "ALICE@example.com", "yes", "dup"],  # duplicate of row 2 (the header is row 1)
    ["Zeta", "Frank", "Ng", "frank@example.com", "1", "line\nbreak"],  # sent
]


def test_send_writes_results_into_the_same_file_after_the_users_columns(make_sandbox, tmp_path):
    sb = make_sandbox()
    path = tmp_path / "list.csv"
    write_list(path, MIXED)
    original = csvio.read_csv_path(path)
    proc = cli(
        tmp_path, cli_env(tmp_path / "data", sb), "send", "list.csv", "--campaign", sb.campaign_ids[0], "--rate", "50"
    )

    assert proc.returncode == 0, proc.stderr
    assert "3 to send, 1 not approved, 2 invalid, 1 duplicate" in proc.stdout
    assert "Sent 3 · rejected 0 · unknown outcome 0" in proc.stdout
    assert "Results written to list.csv." in proc.stdout
    df = csvio.read_csv_path(path)
    assert list(df.columns) == HEADER + list(RESULT_COLUMNS)
    assert df[HEADER].equals(original[HEADER]), "the user's own cells changed"
    gifts = sb.gifts_by_email()
    assert sorted(gifts) == ["alice@example.com", "erin@example.com", "frank@example.com"]
    rows = df.to_dict("records")
    for i in (0, 4, 6):
        [gift] = gifts[normalize_email(rows[i]["Email"])]
        assert rows[i][GIFT_REQUEST_ID] == gift["id"] and rows[i][REDEMPTION_URL] == gift["redemption_url"]
        assert (rows[i][GIFT_STATUS], rows[i][SEND_ERROR]) == ("Submitted", "")
    for i, words in ((1, "bob@example"), (3, "too short"), (5, "Same email as row 2,")):
        assert words in rows[i][SEND_ERROR] and rows[i][GIFT_REQUEST_ID] == "", rows[i]
    assert (rows[2][GIFT_REQUEST_ID], rows[2][SEND_ERROR]) == ("", "")  # not approved: left alone


@pytest.mark.slow
def test_running_twice_sends_nothing_the_second_time_and_restores_lost_cells(make_sandbox, tmp_path):
    sb = make_sandbox()
    path = tmp_path / "list.csv"
    original = write_list(path, many(12))
    args = ("send", "list.csv", "--campaign", sb.campaign_ids[0], "--rate", "50")
    assert cli(tmp_path, cli_env(tmp_path / "data", sb), *args).returncode == 0
    first = by_email(csvio.read_csv_path(path))
    assert len(posts(sb)) == 12

    path.write_bytes(original)  # the results were lost (an old copy was saved over the file)
    proc = cli(tmp_path, cli_env(tmp_path / "data", sb), *args)
    assert proc.returncode == 0, proc.stderr
    assert "0 to send" in proc.stdout and "12 already sent" in proc.stdout
    assert len(posts(sb)) == 12, "the second run sent again"
    again = by_email(csvio.read_csv_path(path))
    assert {e: r[GIFT_REQUEST_ID] for e, r in again.items()} == {e: r[GIFT_REQUEST_ID] for e, r in first.items()}
    assert all(r[GIFT_REQUEST_ID] for r in again.values())


def test_dry_run_sends_and_writes_nothing(make_sandbox, tmp_path):
    sb = make_sandbox()
    path = tmp_path / "list.csv"
    original = write_list(path, MIXED)
    proc = cli(
        tmp_path, cli_env(tmp_path / "data", sb), "send", "list.csv", "--campaign", sb.campaign_ids[0], "--dry-run"
    )
    assert proc.returncode == 0, proc.stderr
    assert "3 to send" in proc.stdout and "Dry run: nothing sent, nothing written." in proc.stdout
    assert path.read_bytes() == original
    assert posts(sb) == []
    assert backends.store(tmp_path / "data").journal(csv_list_key(path)) == {}


# -- unusable input, configuration, key or campaign ---------------------------------------
def _no_approved(path: Path) -> None:
    write_list(path, [r[:4] + r[5:] for r in MIXED], header=HEADER[:4] + HEADER[5:])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _header_only(path: Path) -> None:
    write_list(path, [])


def _good(path: Path) -> None:
    write_list(path, MIXED)


FAILURES = [
    # (name, make the file, extra args, env overrides, exit code, words in stderr)
    ("no Approved column", _no_approved, (), {}, 2, "'Approved'"),
    ("missing file", None, (), {}, 2, "not found"),
    ("empty file", _empty, (), {}, 2, "empty"),
    ("header but no people", _header_only, (), {}, 2, "no people"),
    ("unknown campaign", _good, ("--campaign", NO_SUCH_CAMPAIGN), {}, 1, "not found"),
    ("wrong key", _good, (), {"ANDOPEN_API_KEY": "ao-v1-staging-notthesandboxtoken"}, 1, "rejected the API key"),
    ("no key", _good, (), {"ANDOPEN_API_KEY": None}, 2, "ANDOPEN_API_KEY is not set"),
    ("bogus look-back", _good, ("--lookback", "bogus"), {}, 2, "--lookback"),
    ("rate zero", _good, ("--rate", "0"), {}, 2, "--rate"),
    ("no campaign", _good, ("--campaign", ""), {"ANDOPEN_CAMPAIGN_ID": None}, 2, "No campaign"),
]


@pytest.mark.parametrize("name,make,extra,env_over,code,words", FAILURES, ids=[f[0] for f in FAILURES])
def test_an_unusable_run_exits_with_one_clear_message(make_sandbox, tmp_path, name, make, extra, env_over, code, words):
    sb = make_sandbox()
    path = tmp_path / "list.csv"
    if make is not None:
        make(path)
    before = path.read_bytes() if path.exists() else None
    args = ["send", "list.csv", "--campaign", sb.campaign_ids[0], *extra]
    proc = cli(tmp_path, cli_env(tmp_path / "data", sb, **env_over), *args)

    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert words in proc.stderr, proc.stderr
    assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert posts(sb) == []
    assert (path.read_bytes() if path.exists() else None) == before, "the file was changed"


def test_a_list_held_by_another_run_is_refused(make_sandbox, tmp_path):
    sb = make_sandbox()
    path = tmp_path / "list.csv"
    before = write_list(path, many(3))
    backends.store(tmp_path / "data").acquire_run(csv_list_key(path), "alice@team")
    proc = cli(tmp_path, cli_env(tmp_path / "data", sb), "send", "list.csv", "--campaign", sb.campaign_ids[0])
    assert proc.returncode == 1, proc.stderr
    assert "in progress" in proc.stderr and "alice@team" in proc.stderr
    assert posts(sb) == []
    assert path.read_bytes() == before, "a refused run wrote over the list the other run is writing"


# -- unknown outcomes wait for a person ---------------------------------------------------
IN_AN_ASCII_FILE = UNKNOWN_MESSAGE.replace("—", "-")  # a plain ASCII list stays plain ASCII (lib/csvtext.py)


@pytest.mark.slow
def test_clear_unknown_lets_a_checked_row_be_sent_again(make_sandbox, tmp_path):
    sb = make_sandbox(faults=Faults(error_500_after_create=1.0))
    path = tmp_path / "list.csv"
    write_list(path, many(2))
    args = ["send", "list.csv", "--campaign", sb.campaign_ids[0]]
    env = cli_env(tmp_path / "data", sb)
    proc = cli(tmp_path, env, *args)
    assert proc.returncode == 0, proc.stderr  # row errors: the run itself completed
    assert "unknown outcome 2" in proc.stdout
    rows = by_email(csvio.read_csv_path(path))
    assert all(r[SEND_ERROR].startswith(IN_AN_ASCII_FILE) for r in rows.values())

    sb.faults = Faults()
    assert cli(tmp_path, env, *args).returncode == 0
    assert len(posts(sb)) == 2, "an unknown row was sent without a person clearing it"

    proc = cli(tmp_path, env, *args, "--clear-unknown", "PERSON000@example.com")
    assert proc.returncode == 0, proc.stderr
    assert "Cleared the unknown outcome for PERSON000@example.com" in proc.stdout
    assert posted_emails(sb, 2) == ["person000@example.com"]
    rows = by_email(csvio.read_csv_path(path))
    assert rows["person000@example.com"][GIFT_REQUEST_ID] and rows["person000@example.com"][SEND_ERROR] == ""
    assert rows["person001@example.com"][SEND_ERROR].startswith(IN_AN_ASCII_FILE)

    proc = cli(tmp_path, env, *args, "--clear-unknown", "nobody@example.com")
    assert "nothing cleared" in proc.stdout and len(posts(sb)) == 3


# -- signals ------------------------------------------------------------------------------
def interrupt_a_run(sb, tmp_path, path, interrupt) -> int:
    """Start sending 300 rows at 20/s, call `interrupt(proc)` once 20 gifts went out, and
    return the CLI's exit code (killing it if it does not end within a minute)."""
    write_list(path, many(300))
    proc = popen(
        tmp_path, cli_env(tmp_path / "data", sb), "send", path.name, "--campaign", sb.campaign_ids[0], "--rate", "20"
    )
    try:
        assert until(lambda: len(posts(sb)) >= 20), "the run never got going"
        interrupt(proc)
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_sigterm_stops_gracefully_and_writes_the_results(make_sandbox, tmp_path):
    sb = make_sandbox(faults=Faults(latency=0.05))
    path = tmp_path / "list.csv"
    code = interrupt_a_run(sb, tmp_path, path, lambda proc: proc.send_signal(signal.SIGTERM))
    out, err = (tmp_path / "cli.out").read_text(), (tmp_path / "cli.err").read_text()
    assert "Traceback" not in err + out, err
    assert code == 1, (out, err)
    assert "Stopping: no new sends" in out and "Run stopped: Interrupted." in out
    assert "Results written to list.csv." in out

    rows = by_email(csvio.read_csv_path(path))
    gifts = sb.gifts_by_email()
    assert 20 <= len(gifts) < 300
    assert_nobody_gifted_twice(sb)
    with_ids = {e for e, r in rows.items() if r[GIFT_REQUEST_ID]}
    assert with_ids == set(gifts), "a sent row's result is missing from the file"
    for e in with_ids:
        assert rows[e][GIFT_REQUEST_ID] == gifts[e][0]["id"]
    assert not [r for r in rows.values() if r[SEND_ERROR]], "a graceful stop leaves no unknown rows"
    journal = backends.store(tmp_path / "data").journal(csv_list_key(path))
    assert {e.state for e in journal.values()} == {SendState.SENT}


@pytest.mark.slow
def test_stop_pressed_in_another_process_stops_a_cli_run(make_sandbox, tmp_path):
    """The app's "Stop that run" writes a request into the shared store; the CLI's run
    hears it and stops like a Ctrl-C: no new sends, results written, exit 1."""
    sb = make_sandbox(faults=Faults(latency=0.05))
    path = tmp_path / "list.csv"
    store = backends.store(tmp_path / "data")
    stopped = []

    def press_stop_elsewhere(proc) -> None:
        [live] = store.live_runs(csv_list_key(path))
        assert store.request_stop(live.run_id, "maria@example.com")
        stopped.append(live)

    code = interrupt_a_run(sb, tmp_path, path, press_stop_elsewhere)
    [live] = stopped
    out, err = (tmp_path / "cli.out").read_text(), (tmp_path / "cli.err").read_text()
    assert code == 1 and "Traceback" not in err + out, (out, err)
    assert "Run stopped: Stopped by maria@example.com." in out
    assert 20 <= len(sb.gifts_by_email()) < 300
    assert_nobody_gifted_twice(sb)
    rows = by_email(csvio.read_csv_path(path))
    assert {e for e, r in rows.items() if r[GIFT_REQUEST_ID]} == set(sb.gifts_by_email())
    assert store.run(live.run_id).state == "stopped"


@pytest.mark.slow
def test_sigkill_mid_run_then_run_again_gifts_nobody_twice_and_loses_nothing(make_sandbox, tmp_path):
    sb = make_sandbox(faults=Faults(latency=0.05))
    path = tmp_path / "list.csv"
    original_bytes = write_list(path, many(300))
    original = csvio.read_csv_path(path)
    env = cli_env(tmp_path / "data", sb)
    args = [
        "send",
        "list.csv",
        "--campaign",
        sb.campaign_ids[0],
        "--rate",
        "20",
        "--concurrency",
        str(DEFAULT_CONCURRENCY),
    ]  # the most in flight: the bound on unknowns below

    proc = popen(tmp_path, env, *args)
    try:
        assert until(lambda: len(posts(sb)) >= 50), "the run never got going"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert "Traceback" not in (tmp_path / "cli.err").read_text()
    created_at_kill = {e: [g["id"] for g in gs] for e, gs in sb.gifts_by_email().items()}

    # The file is the old one or a complete newer one, never torn.
    at_kill = csvio.read_csv_path(path)
    if path.read_bytes() != original_bytes:
        assert list(at_kill.columns) == HEADER + list(RESULT_COLUMNS)
        assert at_kill[HEADER].equals(original[HEADER])
    ids_at_kill = {e: r[GIFT_REQUEST_ID] for e, r in by_email(at_kill).items() if r.get(GIFT_REQUEST_ID)}

    posted_before = len(posts(sb))
    proc2 = cli(tmp_path, env, *args)
    assert proc2.returncode == 0, (proc2.stdout, proc2.stderr)

    assert_nobody_gifted_twice(sb)
    again = posted_emails(sb, posted_before)
    assert not set(again) & set(created_at_kill), "a person gifted before the kill was sent again"
    df = csvio.read_csv_path(path)
    assert list(df.columns) == HEADER + list(RESULT_COLUMNS) and df[HEADER].equals(original[HEADER])
    rows = by_email(df)
    unknown = {e for e, r in rows.items() if r[SEND_ERROR].startswith("Unknown outcome")}
    with_ids = {e for e, r in rows.items() if r[GIFT_REQUEST_ID]}
    assert not unknown & with_ids
    assert unknown | with_ids == set(rows), "a row ended neither sent nor marked unknown"
    assert len(unknown) <= DEFAULT_CONCURRENCY, "more rows unknown than could have been in flight"
    for e, gifts in sb.gifts_by_email().items():  # every gift &Open made is on its row, or the row says check
        assert rows[e][GIFT_REQUEST_ID] == gifts[0]["id"] or e in unknown, (e, rows[e])
    for e, gid in ids_at_kill.items():  # nothing the file had at the kill was lost
        assert rows[e][GIFT_REQUEST_ID] == gid
    journal = backends.store(tmp_path / "data").journal(csv_list_key(path))
    for e, entry in journal.items():  # nothing the journal holds was lost
        if entry.state == SendState.SENT:
            assert rows[e][GIFT_REQUEST_ID] == entry.gift_request_id
        else:
            assert entry.state == SendState.UNKNOWN and e in unknown, entry


def test_a_dry_run_lists_every_row_and_points_to_no_column_it_did_not_write(make_sandbox, tmp_path):
    """A dry run writes no Send error or Skip reason, so it cannot send the user there: it
    lists every row not sent (the README's promise), however many."""
    sb = make_sandbox()
    path = tmp_path / "list.csv"
    rows = [[f"Co{i}", f"First{i:03d}", f"Last{i:03d}", f"bad{i:03d}@", "yes", ""] for i in range(70)]
    original = write_list(path, rows)
    proc = cli(
        tmp_path, cli_env(tmp_path / "data", sb), "send", "list.csv", "--campaign", sb.campaign_ids[0], "--dry-run"
    )
    assert proc.returncode == 0, proc.stderr
    assert "Send error" not in proc.stdout and "Skip reason" not in proc.stdout, proc.stdout
    assert all(f"row {n + 1} bad{n - 1:03d}@: invalid" in proc.stdout for n in range(1, 71)), proc.stdout
    assert path.read_bytes() == original and posts(sb) == []


@pytest.mark.slow
def test_a_run_that_met_the_limit_says_what_limit_it_found(make_sandbox, tmp_path):
    sb = make_sandbox(faults=Faults(rate_limit=5, limiter="sliding-window"))
    path = tmp_path / "list.csv"
    write_list(path, many(12))
    env = cli_env(tmp_path / "data", sb)
    proc = cli(tmp_path, env, "send", "list.csv", "--campaign", sb.campaign_ids[0], "--rate", "20")

    assert proc.returncode == 0, proc.stderr
    refused = sum(r.status == 429 for r in posts(sb))
    assert refused >= 1, "the limit was never met: the test proves nothing"
    assert "Sent 12 ·" in proc.stdout and f"429s {refused} ·" in proc.stdout
    [found] = [line for line in proc.stdout.splitlines() if line.startswith("&Open refused")]
    assert f"&Open refused {refused} request" in found and "(asked for: 20/s)" in found
    allowed = float(found.split("&Open allowed about ")[1].split(" a second")[0])
    assert 2.0 <= allowed <= 10.0, found  # what got through (5/s), not the 20/s asked for
    assert_nobody_gifted_twice(sb)


def test_a_run_that_never_met_the_limit_says_nothing_of_it(make_sandbox, tmp_path):
    sb = make_sandbox()
    write_list(tmp_path / "list.csv", many(3))
    proc = cli(tmp_path, cli_env(tmp_path / "data", sb), "send", "list.csv", "--campaign", sb.campaign_ids[0])
    assert proc.returncode == 0, proc.stderr
    assert "429s 0 ·" in proc.stdout and "&Open refused" not in proc.stdout
