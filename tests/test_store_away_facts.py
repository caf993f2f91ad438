"""What a run learns while the store is away outlives the run (lib/store/spill.py).

The store goes away behind a door these tests shut at an exact moment (every call then fails
as a database that went away does, a transient StoreUnavailable); the run waits its short
window, stops, and the process "ends" (its store closed, nothing settled). The next run on this
host, the store back, must know what the first one knew:
- a claim whose answer was lost was never sent: that person is sent now, never "unknown";
- a gift &Open created while the store was away keeps its id, even with no list to carry it.
With the file lost, the row is "unknown" and nobody is gifted twice: the safe side.
Taking the run lock and opening waits out a blip like the rest of the run.
"""

from __future__ import annotations

import subprocess
import threading

import pytest

from lib.andopen import AndOpenClient
from lib.models import Recipient, SendState, normalize_email
from lib.sending import SendItem, SendRun
from lib.store import Store, StoreUnavailable
from lib.store.spill import Fact, SpilledFact
from tests import backends
from tests.support import assert_nobody_gifted_twice

pytestmark = pytest.mark.usefixtures("store_backend")

LIST = "test:away"
ROWS = 6
THIRD = normalize_email("person2@example.com")


def people() -> list[SendItem]:
    return [SendItem(str(i), Recipient(f"First{i}", f"Last{i}", f"person{i}@example.com")) for i in range(ROWS)]


class Door:
    """A store behind a door. `shut_after(name, n, lose_answer, calls)`: the n-th call of `name`
    shuts it, after doing its work (its answer then lost) or after answering, for good or for
    the next `calls` calls; `fail_next`: that many calls fail, then the store answers again.
    What the run keeps on disk needs no door."""

    OPEN_ALWAYS = frozenset({"keep_unsaved", "spill", "retry_seconds", "close"})

    def __init__(self, store: Store) -> None:
        self.store = store
        self.shut = False
        self.fail_next = 0
        self._trigger: tuple[str, int, bool, int | None] | None = None
        self._calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def shut_after(self, name: str, n: int, *, lose_answer: bool, calls: int | None = None) -> None:
        self._trigger = (name, n, lose_answer, calls)

    def __getattr__(self, name: str):
        attr = getattr(self.store, name)
        if name in self.OPEN_ALWAYS or not callable(attr):
            return attr

        def call(*args, **kwargs):
            with self._lock:
                if self.shut or self.fail_next:
                    self.fail_next = max(0, self.fail_next - 1)
                    raise StoreUnavailable("the database went away", transient=True)
                self._calls[name] = n = self._calls.get(name, 0) + 1
                trigger = self._trigger is not None and self._trigger[:2] == (name, n)
            result = attr(*args, **kwargs)
            if trigger:
                assert self._trigger is not None
                if self._trigger[3] is None:
                    self.shut = True
                else:
                    self.fail_next = self._trigger[3]
                if self._trigger[2]:
                    raise StoreUnavailable("the database went away before it answered", transient=True)
            return result

        return call


def run_over(store, sb, http, **kw) -> SendRun:
    client = AndOpenClient(http, sb.token, sb.url)
    return SendRun(client, store, LIST, people(), sb.campaign_ids[0], rate=50, concurrency=1, **kw)


def first_run_stops_with_the_store_away(tmp_path, sb, http, *, lose_answer: bool) -> None:
    """Run 1: the third claim shuts the door; the run stops; this process's memory is gone."""
    store = backends.store(tmp_path / "data")
    door = Door(store)
    door.shut_after("claim", 3, lose_answer=lose_answer)
    run = run_over(door, sb, http, store_wait=0.2)
    run.run()
    assert run.snapshot().state == "stopped"
    assert "did not come back" in run.snapshot().message
    as_if_its_process_ended(store, run.run_id)
    store.close()


