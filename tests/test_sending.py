"""The run engine against a live sandbox: real HTTP on 127.0.0.1, a real SQLite journal.

Each test proves one promise of issue 3: every row ends sent, rejected with a reason,
unknown or (retries exhausted) failed; the journal line is written before the request;
only outcomes &Open certainly did not process are retried; a run-stopping answer stops
the run at once; Stop works; nobody is gifted twice; write-back failures lose nothing.
No test asserts on timing; every wait is a bounded poll.
"""

from __future__ import annotations

import re
import threading
from collections import Counter, defaultdict

import pytest
import requests

from lib.andopen import AndOpenClient
from lib.models import Recipient, SendState, normalize_email
from lib.ratelimit import RetryPolicy, workers_for
from lib.runtime import HTTP_POOL, http_session
from lib.sandbox import Faults, Sandbox
from lib.sandbox_limiters import LimiterKind
from lib.sending import (
    DEFAULT_CONCURRENCY,
    MAX_CONCURRENCY,
    NOT_SENT_STOPPED,
    NOT_SENT_UNAVAILABLE,
    UNKNOWN_MESSAGE,
    SendItem,
    SendRun,
)
from lib.store import RunInProgress, Store
from lib.writeback import GIFT_REQUEST_ID, GIFT_STATUS, REDEMPTION_URL, SEND_ERROR, SENT_AT
from tests import backends
from tests.support import (
    NO_SUCH_CAMPAIGN,
    RecordingSink,
    archived_campaign,
    assert_nobody_gifted_twice,
    gift_counts,
    posted_email,
    posts,
    until,
)

LIST = "test:list"
FAST = RetryPolicy(base=0.02, cap=0.2)  # 503 backoff without long waits (Retry-After still wins)
SENT_AT_FORMAT = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")
WRONG_TOKEN = "ao-v1-staging-notthesandboxtoken"


# -- helpers ------------------------------------------------------------------------------
def client_for(sb: Sandbox, *, token: str | None = None, timeout=(5.0, 30.0)) -> AndOpenClient:
    session = http_session()
    session.trust_env = False  # loopback only, never a proxy
    return AndOpenClient(session, token or sb.token, sb.url, timeout=timeout)


def people(n: int, prefix: str = "p") -> list[SendItem]:
    return [SendItem(f"{prefix}{i}", Recipient(f"First{i}", f"Last{i}", f"{prefix}{i}@example.com")) for i in range(n)]


def email_of(item: SendItem) -> str:
    return normalize_email(item.recipient.email)


def posts_by_email(sb: Sandbox) -> dict[str, list]:
    out: dict[str, list] = defaultdict(list)
    for r in posts(sb):
        out[posted_email(r)].append(r)
    return out


def engine(
    sb: Sandbox, store: Store, items, *, client: AndOpenClient | None = None, campaign: str | None = None, **kw
) -> SendRun:
    kw.setdefault("rate", 100.0)
    kw.setdefault("concurrency", 4)
    kw.setdefault("policy", FAST)
    return SendRun(client or client_for(sb), store, LIST, items, campaign or sb.campaign_ids[0], **kw)


def in_background(run: SendRun) -> threading.Thread:
    def go() -> None:
        try:
            run.run()
        except BaseException as exc:  # surfaced by the test through run.crash
            run.crash = exc

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t


