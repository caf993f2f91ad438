"""The guardrails in the store, on SQLite and PostgreSQL: the claim refuses with the rule that
refused it (held, look-back, daily limit, do-not-gift); the daily limit counts what is or may be
a gift in the last 24 hours across every list; the do-not-gift list is checked at claim time
whatever override exists; every change to the list, every cap and every limit stop is audited;
an old store gains the new tables, and `store copy` carries the list without bringing back an
entry the database removed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lib.donotgift import new_entry
from lib.models import Recipient, SendState, iso, utcnow
from lib.store import NO_LOOKBACK, Refusal, Store
from lib.store.copy import copy_store
from lib.store.migrations import LATEST, version
from tests import backends
from tests.test_store_migrations import released_store


def person(email: str) -> Recipient:
    return Recipient("Ana", "Ruiz", email)


def claim(store: Store, list_key: str, email: str, *, run: str = "r1", limit: int | None = None, lookback=NO_LOOKBACK):
    return store.claim(
        list_key, person(email), row_key="0", campaign_id="c", run_id=run, lookback_since=lookback, daily_limit=limit
    )


def age(store: Store, list_key: str, email: str, hours: float) -> None:
    with store.db.write() as conn:
        store.db.execute(
            conn,
            f"UPDATE {store.db.table('sends')} SET attempted_at=:t WHERE list_key=:l AND email=:e",
            {"t": iso(utcnow() - timedelta(hours=hours)), "l": list_key, "e": email},
        )


def test_the_daily_limit_counts_gifts_and_maybe_gifts_of_the_last_24_hours_in_every_list(store):
    for i, state in enumerate([SendState.SENT, SendState.UNKNOWN, SendState.REJECTED, SendState.FAILED]):
        assert claim(store, "list-a", f"a{i}@example.com", limit=10).claimed
        store.record_outcome("list-a", f"a{i}@example.com", state)
    assert claim(store, "list-b", "b0@example.com", limit=10).claimed  # in flight: may become a gift
    assert claim(store, "list-b", "old@example.com", limit=10).claimed
    store.record_outcome("list-b", "old@example.com", SendState.SENT)
    age(store, "list-b", "old@example.com", 24.5)  # out of the window
    age(store, "list-a", "a0@example.com", 23)  # the oldest one counted
    room = store.daily_room(3)
    assert (room.used, room.left) == (3, 0)  # sent + unknown + in flight; not rejected, failed or old
    assert room.frees_at is not None and abs((room.frees_at - utcnow()) - timedelta(hours=1)) < timedelta(minutes=1)

    refused = claim(store, "list-c", "c0@example.com", limit=3)
    assert (refused.claimed, refused.refusal, refused.room.used) == (False, Refusal.DAILY_LIMIT, 3)
    assert "daily limit" in refused.reason and "c0@example.com" not in store.journal("list-c")
    assert claim(store, "list-c", "c0@example.com", limit=4).claimed  # one more allowed: room for exactly one
    assert claim(store, "list-c", "c1@example.com", limit=4).refusal == Refusal.DAILY_LIMIT
    assert claim(store, "list-c", "c1@example.com").claimed  # no limit set: nothing counted


def test_a_rejected_line_sent_again_counts_once_it_is_claimed_again(store):
    assert claim(store, "l", "x@example.com", limit=1).claimed
    store.record_outcome("l", "x@example.com", SendState.REJECTED, error="bad name")
    assert store.daily_room(1).left == 1
    assert claim(store, "l", "x@example.com", limit=1, run="r2").claimed
    assert store.daily_room(1).left == 0


def test_each_refusal_names_its_rule(store):
    assert claim(store, "l1", "ana@example.com").claimed
    held = claim(store, "l1", "ana@example.com")
    assert (held.claimed, held.refusal) == (False, Refusal.HELD)
    other = claim(store, "l2", "ana@example.com", lookback=None)
    assert (other.claimed, other.refusal) == (False, Refusal.LOOKBACK)
    assert "look-back" in other.reason


def test_the_do_not_gift_list_refuses_at_claim_time_whatever_override_or_look_back(store):
    store.add_do_not_gift([new_entry("@Rival.example", "competitor")], "maria@team")
    store.record_override("l1", "bo@eu.rival.example", "sam@team", "send anyway")  # a look-back override
    for lookback in (NO_LOOKBACK, None, iso(utcnow() - timedelta(days=30))):
        refused = claim(store, "l1", "BO@EU.RIVAL.EXAMPLE", lookback=lookback)
        assert (refused.claimed, refused.refusal) == (False, Refusal.DO_NOT_GIFT)
        assert refused.reason.startswith("On the do-not-gift list: @rival.example (competitor) — added by maria@team")
    assert store.journal("l1") == {}
    assert claim(store, "l1", "bo@notrival.example").claimed
    assert store.remove_do_not_gift("@RIVAL.example", "lee@team").value == "@rival.example"
    assert claim(store, "l1", "bo@eu.rival.example").claimed


def test_every_change_to_the_list_is_audited_with_who(store):
    report = store.add_do_not_gift([new_entry("vip0@example.com", "board"), new_entry("@rival.example")], "maria@team")
    assert (report.added, report.changed, report.unchanged) == (2, 0, 0)
    assert store.add_do_not_gift([new_entry("VIP0@example.com", "")], "sam@team").unchanged == 1  # no reason: kept
    assert store.add_do_not_gift([new_entry("vip0@example.com", "chair")], "sam@team").changed == 1
    assert store.add_do_not_gift([new_entry("vip0@example.com", "")], "sam@team", set_reason=True).changed == 1
    entries = {e.value: e for e in store.do_not_gift()}
    assert list(entries) == ["@rival.example", "vip0@example.com"]  # domains first
    assert (entries["vip0@example.com"].reason, entries["vip0@example.com"].added_by) == ("", "maria@team")
    assert store.remove_do_not_gift("nobody@example.com", "lee@team") is None
    assert store.remove_do_not_gift("vip0@example.com", "lee@team").added_by == "maria@team"
    log = [(a["actor"], a["action"], a["email"]) for a in reversed(store.audit_log())]
    assert log == [
        ("maria@team", "do-not-gift add", "vip0@example.com"),
        ("maria@team", "do-not-gift add", "@rival.example"),
        ("sam@team", "do-not-gift change", "vip0@example.com"),
        ("sam@team", "do-not-gift change", "vip0@example.com"),
        ("lee@team", "do-not-gift remove", "vip0@example.com"),
    ]
    assert "was added by maria@team" in store.audit_log()[0]["detail"]


def test_a_cap_set_on_a_run_is_kept_with_the_run_and_audited(store):
    run_id = store.acquire_run("list-a", "maria@team", max_gifts=10)
    assert store.run(run_id).max_gifts == 10
    assert store.run(store.acquire_run("list-b", "sam@team")).max_gifts is None
    [line] = store.audit_log()
    assert (line["actor"], line["action"], line["list_key"]) == ("maria@team", "run cap", "list-a")
    assert line["detail"] == f"run {run_id[:8]}: at most 10 gifts"


@pytest.mark.usefixtures("store_backend")
def test_a_store_from_before_the_guardrails_gains_the_list_and_the_cap(tmp_path):
    released_store(tmp_path)
    store = Store(tmp_path)
    try:
        assert version(store.db) == LATEST
        assert store.run("r1").max_gifts is None
        store.add_do_not_gift([new_entry("@rival.example")], "me")
        assert store.do_not_gift_entry("ana@rival.example").value == "@rival.example"
    finally:
        store.close()


@pytest.mark.usefixtures("store_backend")
def test_store_copy_carries_the_list_and_never_brings_back_an_entry_the_database_removed(tmp_path):
    source = Store(tmp_path / "old")
    target = backends.store(tmp_path / "new")
    try:
        source.add_do_not_gift([new_entry("@rival.example", "competitor"), new_entry("vip0@example.com")], "maria")
        copy_store(source, target)
        assert [e.value for e in target.do_not_gift()] == ["@rival.example", "vip0@example.com"]
        assert target.do_not_gift()[0].added_by == "maria"
        target.remove_do_not_gift("vip0@example.com", "lee")
        report = copy_store(source, target)  # copied again later
        assert [e.value for e in target.do_not_gift()] == ["@rival.example"]
        assert report.copied["do_not_gift"] == 0
    finally:
        source.close()
        target.close()


@pytest.mark.parametrize("limit", [None, 5])
def test_the_claim_still_refuses_a_person_held_by_the_journal(store, limit):
    assert claim(store, "l", "a@example.com", limit=limit).claimed
    store.record_outcome("l", "a@example.com", SendState.SENT)
    assert claim(store, "l", "a@example.com", limit=limit, run="r2").refusal == Refusal.HELD
