"""lib.store journals every send before it happens, lets one run at a time hold a list,
keeps status history deduplicated and in order, and is shared safely by threads and
processes (real SQLite in tmp_path, real subprocesses)."""

from __future__ import annotations

import itertools
import re
import sqlite3
import subprocess
import sys
import threading
from datetime import timedelta

import pytest

from lib.models import EventSource, Recipient, SendState, StatusEvent, iso, utcnow
from lib.store import UNKNOWN_AFTER_CRASH, RunInProgress, Store
from tests import backends
from tests.support import REPO, run_threads

pytestmark = pytest.mark.usefixtures("store_backend")  # every test here touches the store

LIST = "list-a"
ALICE = Recipient("Alice", "Smith", "Alice@Example.com")


@pytest.fixture
def store(tmp_path) -> Store:
    """Unlike the shared fixture, right in tmp_path: tests here open backends.store(tmp_path) beside it."""
    s = backends.store(tmp_path)
    yield s
    s.close()


def begin(
    store: Store, email: str = ALICE.email, run_id: str = "run-1", row_key: str = "0", list_key: str = LIST
) -> bool:
    return store.begin_attempt(
        list_key, Recipient("Alice", "Smith", email), row_key=row_key, campaign_id="camp-1", run_id=run_id
    )


def state(store: Store, email: str = "alice@example.com", list_key: str = LIST) -> SendState | None:
    entry = store.journal(list_key).get(email)
    return entry.state if entry else None


def sql(store: Store, statement: str, **params) -> None:
    """Test set-up straight in the database (e.g. an old heartbeat)."""
    with store.db.write() as conn:
        store.db.execute(
            conn, re.sub(r"\b(runs|lists|sends)\b", lambda m: store.db.table(m.group(1)), statement), params
        )


def run_child(code: str, *args: str) -> str:
    """Run Python in a separate process against the same store; returns its stdout."""
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


CHILD_RUN = """
import sys
from lib.models import Recipient
from tests import backends
store = backends.store(sys.argv[1])
run = store.acquire_run(sys.argv[2], "cron@build-host")
for email in sys.argv[3:]:
    assert store.begin_attempt(sys.argv[2], Recipient("Al", "Bo", email), row_key=email, campaign_id="c",
                               run_id=run)
print(run)
"""  # a run whose process then exits without finishing: what a crash leaves behind


# ------------------------------------------------------------------ send journal


@pytest.mark.parametrize(
    "earlier,allowed",
    [
        (SendState.SENT, False),
        (SendState.UNKNOWN, False),
        (SendState.ATTEMPTING, False),
        (SendState.REJECTED, True),
        (SendState.FAILED, True),
        (None, True),
    ],
)
def test_begin_attempt_is_refused_while_a_send_is_held(store, earlier, allowed):
    if earlier is not None:
        assert begin(store, run_id="run-0")
        if earlier != SendState.ATTEMPTING:
            store.record_outcome(LIST, ALICE.email, earlier, error="something")
    assert begin(store, run_id="run-1") is allowed
    entry = store.journal(LIST)["alice@example.com"]
    if allowed:
        assert (entry.state, entry.run_id, entry.error, entry.finished_at) == (
            SendState.ATTEMPTING,
            "run-1",
            None,
            None,
        )
    else:
        assert (entry.state, entry.run_id) == (earlier, "run-0")


@pytest.mark.parametrize("email", ["alice@example.com", "  ALICE@example.COM ", "Alice@Example.com"])
def test_the_journal_identity_is_the_normalised_email(store, email):
    assert begin(store, email=ALICE.email)
    assert not begin(store, email=email, run_id="run-2")
    assert list(store.journal(LIST)) == ["alice@example.com"]


def test_the_same_email_in_another_list_is_independent(store):
    """Once the first send is known (sent); one in flight or unknown holds the person in every
    list (tests/test_unknown_holds_its_person.py)."""
    assert begin(store)
    store.record_outcome(LIST, ALICE.email, SendState.SENT, gift_request_id="g-1")
    assert begin(store, list_key="list-b")
    assert state(store, list_key="list-b") == SendState.ATTEMPTING


def test_record_outcome_keeps_what_was_sent(store):
    assert begin(store, row_key="row-7")
    store.record_outcome(
        LIST,
        "ALICE@example.com",
        SendState.SENT,
        gift_request_id="g-1",
        redemption_url="https://gift/r/1",
        request_id="req_1",
    )
    entry = store.journal(LIST)["alice@example.com"]
    assert (
        entry.state,
        entry.gift_request_id,
        entry.redemption_url,
        entry.request_id,
        entry.row_key,
        entry.campaign_id,
    ) == (SendState.SENT, "g-1", "https://gift/r/1", "req_1", "row-7", "camp-1")
    assert entry.finished_at and entry.attempted_at
    # a later outcome without a gift id (e.g. a status refresh) keeps the id and URL
    store.record_outcome(LIST, ALICE.email, SendState.SENT)
    again = store.journal(LIST)["alice@example.com"]
    assert (again.gift_request_id, again.redemption_url) == ("g-1", "https://gift/r/1")
    assert [e.email for e in store.all_sends()] == ["alice@example.com"]