# -- the happy path -----------------------------------------------------------------------
@pytest.mark.slow
def test_every_row_is_sent_and_its_result_carries_the_gift(make_sandbox, store):
    sb = make_sandbox()
    sink = RecordingSink()
    items = people(25)
    p = engine(sb, store, items, sink=sink).run()

    assert (p.state, p.total, p.done, p.sent) == ("completed", 25, 25, 25)
    assert (p.rejected, p.unknown, p.failed, p.retries) == (0, 0, 0, 0)
    gifts, rows, journal = sb.gifts_by_email(), sink.rows(), store.journal(LIST)
    for item in items:
        [gift] = gifts[email_of(item)]
        row = rows[item.row_key]
        assert row[GIFT_REQUEST_ID] == gift["id"]
        assert row[REDEMPTION_URL] == gift["redemption_url"] and row[REDEMPTION_URL].startswith(sb.url)
        assert row[GIFT_STATUS] == "Submitted"
        assert SENT_AT_FORMAT.match(row[SENT_AT]), row[SENT_AT]
        assert row[SEND_ERROR] == ""
        entry = journal[email_of(item)]
        assert (entry.state, entry.gift_request_id) == (SendState.SENT, gift["id"])
    assert 1 <= len(sink.batches) < len(items)  # batched: never one write per row


def test_the_sent_at_written_live_is_the_one_the_journal_gives_back_later(make_sandbox, store, monkeypatch):
    """A later run rewrites each row from the journal (result_for_entry): if the live write and the
    journal took their clocks apart, a second run changed the user's file (seen in CI at a second's edge)."""
    import datetime as dt

    import lib.store.journal as journal_mod
    from lib.sending import result_for_entry

    later = journal_mod.utcnow
    monkeypatch.setattr(journal_mod, "utcnow", lambda: later() + dt.timedelta(seconds=7))
    sb = make_sandbox()
    sink = RecordingSink()
    items = people(5)
    assert engine(sb, store, items, sink=sink).run().sent == 5
    rows, journal = sink.rows(), store.journal(LIST)
    for item in items:
        again = result_for_entry(item.row_key, journal[email_of(item)]).values
        assert rows[item.row_key][SENT_AT] == again[SENT_AT]


@pytest.mark.slow
def test_the_journal_line_is_written_before_the_request(make_sandbox, store):
    sb = make_sandbox(faults=Faults(latency=1.0))  # the answer is held after the gift is made
    [item] = people(1)
    run = engine(sb, store, [item], sink=RecordingSink())
    in_background(run)

    assert until(lambda: len(posts(sb)) == 1), "the request never reached the sandbox"
    assert sb.gifts_by_email()[email_of(item)], "the sandbox has created the gift"
    entry = store.journal(LIST).get(email_of(item))
    assert entry is not None, "the request went out before the journal line was written"
    assert entry.state == SendState.ATTEMPTING and entry.attempted_at and entry.gift_request_id is None

    assert run.wait(15)
    assert store.journal(LIST)[email_of(item)].state == SendState.SENT


# -- a row's own problem ------------------------------------------------------------------
BAD_ROWS = [
    # (first, last, email, param &Open names, its message)
    ("Bad", "Email", "not-an-email", "recipient.email", "is not a valid email address"),
    ("A", "Short", "short.first@example.com", "recipient.first_name", "must be between 2 and 255 characters"),
    ("Short", "B", "short.last@example.com", "recipient.last_name", "must be between 2 and 255 characters"),
]


def test_a_rejected_row_gets_andopens_message_and_the_others_go_on(make_sandbox, store):
    sb = make_sandbox()
    sink = RecordingSink()
    good = people(6)
    bad = [SendItem(f"bad{i}", Recipient(f, l, e)) for i, (f, l, e, _, _) in enumerate(BAD_ROWS)]
    items = good[:3] + bad + good[3:]
    p = engine(sb, store, items, sink=sink, concurrency=2).run()

    assert (p.state, p.sent, p.rejected, p.unknown, p.failed) == ("completed", 6, len(BAD_ROWS), 0, 0)
    rows, journal, gifts = sink.rows(), store.journal(LIST), sb.gifts_by_email()
    for item, (_, _, _, param, message) in zip(bad, BAD_ROWS):
        error = rows[item.row_key][SEND_ERROR]
        assert error.startswith("&Open rejected this row:"), error
        assert f"{param}: {message}" in error
        assert "Request-Id req_" in error
        assert journal[email_of(item)].state == SendState.REJECTED
        assert email_of(item) not in gifts
        assert not rows[item.row_key].get(GIFT_REQUEST_ID)
    for item in good:
        assert rows[item.row_key][GIFT_REQUEST_ID] == gifts[email_of(item)][0]["id"]


