"""The run engine under the guardrails, against the sandbox on 127.0.0.1 and a real store: a
cap sends exactly that many gifts with several workers at once (a rejected row gives its place
back, an unknown outcome keeps it) and every row beyond it says why, unjournalled; the daily
limit stops the whole run with one message while the rows it never sent say why; an entry
added to the do-not-gift list after the review still stops the gift at claim time."""

from __future__ import annotations

from datetime import timedelta

from lib.donotgift import new_entry
from lib.guardrails import RunLimits
from lib.models import Recipient, SendState, normalize_email, utcnow
from lib.sandbox import Faults
from lib.sending import SendItem
from lib.store import NO_LOOKBACK
from lib.writeback import ELIGIBILITY, GIFT_REQUEST_ID, SEND_ERROR, SKIP_REASON
from tests.support import RecordingSink, assert_nobody_gifted_twice, gift_counts
from tests.test_sending import LIST, engine, people

CAP_MESSAGE = "Not sent: this run's limit of 10 gifts was reached."


def test_a_cap_of_10_on_30_rows_sends_exactly_10_and_the_other_20_say_why(make_sandbox, store):
    sb = make_sandbox()
    sink = RecordingSink()
    p = engine(sb, store, people(30), sink=sink, concurrency=8, limits=RunLimits(max_gifts=10)).run()
    assert (p.state, p.sent, p.limited) == ("completed", 10, 20)
    assert sum(gift_counts(sb).values()) == 10
    rows = sink.rows()
    sent = [k for k, r in rows.items() if r.get(GIFT_REQUEST_ID)]
    capped = [k for k, r in rows.items() if r.get(SEND_ERROR) == CAP_MESSAGE]
    assert (len(sent), len(capped)) == (10, 20) and not set(sent) & set(capped)
    assert len(store.journal(LIST)) == 10  # the rows beyond the cap are not journalled
    run = store.run(p.run_id)
    assert (run.max_gifts, run.counts["limited"]) == (10, 20)
    assert [(a["action"], a["list_key"]) for a in store.audit_log()] == [("run cap", LIST)]


def test_a_rejected_row_gives_its_place_back_and_an_unknown_outcome_keeps_it(make_sandbox, store):
    sb = make_sandbox()
    bad = [SendItem(f"bad{i}", Recipient("A", f"Short{i}", f"short{i}@example.com")) for i in range(3)]
    sink = RecordingSink()
    p = engine(sb, store, bad + people(20), sink=sink, concurrency=4, limits=RunLimits(max_gifts=10)).run()
    assert (p.sent, p.rejected, p.limited) == (10, 3, 10)  # three rejections cost no gift: 10 still sent
    assert sum(gift_counts(sb).values()) == 10

    sb2 = make_sandbox(faults=Faults(error_500_after_create=1.0, seed=3))  # every answer lost: maybe a gift
    p2 = engine(sb2, store, people(8, "u"), concurrency=4, limits=RunLimits(max_gifts=3)).run()
    assert (p2.unknown, p2.limited) == (3, 5)
    assert sum(gift_counts(sb2).values()) == 3


def test_the_daily_limit_stops_the_run_with_one_message_and_the_unsent_rows_say_why(make_sandbox, store):
    sb = make_sandbox()
    first = engine(sb, store, people(10, "early"), limits=RunLimits(daily_limit=15)).run()
    assert (first.state, first.sent) == ("completed", 10)
    sink = RecordingSink()
    p = engine(sb, store, people(10), sink=sink, concurrency=3, limits=RunLimits(daily_limit=15)).run()
    assert (p.state, p.sent, p.limited) == ("stopped", 5, 5)
    assert p.message.startswith(
        "Stopped at the team's daily limit: 15 gifts in any 24 hours (GIFTRUN_DAILY_LIMIT), "
        "and 15 were sent in the last 24 hours. Room frees up at "
    )
    frees = (utcnow() + timedelta(hours=24)).strftime("%Y-%m-%d")
    assert frees in p.message
    assert sum(gift_counts(sb).values()) == 15
    not_sent = [r[SEND_ERROR] for r in sink.rows().values() if not r.get(GIFT_REQUEST_ID)]
    assert len(not_sent) == 5
    assert all(
        e.startswith("Not sent: the team's daily limit of 15 gifts in 24 hours was reached. Send again after ")
        for e in not_sent
    ), not_sent
    assert len(store.journal(LIST)) == 15  # the rows the limit stopped are not journalled
    run = store.run(p.run_id)
    assert (run.state, run.message) == ("stopped", p.message)
    [stop] = [a for a in store.audit_log() if a["action"] == "daily limit stop"]
    assert stop["list_key"] == LIST and p.run_id[:8] in stop["detail"]


def test_an_entry_added_after_the_review_stops_the_gift_at_claim_time(make_sandbox, store):
    sb = make_sandbox()
    items = people(4) + [SendItem("r", Recipient("Rita", "Vale", "rita@EU.Rival.example"))]
    store.add_do_not_gift([new_entry("@rival.example", "competitor")], "maria@team")  # after the plan was made
    store.add_do_not_gift([new_entry("p1@example.com")], "maria@team")
    store.record_override(LIST, "p1@example.com", "sam@team", "look-back override")  # lifts the look-back only
    sink = RecordingSink()
    p = engine(sb, store, items, sink=sink, lookback_days=NO_LOOKBACK).run()
    assert (p.state, p.sent, p.skipped) == ("completed", 3, 2)
    assert normalize_email("rita@eu.rival.example") not in gift_counts(sb) and "p1@example.com" not in gift_counts(sb)
    rows = sink.rows()
    assert rows["r"][ELIGIBILITY] == "skip"
    assert rows["r"][SKIP_REASON].startswith(
        "On the do-not-gift list: @rival.example (competitor) — added by maria@team"
    )
    assert rows["p1"][SKIP_REASON].startswith("On the do-not-gift list: p1@example.com — added by maria@team")
    assert {e for e in store.journal(LIST)} == {"p0@example.com", "p2@example.com", "p3@example.com"}
    assert_nobody_gifted_twice(sb)
    assert all(e.state == SendState.SENT for e in store.journal(LIST).values())
