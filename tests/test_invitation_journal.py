"""The invitation journal in the store, on SQLite and PostgreSQL: a line per gift and kind written
before the email, only a failure claimable again, a sent line never taken back, a dead run's
line unknown until a person clears it, the do-not-gift list and the team's email daily limit
checked in the claim, and two hosts racing for one gift: exactly one wins."""

from __future__ import annotations

import threading

import pytest

from lib.donotgift import new_entry
from lib.store.invitations import InviteKind, InviteRefusal, InviteState
from tests import backends

INV = InviteKind.INVITATION


def claim(store, gift: str, run_id: str, *, email: str = "bo@example.com", kind=INV, limit: int | None = None):
    return store.claim_invitation(
        gift,
        kind,
        email=email,
        list_key="list:a",
        row_key="0",
        run_id=run_id,
        message_id=f"<{gift}@team.example>",
        daily_limit=limit,
    )


@pytest.fixture
def run_id(store):
    return store.acquire_run("invite:list:a", "tester")


def state(store, gift: str, kind=INV) -> InviteState | None:
    rec = store.invitations(gift_ids=[gift]).get((gift, kind))
    return rec.state if rec else None


def test_the_line_is_written_before_the_email_and_holds_the_gift(store, run_id):
    assert claim(store, "g1", run_id).claimed
    rec = store.invitations(list_key="list:a")[("g1", INV)]
    assert (rec.state, rec.email, rec.message_id, rec.run_id) == (
        InviteState.ATTEMPTING,
        "bo@example.com",
        "<g1@team.example>",
        run_id,
    )
    assert claim(store, "g1", run_id).refusal == InviteRefusal.HELD
    assert claim(store, "g1", run_id, kind=InviteKind.REMINDER).claimed  # the reminder is its own line


@pytest.mark.parametrize(
    "outcome, again",
    [(InviteState.FAILED, True), (InviteState.REFUSED, True), (InviteState.SENT, False), (InviteState.UNKNOWN, False)],
)
def test_only_an_email_the_server_never_took_may_be_claimed_again(store, run_id, outcome, again):
    claim(store, "g1", run_id)
    store.record_invitation("g1", INV, outcome, error="x")
    assert claim(store, "g1", run_id).claimed is again


def test_a_late_failure_never_takes_back_a_sent_line(store, run_id):
    claim(store, "g1", run_id)
    store.record_invitation("g1", INV, InviteState.SENT)
    store.record_invitation("g1", INV, InviteState.FAILED, error="late")
    assert state(store, "g1") == InviteState.SENT


def test_a_dead_runs_line_becomes_unknown_and_only_a_person_clears_it(store, run_id):
    claim(store, "g1", run_id)
    assert store.mark_invitation_orphans_unknown("invite:list:a") == 0  # its run is alive
    store.finish_run(run_id, "stopped", {})
    assert store.mark_invitation_orphans_unknown("invite:list:a") == 1
    assert state(store, "g1") == InviteState.UNKNOWN
    assert not claim(store, "g1", store.acquire_run("invite:list:a", "tester")).claimed
    assert store.clear_unknown_invitation("list:a", " BO@Example.com ", "maria@team") == 1
    assert state(store, "g1") is None
    assert store.audit_log()[0]["action"] == "clear-unknown-invite"


@pytest.mark.slow
def test_the_do_not_gift_list_is_checked_in_the_claim(store, run_id):
    store.add_do_not_gift([new_entry("@rival.example", "competitor")], "maria@team")
    refused = claim(store, "g1", run_id, email="cy@eu.rival.example")
    assert refused.refusal == InviteRefusal.DO_NOT_GIFT and "competitor" in refused.reason
    assert state(store, "g1") is None


@pytest.mark.slow
def test_the_email_daily_limit_counts_every_host_and_frees_what_never_went(store, run_id, tmp_path):
    other_host = backends.store(tmp_path / "data")  # the same store, opened as another host would
    try:
        assert claim(store, "g1", run_id, limit=2).claimed
        assert claim(other_host, "g2", run_id, limit=2).claimed
        full = claim(store, "g3", run_id, limit=2)
        assert full.refusal == InviteRefusal.DAILY_LIMIT and full.room and full.room.used == 2
        other_host.record_invitation("g2", INV, InviteState.FAILED)  # never taken: its place is free again
        assert claim(other_host, "g3", run_id, limit=2).claimed
        assert store.email_room(2).left == 0
    finally:
        other_host.close()


@pytest.mark.slow
def test_two_hosts_racing_for_one_gift_exactly_one_wins(store, run_id, tmp_path):
    hosts = [backends.store(tmp_path / "data") for _ in range(4)]
    results: list[bool] = []
    barrier = threading.Barrier(len(hosts))

    def race(i: int) -> None:
        barrier.wait()
        results.append(claim(hosts[i], "g1", run_id, limit=100).claimed)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(hosts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for h in hosts:
        h.close()
    assert sorted(results) == [False, False, False, True]