# -- safe to retry ------------------------------------------------------------------------
@pytest.mark.slow
def test_429s_are_retried_until_every_row_is_sent(make_sandbox, store):
    sb = make_sandbox(faults=Faults(rate_limit=5))  # the engine asks for 20/s
    items = people(20)
    p = engine(sb, store, items, rate=20, sink=RecordingSink()).run()

    statuses = Counter(r.status for r in posts(sb))
    assert statuses[429] > 0, "the rate limit was never hit: the test proves nothing"
    assert (p.state, p.sent, p.failed, p.unknown) == ("completed", 20, 0, 0)
    assert p.throttled == statuses[429]
    assert p.retries == statuses[429]
    assert statuses[201] == 20
    assert gift_counts(sb) == {email_of(i): 1 for i in items}


@pytest.mark.slow
def test_503s_are_retried_to_success(make_sandbox, store):
    sb = make_sandbox(faults=Faults(error_503=0.3, seed=3))
    items = people(20)
    p = engine(sb, store, items, sink=RecordingSink()).run()

    statuses = Counter(r.status for r in posts(sb))
    assert statuses[503] > 0, "no 503 was answered: the test proves nothing"
    assert (p.sent, p.failed, p.unknown) == (20, 0, 0)
    assert p.retries == statuses[503] and p.throttled == 0
    assert gift_counts(sb) == {email_of(i): 1 for i in items}


def test_a_row_whose_retries_run_out_is_failed_and_can_be_sent_later(make_sandbox, store):
    sb = make_sandbox(faults=Faults(error_503=1.0))
    items = people(2)
    sink = RecordingSink()
    policy = RetryPolicy(max_attempts=3, base=0.01, cap=0.02)
    p = engine(sb, store, items, sink=sink, policy=policy).run()

    assert (p.state, p.failed, p.sent, p.retries) == ("completed", 2, 0, 4)
    by_email = posts_by_email(sb)
    for item in items:
        assert [r.status for r in by_email[email_of(item)]] == [503, 503, 503]
        assert store.journal(LIST)[email_of(item)].state == SendState.FAILED
        assert sink.rows()[item.row_key][SEND_ERROR] == NOT_SENT_UNAVAILABLE
    assert sb.gifts_by_email() == {}

    sb.faults = Faults()  # &Open is back: a failed row is safe to send again
    p2 = engine(sb, store, items, sink=RecordingSink()).run()
    assert (p2.sent, p2.already) == (2, 0)
    assert gift_counts(sb) == {email_of(i): 1 for i in items}


@pytest.mark.slow
def test_a_refused_connection_is_retried_and_then_left_sendable(make_sandbox, store):
    sb = make_sandbox()
    sb.stop()  # nothing listens on its port any more: the request is never sent
    items = people(2)
    sink = RecordingSink()
    policy = RetryPolicy(max_attempts=3, base=0.01, cap=0.02)
    p = engine(sb, store, items, sink=sink, policy=policy).run()

    assert (p.state, p.failed, p.unknown, p.retries) == ("completed", 2, 0, 4)
    for item in items:
        assert store.journal(LIST)[email_of(item)].state == SendState.FAILED
        assert sink.rows()[item.row_key][SEND_ERROR] == NOT_SENT_UNAVAILABLE