def as_if_its_process_ended(store: Store, run_id: str) -> None:
    """The run's lock names a process of this host that is gone, as after the process exits."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    with store.db.write() as conn:
        store.db.execute(
            conn, f"UPDATE {store.db.table('runs')} SET pid=:p WHERE run_id=:r", {"p": gone.pid, "r": run_id}
        )


def second_run(tmp_path, sb, http) -> tuple[SendRun, Store]:
    store = backends.store(tmp_path / "data")
    run = run_over(store, sb, http)
    run.run()
    return run, store


@pytest.mark.parametrize(
    "lose_answer, gift_at_first",
    [
        pytest.param(True, False, id="claim written, its answer lost: never sent"),
        pytest.param(False, True, id="gift created while the store was away"),
    ],
)
def test_the_next_run_knows_what_a_run_learned_while_the_store_was_away(
    tmp_path, make_sandbox, http, lose_answer, gift_at_first
):
    sb = make_sandbox()
    first_run_stops_with_the_store_away(tmp_path, sb, http, lose_answer=lose_answer)
    gifts = {e: g[0]["id"] for e, g in sb.gifts_by_email().items()}
    assert (THIRD in gifts) is gift_at_first

    run, store = second_run(tmp_path, sb, http)
    try:
        p = run.snapshot()
        assert p.state == "completed" and p.unknown == 0, p
        assert_nobody_gifted_twice(sb)
        final = {e: g[0]["id"] for e, g in sb.gifts_by_email().items()}
        assert len(final) == ROWS
        if gift_at_first:
            assert final[THIRD] == gifts[THIRD]  # the same gift, not a second one
        journal = store.journal(LIST)
        for email, gift_id in final.items():
            assert journal[email].state == SendState.SENT and journal[email].gift_request_id == gift_id
        assert store.events(gift_request_id=final[THIRD]), "the gift's history starts with its creation"
    finally:
        store.close()


def test_with_the_kept_facts_lost_the_row_is_unknown_and_nobody_is_gifted_twice(tmp_path, make_sandbox, http):
    sb = make_sandbox()
    first_run_stops_with_the_store_away(tmp_path, sb, http, lose_answer=False)
    store = backends.store(tmp_path / "data")
    assert store.spill is not None and store.spill.path.exists()
    store.spill.path.unlink()  # the host's folder wiped
    store.close()

    run, store = second_run(tmp_path, sb, http)
    try:
        assert run.snapshot().unknown == 0 and store.journal(LIST)[THIRD].state == SendState.UNKNOWN
        assert_nobody_gifted_twice(sb)
        assert len(sb.gifts_by_email()) == ROWS  # the others were sent; the third was not asked again
    finally:
        store.close()


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(("fail", 3), id="refused three times"),
        pytest.param(("lose", "acquire_run"), id="the run lock taken, its answer lost"),
        pytest.param(("lose", "mark_orphans_unknown"), id="orphans marked, the answer lost"),
    ],
)
def test_taking_the_run_lock_waits_out_a_blip(tmp_path, make_sandbox, http, store, fault):
    sb = make_sandbox()
    door = Door(store)
    heard: list[str] = []
    if fault[0] == "fail":
        door.fail_next = fault[1]
    else:
        door.shut_after(fault[1], 1, lose_answer=True, calls=3)  # then back after three refusals
    run = run_over(door, sb, http, store_wait=30)
    run.begin(heard.append)
    run.execute()
    p = run.snapshot()
    assert (p.state, p.sent) == ("completed", ROWS), p
    assert heard and heard[0].startswith("Waiting for the database…"), heard
    assert_nobody_gifted_twice(sb)
    assert not store.live_runs(LIST)


def test_the_run_lock_taken_twice_with_one_run_id_is_that_runs(store):
    first = store.acquire_run(LIST, "you", run_id="r" * 32)
    assert store.acquire_run(LIST, "you", run_id="r" * 32) == first
    with pytest.raises(Exception, match="in progress"):
        store.acquire_run(LIST, "you")


def claimed(store: Store, email: str, run_id: str) -> None:
    store.acquire_run(LIST, "you", run_id=run_id)
    claim = store.claim(LIST, Recipient("A", "B", email), row_key="0", campaign_id="c", run_id=run_id)
    assert claim.claimed


def test_a_kept_fact_changes_only_its_own_runs_line(store):
    """A fact names its run: another run's line, a person's decision and a settled line stay."""
    assert store.spill is not None
    claimed(store, "own@example.com", "a" * 32)
    claimed(store, "other@example.com", "a" * 32)
    store.finish_run("a" * 32, "stopped", {}, "")
    store.record_outcome(LIST, "other@example.com", SendState.SENT, gift_request_id="gift-later")
    for email in ("own@example.com", "other@example.com", "nobody@example.com"):
        store.keep_unsaved(SpilledFact(Fact.NEVER_SENT, LIST, email, "a" * 32))
    store.keep_unsaved(SpilledFact(Fact.NEVER_SENT, LIST, "own@example.com", "b" * 32))  # another run's fact
    with open(store.spill.path, "a", encoding="utf-8") as fh:
        fh.write('{"fact": "never_sent", "list_key"')  # a crash mid-append
    store.mark_orphans_unknown(LIST)
    journal = store.journal(LIST)
    assert "own@example.com" not in journal  # never sent: no attempt, no unknown
    assert journal["other@example.com"].state == SendState.SENT  # the later outcome stands
    assert journal["other@example.com"].gift_request_id == "gift-later"
    assert store.spill.path.read_text() == ""  # taken, once
