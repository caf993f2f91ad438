"""`python -m lib.cli status SOURCE [--poll]` as a real subprocess against the sandbox
started in this test process (so the CLI reaches it over HTTP on 127.0.0.1 and the test
moves gifts with `sandbox.set_status`).

Without --poll the command writes `Gift status` from the store alone (no request to
&Open); with --poll it first asks &Open about every gift not yet final.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lib import csvio
from lib.models import normalize_email
from lib.sandbox import Sandbox
from lib.writeback import GIFT_REQUEST_ID, GIFT_STATUS, REDEMPTION_URL
from tests import backends

pytestmark = pytest.mark.usefixtures("store_backend")  # every test here touches the store

REPO = Path(__file__).resolve().parent.parent
HEADER = ["First Name", "Last Name", "Email", "Approved", "Notes"]
RUN_TIMEOUT = 120


@pytest.fixture
def sb():
    with Sandbox() as sandbox:
        yield sandbox


def cli_env(tmp_path: Path, sb: Sandbox) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANDOPEN_", "GIFTRUN_", "SHEETS_", "GOOGLE_")) and "proxy" not in k.lower()
    }
    env.update(
        PYTHONPATH=str(REPO),
        ANDOPEN_API_KEY=sb.token,
        ANDOPEN_BASE_URL=sb.url,
        NO_PROXY="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
        **backends.env(tmp_path / "data"),
    )
    return env


def cli(tmp_path: Path, sb: Sandbox, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "lib.cli", *args],
        cwd=tmp_path,
        env=cli_env(tmp_path, sb),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    return proc


def write_list(path: Path, n: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows([f"First{i}", f"Last{i}", f"person{i}@example.com", "yes", f"note {i}"] for i in range(n))


def rows(path: Path) -> dict[str, dict[str, str]]:
    return {normalize_email(r["Email"]): r for r in csvio.read_csv_path(path).to_dict("records")}


def gets(sb: Sandbox) -> list[str]:
    return [
        r.path.split("?")[0].rsplit("/", 1)[1]
        for r in list(sb.requests)
        if r.method == "GET" and r.path.startswith("/gift_requests/")
    ]


@pytest.fixture
def sent(sb, tmp_path):
    """A CSV of 5 people, all sent by the CLI; returns (path, {email: gift id})."""
    path = tmp_path / "list.csv"
    write_list(path, 5)
    proc = cli(tmp_path, sb, "send", "list.csv", "--campaign", sb.campaign_ids[0], "--rate", "50")
    assert proc.returncode == 0, proc.stderr
    ids = {e: r[GIFT_REQUEST_ID] for e, r in rows(path).items()}
    assert all(ids.values()) and {e: g[0]["id"] for e, g in sb.gifts_by_email().items()} == ids
    return path, ids


MOVES = {
    "person0@example.com": ("delivered", "Delivered"),
    "person1@example.com": ("cancelled", "Cancelled"),
    "person2@example.com": ("redeemed", "Redeemed"),
}


@pytest.mark.slow
def test_status_poll_writes_the_moved_statuses_onto_the_right_rows(sb, tmp_path, sent):
    path, ids = sent
    for email, (status, _label) in MOVES.items():
        sb.set_status(ids[email], status)

    proc = cli(tmp_path, sb, "status", "list.csv", "--poll")

    assert proc.returncode == 0, proc.stderr
    assert "Polled 5 gifts (0 already final): 3 changed." in proc.stdout, proc.stdout
    after = rows(path)
    for email, r in after.items():
        expected = MOVES.get(email, (None, "Submitted"))[1]
        assert r[GIFT_STATUS] == expected, (email, r)
        assert r[GIFT_REQUEST_ID] == ids[email]
    assert sorted(gets(sb)) == sorted(ids.values())

    # polling again asks only about the gifts that are not final (delivered/cancelled are)
    asked = len(gets(sb))
    proc = cli(tmp_path, sb, "status", "list.csv", "--poll")
    assert proc.returncode == 0, proc.stderr
    assert "Polled 3 gifts (2 already final): 0 changed." in proc.stdout, proc.stdout
    assert sorted(gets(sb)[asked:]) == sorted(
        ids[e] for e in ids if e not in ("person0@example.com", "person1@example.com")
    )
    assert {e: r[GIFT_STATUS] for e, r in rows(path).items()} == {e: r[GIFT_STATUS] for e, r in after.items()}


@pytest.mark.slow
def test_status_without_poll_uses_the_store_only(sb, tmp_path, sent):
    path, ids = sent
    for email, (status, _label) in MOVES.items():
        sb.set_status(ids[email], status)

    proc = cli(tmp_path, sb, "status", "list.csv")

    assert proc.returncode == 0, proc.stderr
    assert gets(sb) == [], "status without --poll asked &Open"
    assert "Polled" not in proc.stdout
    assert {r[GIFT_STATUS] for r in rows(path).values()} == {"Submitted"}, "the store knows no move yet"
    assert "Wrote Gift status for 5 of 5 rows" in proc.stdout

    # after a poll the store knows; a later plain `status` writes the same from the store alone
    assert cli(tmp_path, sb, "status", "list.csv", "--poll").returncode == 0
    polled = {e: r[GIFT_STATUS] for e, r in rows(path).items()}
    asked = len(gets(sb))
    path.write_text(path.read_text().replace("Delivered", "").replace("Cancelled", "").replace("Redeemed", ""))
    assert cli(tmp_path, sb, "status", "list.csv").returncode == 0
    assert len(gets(sb)) == asked
    assert {e: r[GIFT_STATUS] for e, r in rows(path).items()} == polled
    assert polled["person0@example.com"] == "Delivered"


@pytest.mark.slow
def test_status_restores_an_emptied_redemption_url(sb, tmp_path, sent):
    path, ids = sent
    df = csvio.read_csv_path(path)
    url = df.loc[df["Email"] == "person3@example.com", REDEMPTION_URL].item()
    df.loc[df["Email"] == "person3@example.com", REDEMPTION_URL] = ""
    csvio.write_csv_atomic(df, path)

    proc = cli(tmp_path, sb, "status", "list.csv")

    assert proc.returncode == 0, proc.stderr
    assert rows(path)["person3@example.com"][REDEMPTION_URL] == url
    assert url == sb.gifts[ids["person3@example.com"]]["redemption_url"]


@pytest.mark.slow
def test_status_poll_with_a_wrong_token_stops_with_one_clear_line(sb, tmp_path, sent):
    path, _ids = sent
    before = path.read_bytes()
    env = cli_env(tmp_path, sb) | {"ANDOPEN_API_KEY": "ao-v1-staging-wrongtoken00000000"}
    proc = subprocess.run(
        [sys.executable, "-m", "lib.cli", "status", "list.csv", "--poll"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert proc.stdout.count("rejected the API key") == 1, proc.stdout
    assert path.read_bytes() == before