@pytest.mark.slow
def test_stop_during_a_429_pause_leaves_the_waiting_rows_unsent_and_sendable(make_sandbox, store):
    sb = make_sandbox(faults=Faults(rate_limit=0.2))  # one per 5 s: a refused row waits Retry-After (5 s)
    items = people(20)
    sink = RecordingSink()
    run = engine(sb, store, items, rate=20, sink=sink)
    in_background(run)
    assert until(lambda: sum(r.status == 429 for r in posts(sb)) >= 1), "never throttled"
    run.stop()
    assert run.wait(5.0), "the run did not stop"

    p, journal, gifts = run.snapshot(), store.journal(LIST), sb.gifts_by_email()
    assert p.state == "stopped"
    assert {e.state for e in journal.values()} <= {SendState.SENT, SendState.FAILED}
    waiting = [e for e, j in journal.items() if j.state == SendState.FAILED]
    assert waiting, "no row was waiting out a 429: the test proves nothing"
    for e in waiting:
        assert journal[e].error == NOT_SENT_STOPPED and e not in gifts
    assert {e for e, j in journal.items() if j.state == SendState.SENT} == set(gifts)

    sb.faults = Faults()
    engine(sb, store, items, sink=RecordingSink()).run()
    assert gift_counts(sb) == {email_of(i): 1 for i in items}


# -- unknown outcomes ---------------------------------------------------------------------
UNKNOWN_CASES = [
    # (name, faults, client timeout, the answer the sandbox recorded, a Request-Id to show)
    ("500 after create", Faults(error_500_after_create=1.0), (5.0, 30.0), 500, True),
    ("hang after create", Faults(hang_after_create=1.0, hang_seconds=2.0), (1.0, 0.5), None, False),
]


@pytest.mark.slow
@pytest.mark.parametrize("name,faults,timeout,status,request_id", UNKNOWN_CASES, ids=[c[0] for c in UNKNOWN_CASES])
def test_an_unknown_outcome_is_marked_and_never_retried(make_sandbox, store, name, faults, timeout, status, request_id):
    sb = make_sandbox(faults=faults)
    items = people(3)
    sink = RecordingSink()
    p = engine(sb, store, items, client=client_for(sb, timeout=timeout), sink=sink).run()

    assert (p.state, p.unknown, p.sent, p.retries, p.failed) == ("completed", 3, 0, 0, 0)
    by_email, gifts = posts_by_email(sb), sb.gifts_by_email()
    for item in items:
        assert [r.status for r in by_email[email_of(item)]] == [status], "an unknown outcome was retried"
        assert len(gifts[email_of(item)]) == 1  # &Open did create it: a retry would gift twice
        assert store.journal(LIST)[email_of(item)].state == SendState.UNKNOWN
        error = sink.rows()[item.row_key][SEND_ERROR]
        assert error.startswith(UNKNOWN_MESSAGE), error
        assert ("Request-Id req_" in error) == request_id
        assert not sink.rows()[item.row_key].get(GIFT_REQUEST_ID)

    sb.faults = Faults()
    before = len(posts(sb))
    p2 = engine(sb, store, items, sink=RecordingSink()).run()
    assert len(posts(sb)) == before, "a later run sent an unknown row again"
    assert (p2.already, p2.sent) == (3, 0)


# -- run-stopping outcomes ----------------------------------------------------------------
STOPPING_CASES = [
    # (name, wrong token, campaign picker, words the one message must contain)
    ("wrong key", WRONG_TOKEN, lambda sb: sb.campaign_ids[0], "rejected the API key"),
    ("campaign does not exist", None, lambda sb: NO_SUCH_CAMPAIGN, "campaign cannot be used"),
    ("archived campaign", None, archived_campaign, "campaign cannot be used"),
]


@pytest.mark.slow
@pytest.mark.parametrize("name,token,campaign,words", STOPPING_CASES, ids=[c[0] for c in STOPPING_CASES])
def test_a_run_stopping_answer_stops_the_run_at_once(make_sandbox, store, name, token, campaign, words):
    sb = make_sandbox(faults=Faults(latency=0.05))
    concurrency = 4
    sink = RecordingSink()
    run = engine(
        sb,
        store,
        people(60),
        client=client_for(sb, token=token),
        campaign=campaign(sb),
        concurrency=concurrency,
        rate=200,
        sink=sink,
    )
    p = run.run()

    assert p.state == "stopped"
    assert words in p.message
    assert 1 <= len(posts(sb)) <= concurrency, "requests went out after the run-stopping answer"
    assert sb.gifts_by_email() == {}
    assert (p.sent, p.done) == (0, 0)
    journal = store.journal(LIST)
    assert not [e for e in journal.values() if e.state == SendState.ATTEMPTING]
    assert journal == {}, "rows that were never sent must stay unjournalled"
    assert not any(words in v.get(SEND_ERROR, "") for v in sink.rows().values()), "one message, not one per row"
    record = store.run(run.run_id)
    assert record.state == "stopped" and words in (record.message or "")