@pytest.mark.parametrize(
    "run_id,earlier,kept",
    [
        ("run-1", SendState.ATTEMPTING, False),
        ("run-2", SendState.ATTEMPTING, True),  # another run's attempt is not ours to forget
        ("run-1", SendState.SENT, True),
        ("run-1", SendState.UNKNOWN, True),
    ],
)
def test_forget_attempt_only_undoes_our_own_unsent_attempt(store, run_id, earlier, kept):
    assert begin(store, run_id="run-1")
    if earlier != SendState.ATTEMPTING:
        store.record_outcome(LIST, ALICE.email, earlier)
    store.forget_attempt(LIST, ALICE.email, run_id)
    assert (state(store) is not None) == kept
    if not kept:
        assert begin(store, run_id="run-3")


@pytest.mark.slow
def test_mark_orphans_unknown_after_the_run_process_died(store, tmp_path):
    own = store.acquire_run(LIST, "me")  # alive: this process
    assert begin(store, email="live@example.com", run_id=own)
    dead = run_child(CHILD_RUN, str(tmp_path), "list-dead", "a@example.com", "b@example.com")
    # the child held list-dead; our live run holds LIST
    assert store.mark_orphans_unknown("list-dead") == 2
    assert store.mark_orphans_unknown(LIST) == 0
    dead_journal = store.journal("list-dead")
    assert {e.state for e in dead_journal.values()} == {SendState.UNKNOWN}
    assert {e.run_id for e in dead_journal.values()} == {dead}
    assert all(e.error == UNKNOWN_AFTER_CRASH for e in dead_journal.values())
    assert state(store, "live@example.com") == SendState.ATTEMPTING
    assert not begin(store, email="a@example.com", list_key="list-dead")  # unknown: a person must check


def test_mark_orphans_unknown_after_the_heartbeat_went_stale(store):
    run = store.acquire_run(LIST, "me")
    assert begin(store, run_id=run)  # and nothing recorded after: the attempt is left hanging
    assert store.mark_orphans_unknown(LIST) == 0
    sql(store, "UPDATE runs SET heartbeat_at=:t WHERE run_id=:r", t=iso(utcnow() - timedelta(minutes=5)), r=run)
    assert store.mark_orphans_unknown(LIST) == 1
    assert state(store) == SendState.UNKNOWN


@pytest.mark.parametrize(
    "earlier,cleared",
    [
        (SendState.UNKNOWN, True),
        (SendState.SENT, False),
        (SendState.ATTEMPTING, False),
        (SendState.REJECTED, False),
    ],
)
def test_clear_unknown_only_clears_an_unknown_outcome(store, earlier, cleared):
    assert begin(store)
    if earlier != SendState.ATTEMPTING:
        store.record_outcome(LIST, ALICE.email, earlier)
    assert store.clear_unknown(LIST, "ALICE@example.com", actor="checker@example.com") is cleared
    assert (state(store) is None) == cleared
    audit = store.audit_log()
    assert store.overrides(LIST) == {}  # clearing is not a look-back override
    if cleared:
        assert begin(store, run_id="run-2")  # may be sent again
        [entry] = audit
        assert entry["actor"] == "checker@example.com" and entry["action"] == "clear-unknown"
        assert entry["email"] == "alice@example.com" and entry["at"]
    else:
        assert state(store) == earlier and audit == []


# ------------------------------------------------------------------ runs


def test_a_second_run_on_the_same_list_is_refused_and_named(store, tmp_path):
    first = store.acquire_run(LIST, "alice@example.com")
    other = backends.store(tmp_path)
    try:
        with pytest.raises(RunInProgress) as info:
            other.acquire_run(LIST, "bob@example.com")
        assert "alice@example.com" in str(info.value)
        assert other.acquire_run("list-b", "bob@example.com") != first
        assert [r.run_id for r in other.live_runs(LIST)] == [first]
    finally:
        other.close()


def test_a_finished_run_frees_the_list(store):
    first = store.acquire_run(LIST, "alice")
    store.heartbeat(first, {"sent": 3})
    assert store.run(first).counts == {"sent": 3}
    store.finish_run(first, "completed", {"sent": 5}, "done")
    record = store.run(first)
    assert (record.state, record.counts, record.message) == ("completed", {"sent": 5}, "done")
    assert record.finished_at
    assert store.live_runs(LIST) == []
    assert store.acquire_run(LIST, "bob") != first


