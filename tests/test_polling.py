"""lib.polling.poll_statuses against the sandbox over real HTTP on 127.0.0.1.

Gifts are created through the client, moved by hand with `sandbox.set_status`, and the
poller must: record each change as a history event (source: poll), fill a redemption URL
the store did not have, never ask again about a gift already final, add nothing when
nothing changed, honour should_stop, and stop at the first 401 with one error.
"""

from __future__ import annotations

import pytest
import requests

from lib.andopen import AndOpenClient
from lib.models import EventSource, StatusEvent
from lib.polling import poll_statuses
from lib.sandbox import Sandbox
from lib.store import Store
from tests import backends

pytestmark = pytest.mark.usefixtures("store_backend")  # every test here touches the store

FAST = 200.0  # requests/s: the limiter must not slow the tests down


@pytest.fixture
def sb():
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def store(tmp_path) -> Store:
    return backends.store(tmp_path / "data")


def make_client(sb: Sandbox, token: str | None = None) -> AndOpenClient:
    session = requests.Session()
    session.trust_env = False  # loopback: never through a proxy
    return AndOpenClient(session, token or sb.token, sb.url)


def send(client: AndOpenClient, sb: Sandbox, store: Store, n: int, *, record: bool = True) -> list[str]:
    """Create n gifts in the sandbox; record each as the run engine does (a send event)."""
    ids = []
    for i in range(n):
        email = f"person{i:02d}@example.com"
        gift = client.create_gift_request(sb.campaign_ids[0], f"First{i}", f"Last{i}", email)
        if record:
            store.add_event(
                StatusEvent(
                    event_id=f"send:{gift.id}",
                    gift_request_id=gift.id,
                    status=gift.status,
                    source=EventSource.SEND,
                    email=email,
                    event_type="gift_request_created",
                    occurred_at=gift.created_at,
                    redemption_url=gift.redemption_url,
                )
            )
        ids.append(gift.id)
    return ids


def gets(sb: Sandbox) -> list[str]:
    """Gift ids of every GET /gift_requests/{id} the sandbox has answered."""
    return [
        r.path.split("?")[0].rsplit("/", 1)[1]
        for r in list(sb.requests)
        if r.method == "GET" and r.path.startswith("/gift_requests/")
    ]


def poll_events(store: Store, gid: str) -> list[StatusEvent]:
    return [e for e in store.events(gift_request_id=gid) if e.source == EventSource.POLL]


def test_changes_are_recorded_as_poll_events_and_final_gifts_are_not_asked_again(sb, store):
    client = make_client(sb)
    ids = send(client, sb, store, 5)
    moves = {ids[0]: "redeemed", ids[1]: "delivered", ids[2]: "cancelled", ids[3]: "dispatched"}
    for gid, status in moves.items():
        sb.set_status(gid, status)

    summary = poll_statuses(client, store, ids, rate=FAST)

    assert (summary.checked, summary.changed, summary.skipped_final, summary.errors) == (5, 4, 0, [])
    assert sorted(gets(sb)) == sorted(ids)
    for gid, status in moves.items():
        assert store.gift(gid).status == status
        [event] = poll_events(store, gid)
        assert (event.status, event.event_type, event.email) == (
            status,
            f"gift_request_{status}",
            sb.gifts[gid]["recipient"]["email"],
        )
        assert event.occurred_at == sb.gifts[gid]["updated_at"]
    assert store.gift(ids[4]).status == "submitted" and poll_events(store, ids[4]) == []

    # again: delivered and cancelled are final → not asked; the rest unchanged → no event
    before = len(store.events())
    asked = len(gets(sb))
    again = poll_statuses(client, store, ids, rate=FAST)
    assert (again.checked, again.changed, again.skipped_final, again.errors) == (3, 0, 2, [])
    assert sorted(gets(sb)[asked:]) == sorted([ids[0], ids[3], ids[4]])
    assert len(store.events()) == before, "polling without a change added events"


def test_a_later_move_is_one_more_event(sb, store):
    client = make_client(sb)
    [gid] = send(client, sb, store, 1)
    sb.set_status(gid, "redeemed")
    poll_statuses(client, store, [gid], rate=FAST)
    sb.set_status(gid, "dispatched")
    s = poll_statuses(client, store, [gid], rate=FAST)
    assert (s.checked, s.changed) == (1, 1)
    assert [e.status for e in poll_events(store, gid)] == ["redeemed", "dispatched"]
    assert store.gift(gid).status == "dispatched"


def test_fills_a_missing_redemption_url_and_learns_gifts_it_never_saw(sb, store):
    client = make_client(sb)
    ids = send(client, sb, store, 2, record=False)
    # ids[0] is known only from a webhook that carried no redemption URL; ids[1] not at all
    store.add_event(
        StatusEvent(
            event_id="wh-1",
            gift_request_id=ids[0],
            status="submitted",
            source=EventSource.WEBHOOK,
            email="person00@example.com",
        )
    )
    assert store.gift(ids[0]).redemption_url is None and store.gift(ids[1]) is None

    summary = poll_statuses(client, store, ids, rate=FAST)

    assert (summary.checked, summary.changed, summary.errors) == (2, 2, [])
    for gid in ids:
        assert store.gift(gid).redemption_url == sb.gifts[gid]["redemption_url"]
        assert store.gift(gid).status == "submitted"
    assert store.gift(ids[1]).email == "person01@example.com"
    # now nothing is missing: a second poll changes nothing
    n = len(store.events())
    assert poll_statuses(client, store, ids, rate=FAST).changed == 0
    assert len(store.events()) == n


def test_duplicate_and_blank_ids_are_asked_once(sb, store):
    client = make_client(sb)
    [gid] = send(client, sb, store, 1)
    summary = poll_statuses(client, store, [gid, f"  {gid} ", "", "  ", gid], rate=FAST)
    assert summary.checked == 1 and gets(sb) == [gid]


def test_should_stop_is_respected(sb, store):
    client = make_client(sb)
    ids = send(client, sb, store, 6)

    none = poll_statuses(client, store, ids, rate=FAST, should_stop=lambda: True)
    assert none.checked == 0 and gets(sb) == []

    two = poll_statuses(client, store, ids, rate=FAST, concurrency=1, should_stop=lambda: len(gets(sb)) >= 2)
    assert two.checked == 2 and len(gets(sb)) == 2


def test_a_wrong_token_stops_polling_with_one_error(sb, store):
    ids = send(make_client(sb), sb, store, 20)
    bad = make_client(sb, token="ao-v1-staging-wrongtoken00000000")

    summary = poll_statuses(bad, store, ids, rate=1000.0, concurrency=4)

    assert summary.checked == 0 and summary.changed == 0
    assert len(summary.errors) == 1, summary.errors
    assert "token" in summary.errors[0].lower() or "key" in summary.errors[0].lower(), summary.errors
    assert len(gets(sb)) <= 4, "polling went on after &Open refused the token"
    assert all(poll_events(store, gid) == [] for gid in ids)


def test_an_unknown_gift_is_one_error_and_the_others_are_still_polled(sb, store):
    client = make_client(sb)
    ids = send(client, sb, store, 2)
    sb.set_status(ids[1], "redeemed")
    summary = poll_statuses(client, store, [ids[0], "no-such-gift", ids[1]], rate=FAST)
    assert summary.checked == 2 and summary.changed == 1
    assert len(summary.errors) == 1 and "no-such-gift" in summary.errors[0]
    assert store.gift("no-such-gift") is None