# -- stopping by hand ---------------------------------------------------------------------
@pytest.mark.slow
def test_stop_mid_run_lets_in_flight_sends_finish_and_journals_nothing_else(make_sandbox, store):
    sb = make_sandbox(faults=Faults(latency=0.2))
    items = people(200)
    sink = RecordingSink()
    run = engine(sb, store, items, rate=5, sink=sink)
    in_background(run)
    assert until(lambda: len(posts(sb)) >= 3)
    run.stop()
    assert run.wait(5.0), "the run did not stop"
    p = run.snapshot()

    assert p.state == "stopped" and p.message == "Stopped by user."
    assert 3 <= p.sent < len(items)
    journal = store.journal(LIST)
    assert not [e for e in journal.values() if e.state != SendState.SENT], "in-flight sends were not recorded"
    assert len(journal) == p.sent == len(posts(sb)) == len(sb.gifts)
    assert set(posts_by_email(sb)) == set(journal), "a row was sent without a journal line"
    rows = sink.rows()
    for item in items:
        entry = journal.get(email_of(item))
        if entry is not None:
            assert rows[item.row_key][GIFT_REQUEST_ID] == entry.gift_request_id
    assert store.run(run.run_id).state == "stopped"


# -- one run at a time, and a run never sends twice ---------------------------------------
def test_a_second_run_resends_nothing_sent_or_unknown(make_sandbox, store):
    sb = make_sandbox(faults=Faults(error_500_after_create=0.3, seed=5))
    bad = SendItem("bad", Recipient("Bad", "Email", "not-an-email"))
    items = people(20) + [bad]
    p1 = engine(sb, store, items, sink=RecordingSink()).run()
    assert p1.unknown > 0 and p1.sent > 0 and p1.rejected == 1, "the fault mix did not produce both outcomes"
    first = store.journal(LIST)
    posted_before = len(posts(sb))

    sb.faults = Faults()
    sink = RecordingSink()
    p2 = engine(sb, store, items, sink=sink).run()
    new_posts = posts(sb)[posted_before:]
    assert [posted_email(r) for r in new_posts] == [email_of(bad)], "only the rejected row may go again"
    assert p2.already == p1.sent + p1.unknown
    assert p2.eta == 0.0, "rows the journal held are not left to do"
    rows = sink.rows()
    for item in items[:-1]:  # the journal writes every held result back, in case the sheet lost it
        entry = first[email_of(item)]
        if entry.state == SendState.SENT:
            assert rows[item.row_key][GIFT_REQUEST_ID] == entry.gift_request_id
        else:
            assert entry.state == SendState.UNKNOWN
            assert rows[item.row_key][SEND_ERROR].startswith(UNKNOWN_MESSAGE)
    assert_nobody_gifted_twice(sb)


def _held_by_another_store(tmp_path, store, sb):
    other = backends.store(tmp_path / "data")  # another process's connection to the same store
    other.acquire_run(LIST, "alice@team")
    return None


def _held_by_a_running_engine(tmp_path, store, sb):
    first = engine(sb, store, people(3, prefix="first"), actor="alice@team")
    first.begin()
    return first