@pytest.mark.slow
def test_a_run_whose_process_died_is_taken_over(store, tmp_path):
    dead = run_child(CHILD_RUN, str(tmp_path), LIST)
    assert store.run(dead).state == "running" and store.live_runs(LIST) == []
    new = store.acquire_run(LIST, "bob")
    old = store.run(dead)
    assert (old.state, old.message) == ("stopped", "the process running it ended unexpectedly")
    assert [r.run_id for r in store.live_runs(LIST)] == [new]


def test_a_run_with_a_stale_heartbeat_is_taken_over(store):
    first = store.acquire_run(LIST, "alice")
    with pytest.raises(RunInProgress):
        store.acquire_run(LIST, "bob")
    sql(store, "UPDATE runs SET heartbeat_at=:t", t=iso(utcnow() - timedelta(minutes=5)))
    second = store.acquire_run(LIST, "bob")
    assert store.run(first).state == "stopped"
    assert [r.actor for r in store.live_runs()] == ["bob"] and second != first


def _takes_the_run(store: Store, n: int) -> bool:
    try:
        store.acquire_run(LIST, f"user{n}")
    except RunInProgress:
        return False
    return True


def _attempts_the_person(store: Store, n: int) -> bool:
    return begin(store, run_id=f"run-{n}")


@pytest.mark.parametrize("attempt", [_takes_the_run, _attempts_the_person], ids=["the-run", "the-attempt-at-a-person"])
def test_only_one_of_many_threads_gets(tmp_path, attempt):
    backends.store(tmp_path).close()  # schema in place before the race
    barrier, results = threading.Barrier(8), []

    def worker(n: int) -> None:
        s = backends.store(tmp_path)
        barrier.wait(timeout=10)
        try:
            results.append(attempt(s, n))
        finally:
            s.close()

    run_threads(worker, 8)
    assert sorted(results) == [False] * 7 + [True]


# ------------------------------------------------------------------ sharing (WAL)


@pytest.mark.sqlite_only
def test_the_store_uses_wal(store):
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_two_stores_in_two_threads_see_each_others_writes(store, tmp_path):
    seen: list[SendState | None] = []

    def other() -> None:
        s = backends.store(tmp_path)
        seen.append(state(s))  # the main thread's write
        assert begin(s, email="bob@example.com", run_id="run-b")
        s.close()

    assert begin(store)
    t = threading.Thread(target=other)
    t.start()
    t.join(timeout=30)
    assert seen == [SendState.ATTEMPTING]
    assert state(store, "bob@example.com") == SendState.ATTEMPTING


@pytest.mark.slow
def test_two_processes_see_each_others_writes(store, tmp_path):
    assert begin(store)
    store.record_outcome(LIST, ALICE.email, SendState.SENT, gift_request_id="g-1")
    out = run_child(
        """
import sys
from lib.models import Recipient, SendState
from tests import backends
s = backends.store(sys.argv[1])
e = s.journal("list-a")["alice@example.com"]
print(e.state, e.gift_request_id)
assert s.begin_attempt("list-a", Recipient("Bob", "Jones", "bob@example.com"), row_key="1", campaign_id="c", run_id="r")
""",
        str(tmp_path),
    )
    assert out == "sent g-1"
    assert state(store, "bob@example.com") == SendState.ATTEMPTING  # read through the already-open connection


# ------------------------------------------------------------------ status history

T = [
    "2026-04-16T10:00:00.000Z",
    "2026-04-16T11:00:00.000Z",
    "2026-04-16T12:00:00.000Z",
    "2026-04-16T13:00:00.000Z",
    "2026-04-16T14:00:00.000Z",
]


def event(
    event_id: str,
    status: str,
    when: str,
    gift: str = "g-1",
    email: str = "Alice@Example.com",
    url: str | None = None,
    received: str | None = None,
) -> StatusEvent:
    return StatusEvent(
        event_id=event_id,
        gift_request_id=gift,
        status=status,
        source=EventSource.WEBHOOK,
        email=email,
        occurred_at=when,
        received_at=received or when,
        redemption_url=url,
    )


def test_add_event_dedupes_by_event_id(store):
    assert store.add_event(event("e1", "submitted", T[0])) is True
    assert store.add_event(event("e1", "delivered", T[3])) is False  # a redelivery, whatever it says
    assert [e.status for e in store.events(gift_request_id="g-1")] == ["submitted"]
    assert store.gift("g-1").status == "submitted"


def test_add_events_returns_only_the_new_ones(store):
    store.add_event(event("e1", "submitted", T[0]))
    added = store.add_events(
        [event("e1", "submitted", T[0]), event("e2", "redeemed", T[1]), event("e2", "redeemed", T[1])]
    )
    assert [e.event_id for e in added] == ["e2"]
    assert len(store.events()) == 2


