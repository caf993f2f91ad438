"""The store's atomic steps hold when several processes (hosts, on a shared database) race:
a claim and its look-back check are one step, so overlapping lists claimed at the same moment
gift each person once; one run per list; events for one gift from several writers leave the
gift's latest status right. Real processes, on SQLite and on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lib.store.migrations import LATEST, version  # noqa: F401  (the store opens migrated)
from tests import backends
from tests.support import REPO

pytestmark = pytest.mark.usefixtures("store_backend")  # every test here touches the store

CLAIMER = """
import random, sys
from lib.models import Recipient, SendState
from tests import backends
store = backends.store(sys.argv[1])
me, people = sys.argv[2], int(sys.argv[3])
order = list(range(people))
random.Random(me).shuffle(order)
won = []
for i in order:
    email = f"person{i}@example.com"
    claim = store.claim("list-" + me, Recipient("Al", "Bo", email), row_key=str(i), campaign_id="c", run_id="run-" + me,
                        lookback_since=None)
    if claim.claimed:
        won.append(email)
        store.record_outcome("list-" + me, email, SendState.SENT, gift_request_id=f"g-{me}-{i}")
print(" ".join(won))
"""


def spawn(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.slow
def test_overlapping_lists_claimed_at_the_same_moment_claim_each_person_once(tmp_path):
    backends.store(tmp_path).close()  # migrated before the race
    procs = [spawn(CLAIMER, str(tmp_path), str(n), "150") for n in range(5)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0] * 5, [err for _, err in outs]
    won = [email for out, _ in outs for email in out.split()]
    assert sorted(won) == sorted(f"person{i}@example.com" for i in range(150)), "a person was claimed twice or never"
    store = backends.store(tmp_path)
    try:
        held = [e for e in store.all_sends() if e.state.value == "sent"]
        assert len(held) == 150
    finally:
        store.close()


RUNNER = """
import sys, time
from lib.store import RunInProgress
from tests import backends
store = backends.store(sys.argv[1])
try:
    print(store.acquire_run("the-list", "host-" + sys.argv[2]), flush=True)
except RunInProgress:
    print("refused", flush=True)
time.sleep(float(sys.argv[3]))  # a run's process stays alive while the others try (a dead one's run is taken over)
"""


@pytest.mark.slow
def test_one_run_per_list_when_hosts_start_at_the_same_moment(tmp_path):
    backends.store(tmp_path).close()
    procs = [spawn(RUNNER, str(tmp_path), str(n), "8") for n in range(6)]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert sorted(o == "refused" for o in outs) == [False] + [True] * 5, outs


WRITER = """
import sys
from lib.models import EventSource, StatusEvent
from tests import backends
store = backends.store(sys.argv[1])
status = sys.argv[2]
when = {"redeemed": "11", "dispatched": "12", "delivered": "13"}[status]
for g in range(80):
    store.add_event(StatusEvent(f"ev-{g}-{status}", f"gift-{g}", status, EventSource.WEBHOOK,
                                email=f"p{g}@example.com", occurred_at=f"2026-11-01T{when}:00:00.000Z"))
"""


@pytest.mark.slow
def test_writers_racing_on_the_same_gifts_leave_each_gifts_latest_status_right(tmp_path):
    backends.store(tmp_path).close()
    procs = [spawn(WRITER, str(tmp_path), s) for s in ("delivered", "redeemed", "dispatched")]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outs]
    store = backends.store(tmp_path)
    try:
        assert len(store.gifts()) == 80
        assert {g.status for g in store.gifts()} == {"delivered"}
    finally:
        store.close()