@pytest.mark.parametrize(
    "hold",
    [_held_by_another_store, _held_by_a_running_engine],
    ids=["another store connection", "a SendRun that has begun"],
)
def test_a_run_while_another_holds_the_list_is_refused(make_sandbox, store, tmp_path, hold):
    sb = make_sandbox()
    first = hold(tmp_path, store, sb)
    second = engine(sb, store, people(3), actor="bob@team")
    with pytest.raises(RunInProgress, match="in progress.*alice@team"):
        second.run()
    assert posts(sb) == []
    assert store.journal(LIST) == {}
    if first is not None:  # the holder itself goes on undisturbed
        assert first.execute().sent == 3


# -- the fault mix ----------------------------------------------------------------
@pytest.mark.slow
def test_the_fault_mix_ends_every_row_in_a_known_state_and_gifts_nobody_twice(make_sandbox, store):
    # The engine asks for twice the sandbox's limit: about 5% of the answers are 429s.
    sb = make_sandbox(
        faults=Faults(
            error_503=0.10,
            rate_limit=20,
            error_500_after_create=0.02,
            hang_after_create=0.02,
            hang_seconds=2.0,
            seed=11,
        )
    )
    bad = [SendItem(f"bad{i}", Recipient(f, l, e)) for i, (f, l, e, _, _) in enumerate(BAD_ROWS)]
    items = people(200) + bad
    sink = RecordingSink()
    policy = RetryPolicy()
    p = engine(
        sb,
        store,
        items,
        client=client_for(sb, timeout=(1.0, 0.5)),
        rate=40,
        concurrency=8,
        policy=policy,
        sink=sink,
        flush_interval=0.5,
    ).run()

    statuses = Counter(r.status for r in posts(sb))
    assert all(statuses[s] > 0 for s in (201, 429, 503, 500, None)), f"a fault never fired: {statuses}"
    assert p.state == "completed"
    assert p.done == p.sent + p.rejected + p.unknown + p.failed == len(items)
    journal, rows, by_email, gifts = store.journal(LIST), sink.rows(), posts_by_email(sb), sb.gifts_by_email()
    assert_nobody_gifted_twice(sb)
    for item in items:
        e, row = email_of(item), rows[item.row_key]
        entry = journal[e]
        answers = [r.status for r in by_email[e]]
        # nothing follows an answer that created (or may have created) a gift
        assert all(s in (429, 503) for s in answers[:-1]), (e, answers)
        if entry.state == SendState.SENT:
            assert answers[-1] == 201 and row[GIFT_REQUEST_ID] == gifts[e][0]["id"]
        elif entry.state == SendState.REJECTED:
            assert item in bad and answers == [422]
            assert row[SEND_ERROR].startswith("&Open rejected this row:") and "recipient." in row[SEND_ERROR]
        elif entry.state == SendState.UNKNOWN:
            assert answers[-1] in (500, None) and len(gifts[e]) == 1
            assert row[SEND_ERROR].startswith(UNKNOWN_MESSAGE)
        else:  # FAILED only when every allowed try was refused as "not processed"
            assert entry.state == SendState.FAILED, entry
            assert len(answers) == policy.max_attempts and e not in gifts
            assert row[SEND_ERROR] == NOT_SENT_UNAVAILABLE
    assert {email_of(i) for i in bad} == {e for e, j in journal.items() if j.state == SendState.REJECTED}
    assert p.unknown == statuses[500] + statuses[None] > 0
    assert 0 < p.throttled <= statuses[429]

    # Running again: nothing sent or unknown goes out; only rejected/failed rows may.
    sb.faults = Faults()
    before = len(posts(sb))
    engine(sb, store, items, sink=RecordingSink()).run()
    again = {posted_email(r) for r in posts(sb)[before:]}
    allowed = {e for e, j in journal.items() if j.state in (SendState.REJECTED, SendState.FAILED)}
    assert again <= allowed, f"sent again: {sorted(again - allowed)}"
    assert_nobody_gifted_twice(sb)