# (id, events as (status, time index), expected latest status)
ORDER_CASES = [
    ("forward", [("submitted", 0), ("redeemed", 1), ("dispatched", 2), ("delivered", 3)], "delivered"),
    ("cancelled-final", [("submitted", 0), ("cancelled", 1), ("redeemed", 2)], "cancelled"),
    ("unknown-newest", [("submitted", 0), ("redeemed", 1), ("returned_to_sender", 4)], "returned_to_sender"),
    ("unknown-older", [("submitted", 0), ("returned_to_sender", 1), ("dispatched", 2)], "dispatched"),
]


@pytest.mark.parametrize("events,expected", [c[1:] for c in ORDER_CASES], ids=[c[0] for c in ORDER_CASES])
def test_events_in_any_order_give_the_same_gift_status(store, events, expected):
    for n, order in enumerate(itertools.permutations(events)):
        gift = f"g-{n}"
        for status, t in order:
            store.add_event(event(f"{gift}-{status}", status, T[t], gift=gift))
        record = store.gift(gift)
        assert record.status == expected, order
        assert (record.first_seen_at, record.updated_at) == (T[min(t for _, t in events)], T[max(t for _, t in events)])
    statuses = {g.status for g in store.gifts()}
    assert statuses == {expected}


def test_gift_keeps_the_email_normalised_and_the_newest_redemption_url(store):
    store.add_event(event("e1", "submitted", T[0], url="https://gift/r/old"))
    store.add_event(event("e2", "redeemed", T[1], url=None))
    store.add_event(event("e3", "dispatched", T[2], url="https://gift/r/new"))
    store.add_event(event("e0", "submitted", T[0], url="https://gift/r/stale", received=T[1]))
    record = store.gift("g-1")
    assert (record.email, record.redemption_url) == ("alice@example.com", "https://gift/r/new")
    assert [e.event_id for e in store.events(email="ALICE@example.com ")] == ["e1", "e2", "e0", "e3"]
    assert store.gift("no-such-gift") is None


# ------------------------------------------------------------------ overrides, lists, outbox


def test_overrides_are_kept_per_list_and_person(store):
    store.record_override(LIST, "Alice@Example.com", "mgr@example.com", "asked twice")
    store.record_override(LIST, "alice@example.com", "boss@example.com", "VIP")
    store.record_override("list-b", "bob@example.com", "mgr@example.com", "x")
    [(email, (actor, at, reason))] = store.overrides(LIST).items()
    assert (email, actor, reason) == ("alice@example.com", "boss@example.com", "VIP") and at


def test_lists_are_saved_loaded_and_listed(store):
    csv = b"First,Last,Email,Approved\nAl,Bo,a@example.com,TRUE\n"
    store.save_list("k1", "Leads April", csv, {"email": "Email"})
    store.save_list("k2", "Partners", b"First,Last,Email\n", None)
    assert store.load_list("k1") == ("Leads April", csv, {"email": "Email"})
    assert store.load_list("k2") == ("Partners", b"First,Last,Email\n", {})
    assert store.load_list("nope") is None
    store.save_list("k1", "Leads April v2", b"changed", {})
    assert store.load_list("k1") == ("Leads April v2", b"changed", {})
    assert sorted((k, n) for k, n, _ in store.saved_lists()) == [("k1", "Leads April v2"), ("k2", "Partners")]


def test_saved_lists_come_newest_first(store):
    for key in ("old", "new", "mid"):
        store.save_list(key, key, b"x")
    for key, hours in (("old", 3), ("mid", 2), ("new", 1)):
        sql(store, "UPDATE lists SET updated_at=:t WHERE list_key=:k", t=iso(utcnow() - timedelta(hours=hours)), k=key)
    assert [k for k, _, _ in store.saved_lists()] == ["new", "mid", "old"]


def test_outbox_hands_out_pending_events_until_done(store):
    store.add_events([event(f"e{n}", "submitted", T[0], gift=f"g-{n}") for n in range(4)])
    store.enqueue("sheet-1", ["e2", "e0", "e1"])
    store.enqueue("sheet-1", ["e0"])  # again: no duplicate
    store.enqueue("sheet-2", ["e3"])
    assert [e.event_id for e in store.pending("sheet-1")] == ["e2", "e0", "e1"]
    assert [e.event_id for e in store.pending("sheet-1", limit=2)] == ["e2", "e0"]
    store.done("sheet-1", ["e2", "e0"])
    assert [e.event_id for e in store.pending("sheet-1")] == ["e1"]
    assert [e.event_id for e in store.pending("sheet-2")] == ["e3"]
    store.done("sheet-1", ["e1"])
    assert store.pending("sheet-1") == []
    pending = store.pending("sheet-2")[0]
    assert (pending.gift_request_id, pending.status, pending.email) == ("g-3", "submitted", "alice@example.com")
