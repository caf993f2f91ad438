"""The team's daily limit holds when runs race for its last gifts: the count and the journal
line are one atomic step (on PostgreSQL under one advisory lock for the whole team), so
processes claiming at the same moment from several lists never pass the limit together.
Real processes, on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from lib.models import Recipient, SendState
from lib.sandbox import Faults
from tests import backends
from tests.support import CLI, REPO, cli_env, gift_counts

pytestmark = pytest.mark.usefixtures("store_backend")  # every test here touches the store

CLAIMER = """
import sys
from lib.models import Recipient, SendState
from lib.store import Refusal
from tests import backends
store = backends.store(sys.argv[1])
me, people, limit = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
won = refused = 0
for i in range(people):
    email = f"p{me}-{i}@example.com"
    claim = store.claim("list-" + me, Recipient("Al", "Bo", email), row_key=str(i), campaign_id="c",
                        run_id="run-" + me, daily_limit=limit)
    if claim.claimed:
        won += 1
        store.record_outcome("list-" + me, email, SendState.SENT, gift_request_id=f"g-{me}-{i}")
    else:
        assert claim.refusal == Refusal.DAILY_LIMIT, claim
        refused += 1
print(won, refused)
"""


@pytest.mark.slow
def test_processes_claiming_at_once_never_pass_the_daily_limit_together(tmp_path):
    limit, already, procs_n, each = 60, 20, 6, 30
    store = backends.store(tmp_path)
    try:
        for i in range(already):  # sent earlier today from another list
            assert store.claim(
                "earlier", Recipient("Al", "Bo", f"e{i}@example.com"), row_key=str(i), campaign_id="c", run_id="r0"
            ).claimed
            store.record_outcome("earlier", f"e{i}@example.com", SendState.SENT)
    finally:
        store.close()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(tmp_path), str(n), str(each), str(limit)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(procs_n)
    ]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0] * procs_n, [err for _, err in outs]
    won = sum(int(out.split()[0]) for out, _ in outs)
    assert won == limit - already, f"{won} claimed for {limit - already} places left"
    store = backends.store(tmp_path)
    try:
        assert store.daily_room(limit).used == limit
    finally:
        store.close()


def write_list(path, prefix: str, n: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["First Name", "Last Name", "Email", "Approved"])
        w.writerows([f"First{i}", f"Last{i}", f"{prefix}{i}@example.com", "yes"] for i in range(n))


@pytest.mark.slow
def test_two_cli_runs_at_once_send_only_what_is_left_of_the_daily_limit(tmp_path, make_sandbox):
    sb = make_sandbox(faults=Faults(latency=0.05, seed=1))  # slow enough that the two runs overlap
    data = tmp_path / "data"
    env = cli_env(data, sb, ANDOPEN_CAMPAIGN_ID=sb.campaign_ids[0], GIFTRUN_DAILY_LIMIT="15")
    write_list(tmp_path / "earlier.csv", "earlier", 10)
    first = subprocess.run(
        [*CLI, "send", "earlier.csv"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 0, first.stderr
    for name in ("a", "b"):
        write_list(tmp_path / f"{name}.csv", f"{name}-", 10)
    procs = [
        subprocess.Popen(
            [*CLI, "send", f"{name}.csv", "--rate", "50"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all("Traceback" not in out + err for out, err in outs), outs
    counts = gift_counts(sb)
    assert sum(counts.values()) == 15 and set(counts.values()) == {1}, counts  # 10 earlier + the 5 left
    stopped = [out for p, (out, _) in zip(procs, outs) if p.returncode == 1]
    assert stopped, [out for out, _ in outs]  # at least one run met the limit…
    for out in stopped:  # …and said so, with when room frees up
        assert "Run stopped: Stopped at the team's daily limit: 15 gifts in any 24 hours" in out
        assert "Room frees up at" in out
    for name in ("a", "b"):
        with open(tmp_path / f"{name}.csv", newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        for r in rows:  # every row was sent or says why not
            assert r["Gift request ID"] or r["Send error"].startswith("Not sent: the team's daily limit of 15"), r