# -- write-back failures lose nothing -------------------------------------------------------
@pytest.mark.slow
def test_a_sink_that_fails_once_gets_the_results_on_a_later_flush(make_sandbox, store):
    sb = make_sandbox(faults=Faults(latency=0.3))
    items = people(5)
    sink = RecordingSink(fail_first=1)
    run = engine(sb, store, items, concurrency=1, sink=sink, flush_interval=0.05)
    p = run.run()

    assert p.sent == 5
    assert len(sink.failed) == 1 and sink.failed[0], "the first flush did not fail: the test proves nothing"
    assert p.flush_errors == 1 and p.writeback_error == ""
    assert run.unflushed == []
    rows = sink.rows()
    assert set(rows) == {i.row_key for i in items}
    for r in sink.failed[0]:
        assert rows[r.row_key] == {**rows[r.row_key], **r.values}, "a result of the failed batch was lost"
        assert rows[r.row_key][GIFT_REQUEST_ID]


def test_a_sink_that_never_works_keeps_everything_for_the_next_run(make_sandbox, store):
    sb = make_sandbox()
    items = people(5)
    run = engine(sb, store, items, sink=RecordingSink(always_fail=True))
    p = run.run()
    assert p.sent == 5 and p.flush_errors >= 1
    assert "Writing results back failed" in p.writeback_error
    assert {r.row_key for r in run.unflushed} == {i.row_key for i in items}

    sink = RecordingSink()
    before = len(posts(sb))
    p2 = engine(sb, store, items, sink=sink).run()
    assert len(posts(sb)) == before and p2.already == 5
    gifts = sb.gifts_by_email()
    assert {k: v[GIFT_REQUEST_ID] for k, v in sink.rows().items()} == {
        i.row_key: gifts[email_of(i)][0]["id"] for i in items
    }


# -- the pace and the requests in flight ---------------------------------------------------
def latency_readings(run: SendRun) -> list[float]:
    """Every latency the run's pool was fitted to, in order."""
    readings: list[float] = []
    seconds = run.latency.seconds

    def read() -> float:
        readings.append(seconds())
        return readings[-1]

    run.latency.seconds = read  # type: ignore[method-assign]
    return readings


def most_in_flight(sb: Sandbox, latency: float) -> int:
    """The most creates the sandbox held at once: each is held `latency` after it arrived."""
    arrived = sorted(r.at for r in posts(sb))
    return max(sum(1 for t in arrived if a - latency < t <= a) for a in arrived)


@pytest.mark.slow
def test_a_slow_api_gets_as_many_requests_in_flight_as_its_latency_needs_and_no_more(make_sandbox, store):
    """A run as the app and the CLI make it (default concurrency): 20/s at 1 s per create
    needs ~20 in flight; a fixed pool of 8 would carry 8/s. A fast API keeps the first 8."""
    slow = make_sandbox(faults=Faults(latency=1.0))
    items = people(50)
    run = SendRun(
        client_for(slow), store, LIST, items, slow.campaign_ids[0], rate=20, policy=FAST, sink=RecordingSink()
    )
    p = run.run()
    assert (p.state, p.sent, p.failed, p.unknown) == ("completed", 50, 0, 0)
    assert gift_counts(slow) == {email_of(i): 1 for i in items}
    assert most_in_flight(slow, 1.0) >= 15
    assert most_in_flight(slow, 1.0) <= run.peak_workers <= MAX_CONCURRENCY

    fast = make_sandbox()
    run = SendRun(
        client_for(fast),
        store,
        "test:fast",
        people(50, "f"),
        fast.campaign_ids[0],
        rate=20,
        policy=FAST,
        sink=RecordingSink(),
    )
    readings = latency_readings(run)
    assert run.run().sent == 50
    # A fast API keeps the first 8; a loaded machine may see a slow answer, and no more than
    # that answer needs joins (8 then 9 on a busy CI host, never the slow API's 15+).
    needed = workers_for(20, max(readings, default=0.0), least=DEFAULT_CONCURRENCY, most=MAX_CONCURRENCY)
    assert DEFAULT_CONCURRENCY <= run.peak_workers <= needed, (run.peak_workers, max(readings, default=0.0))

    capped = make_sandbox(faults=Faults(latency=1.0))
    run = engine(capped, store, people(30, "c"), rate=50, concurrency=5, sink=RecordingSink())
    assert run.run().sent == 30 and run.peak_workers == 5  # the concurrency asked is a ceiling
    assert most_in_flight(capped, 1.0) <= 5


