"""Unknown outcomes resolve themselves from &Open's own updates, and only when certain: an
update whose recipient email and campaign match one unknown (or in-flight) send, created
around that attempt, makes the line sent with the gift's id and link and says so in the audit
trail; another campaign, a gift made long before, one gift fitting two sends, or two gifts
fitting one send resolve nothing and say why."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lib.models import EventSource, Recipient, SendState, StatusEvent, iso, parse_iso, utcnow

LIST, OTHER = "csv:/lists/q4.csv", "csv:/lists/partners.csv"
CAMPAIGN = "camp-1"


def lost_send(store, email="Ana@Bücher.example", list_key=LIST, campaign=CAMPAIGN, state=SendState.UNKNOWN):
    assert store.begin_attempt(
        list_key, Recipient("Ana", "Ruiz", email), row_key="3", campaign_id=campaign, run_id="run-1"
    )
    if state != SendState.ATTEMPTING:
        store.record_outcome(list_key, email, state, error="the answer was lost (timed out)")
    return store.journal(list_key)


def update(
    event_id="ev-1",
    gift="g-1",
    email="ana@bücher.example",
    campaign=CAMPAIGN,
    created=None,
    event_type="gift_request_created",
    status="submitted",
):
    created = created or iso(utcnow() + timedelta(seconds=2))
    return StatusEvent(
        event_id,
        gift,
        status,
        EventSource.WEBHOOK,
        email=email,
        event_type=event_type,
        occurred_at=created,
        redemption_url=f"https://gift.andopen.co/r/{gift}",
        campaign_id=campaign,
        created_at=created,
    )


def line(store, email="ana@bücher.example", list_key=LIST):
    from lib.models import normalize_email

    return store.journal(list_key)[normalize_email(email)]


def audit(store, action):
    return [a for a in store.audit_log() if a["action"] == action]


@pytest.mark.parametrize("state", [SendState.UNKNOWN, SendState.ATTEMPTING])
def test_the_created_update_resolves_the_lost_send(store, state):
    lost_send(store, state=state)
    store.add_event(update(email="ANA@xn--bcher-kva.example"))  # the same mailbox, as &Open may spell it
    entry = line(store)
    assert (entry.state, entry.gift_request_id, entry.redemption_url, entry.error) == (
        SendState.SENT,
        "g-1",
        "https://gift.andopen.co/r/g-1",
        None,
    )
    # Only a line that was unknown was "resolved"; one still in flight was confirmed early.
    [resolved] = audit(store, "resolve-unknown" if state == SendState.UNKNOWN else "confirm-in-flight")
    assert resolved["actor"] == "&Open update" and resolved["list_key"] == LIST
    assert "ev-1" in resolved["detail"] and "gift g-1" in resolved["detail"]
    assert not store.begin_attempt(
        LIST, Recipient("Ana", "Ruiz", "ana@bücher.example"), row_key="3", campaign_id=CAMPAIGN, run_id="run-2"
    ), "a resolved send could be sent again"


def test_any_later_update_carrying_the_gift_resolves_it_too(store):
    lost_send(store)
    store.add_event(update(event_type="gift_request_delivered", status="delivered"))
    assert line(store).state == SendState.SENT and store.gift("g-1").status == "delivered"


def test_the_worker_learning_its_answer_late_never_takes_a_resolution_back(store):
    lost_send(store, state=SendState.ATTEMPTING)
    store.add_event(update())
    store.record_outcome(LIST, "ana@bücher.example", SendState.UNKNOWN, error="read timed out")
    assert (line(store).state, line(store).gift_request_id, line(store).error) == (SendState.SENT, "g-1", None)
    store.record_outcome(LIST, "ana@bücher.example", SendState.SENT, gift_request_id="g-1")
    assert line(store).state == SendState.SENT


@pytest.mark.parametrize(
    "kind,event_kw,why",
    [
        ("another campaign", {"campaign": "camp-2"}, "it is for campaign camp-2"),
        ("a gift made long before", {"created": "2026-01-05T10:00:00.000Z"}, "too far from the attempt"),
        ("a gift made long after", {"created": iso(utcnow() + timedelta(hours=3))}, "too far from the attempt"),
    ],
)
def test_an_update_that_does_not_fit_resolves_nothing_and_says_why(store, kind, event_kw, why):
    lost_send(store)
    store.add_event(update(**event_kw))
    assert line(store).state == SendState.UNKNOWN and line(store).gift_request_id is None
    assert not audit(store, "resolve-unknown")
    [unresolved] = audit(store, "unresolved")
    assert why in unresolved["detail"] and "g-1" in unresolved["detail"]


@pytest.mark.slow
def test_one_gift_fitting_two_lost_sends_resolves_neither(store):
    lost_send(store, list_key=LIST, state=SendState.ATTEMPTING)  # two lists sent at once, both answers lost
    lost_send(store, list_key=OTHER, state=SendState.ATTEMPTING)
    for key in (LIST, OTHER):
        store.record_outcome(key, "Ana@Bücher.example", SendState.UNKNOWN, error="the answer was lost (timed out)")
    store.add_event(update())
    assert line(store, list_key=LIST).state == line(store, list_key=OTHER).state == SendState.UNKNOWN
    assert len(audit(store, "unresolved")) == 2 and not audit(store, "resolve-unknown")
    assert "could be the gift of 2 sends" in audit(store, "unresolved")[0]["detail"]


def test_two_gifts_fitting_one_lost_send_resolve_nothing(store):
    lost_send(store)
    store.add_event(update(event_id="ev-a", gift="g-a", campaign=CAMPAIGN))
    store.add_event(update(event_id="ev-b", gift="g-b", campaign=CAMPAIGN))
    entry = line(store)
    assert (entry.state, entry.gift_request_id) == (SendState.UNKNOWN, None)
    assert "two gifts in &Open fit this send" in entry.error
    assert not store.begin_attempt(
        LIST, Recipient("Ana", "Ruiz", "ana@bücher.example"), row_key="3", campaign_id=CAMPAIGN, run_id="run-2"
    ), "still held: a person must check"


def test_two_gifts_arriving_together_resolve_nothing(store):
    lost_send(store)
    store.add_events([update(event_id="ev-a", gift="g-a"), update(event_id="ev-b", gift="g-b")])
    assert line(store).state == SendState.UNKNOWN
    assert audit(store, "unresolved")


def test_a_gift_our_own_answer_gave_is_never_questioned(store):
    """A line sent with &Open's answer is certain; another gift for the person is someone else's."""
    assert store.begin_attempt(
        LIST, Recipient("Ana", "Ruiz", "ana@bücher.example"), row_key="3", campaign_id=CAMPAIGN, run_id="run-1"
    )
    store.record_outcome(LIST, "ana@bücher.example", SendState.SENT, gift_request_id="g-ours")
    store.add_event(update(gift="g-other"))
    assert (line(store).state, line(store).gift_request_id) == (SendState.SENT, "g-ours")
    assert not audit(store, "unresolved")


def test_a_redelivered_update_resolves_once(store):
    lost_send(store)
    store.add_event(update())
    store.add_event(update())
    assert len(audit(store, "resolve-unknown")) == 1 and not audit(store, "unresolved")


def test_updates_without_the_gift_object_change_nothing(store):
    lost_send(store)
    store.add_event(StatusEvent("ev-x", "g-1", "delivered", EventSource.WEBHOOK, email="ana@bücher.example"))
    assert line(store).state == SendState.UNKNOWN and not store.audit_log()


def test_the_time_window_is_measured_from_the_attempt(store):
    lost_send(store)
    attempted = parse_iso(line(store).attempted_at)
    store.add_event(update(created=iso(attempted + timedelta(minutes=9))))
    assert line(store).state == SendState.SENT


@pytest.mark.parametrize(("state", "resolved"), [(SendState.UNKNOWN, 1), (SendState.ATTEMPTING, 0)])
def test_only_an_unknown_outcome_counts_as_resolved_automatically(store, state, resolved):
    """&Open's update often arrives while the run still waits for &Open's answer: that send was
    never unknown, so the page must not say an unknown outcome was resolved."""
    from lib.unknowns import unknowns_report

    lost_send(store, state=state)
    store.add_event(update())
    report = unknowns_report(store, LIST)
    assert (report.resolved, report.waiting) == (resolved, 0)
    assert ("resolved automatically" in report.describe()) == bool(resolved)