@pytest.mark.slow
def test_the_connection_pool_follows_the_requests_in_flight(make_sandbox, store):
    """A session whose pool keeps 2 connections would open (and throw away) one per request
    beyond the second; the run widens it, so connections are reused."""
    sb = make_sandbox(faults=Faults(latency=0.3))
    session = requests.Session()
    session.trust_env = False
    session.mount("http://", requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=2))
    client = AndOpenClient(session, sb.token, sb.url)
    run = engine(sb, store, people(60), client=client, rate=40, concurrency=MAX_CONCURRENCY, sink=RecordingSink())
    p = run.run()

    assert p.sent == 60 and run.peak_workers > 2
    assert sb.connections_opened <= run.peak_workers + 1, (sb.connections_opened, run.peak_workers)
    assert HTTP_POOL >= MAX_CONCURRENCY  # the app's and the CLI's sessions never need widening


@pytest.mark.slow
@pytest.mark.parametrize("retry_after", [True, False], ids=["retry-after", "no-retry-after"])
def test_a_429_teaches_the_ceiling_and_the_pace_stays_just_under_it(make_sandbox, store, retry_after):
    sb = make_sandbox(faults=Faults(rate_limit=10, limiter=LimiterKind.SLIDING_WINDOW, retry_after=retry_after))
    items = people(50)
    run = engine(sb, store, items, rate=20, sink=RecordingSink())  # asks for twice what is allowed
    p = run.run()

    statuses = Counter(r.status for r in posts(sb))
    assert statuses[429] >= 1, "the limit was never met: the test proves nothing"
    assert (p.state, p.sent, p.failed, p.unknown) == ("completed", 50, 0, 0)
    assert gift_counts(sb) == {email_of(i): 1 for i in items}
    assert 8.0 <= run.limiter.rate < 10.0, "the pace must come back just under the 10/s ceiling, not to 20/s"
    # Learned: 1 on a quiet machine. Not learned: about 44 (8 with Retry-After pauses, which
    # the pace assertion above catches). A loaded server stamps some arrivals late, so a few
    # lone 429s (each retried) are the busy machine's, not the pace's.
    assert statuses[429] <= len(items) // 4, f"the ceiling was hit again and again: {statuses}"


def test_a_run_stopped_at_the_last_moment_before_a_request_leaves_journals_nothing(make_sandbox, store):
    sb = make_sandbox()
    [item] = people(1)
    run = engine(sb, store, [item], sink=RecordingSink())

    def stop_at_the_gate(should_stop=lambda: False, slice_s=0.1):
        run.stop()
        return False

    run.limiter.gate = stop_at_the_gate
    p = run.run()
    assert p.state == "stopped" and posts(sb) == []
    assert email_of(item) not in store.journal(LIST), "a row never sent must stay sendable, not unknown"


# -- the benchmark runs ---------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
def test_the_benchmark_runs_small_against_every_limiter_and_fails_no_row():
    from bench.send_throughput import main

    figures, clays = main(["--rows", "40", "--limit", "20", "--latency", "0.02", "--clay-rows", "10"])
    assert {(f.limiter, f.retry_after) for f in figures} == {(k.value, ra) for k in LimiterKind for ra in (True, False)}
    for f in figures:
        assert f.sent == f.sandbox_gifts == 40, f
        assert f.failed == f.failed_by_429 == f.unknown == 0, f
    [clay] = clays
    assert clay.errors == 0 and clay.rows_timed == 10 and clay.extrapolated
