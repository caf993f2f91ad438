"""Where no webhook can arrive (Streamlit Community Cloud), the Gift status page keeps statuses
current by itself: while it is open, open gifts are polled in the background at most once per
interval per process; final gifts are never asked about again."""

from __future__ import annotations

from lib.models import EventSource, StatusEvent
from lib.polling import AutoPoller, open_gift_ids
from tests.apptest_support import new_session, run, services
from tests.support import posts, until


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def gifts(sb, store, n):
    """n gifts created in the sandbox and known to the store as submitted (as a send records them)."""
    import requests

    from lib.andopen import AndOpenClient

    with requests.Session() as http:
        http.trust_env = False
        client = AndOpenClient(http, sb.token, sb.url)
        made = [client.create_gift_request(sb.campaign_ids[0], "Ana", "Ruiz", f"p{i}@example.com") for i in range(n)]
    for g in made:
        store.add_event(StatusEvent(f"send:{g.id}", g.id, "submitted", EventSource.SEND, email=g.email))
    return [g.id for g in made]


def test_it_polls_open_gifts_at_most_once_per_interval_and_never_final_ones(sandbox, store, http):
    from lib.andopen import AndOpenClient

    ids = gifts(sandbox, store, 3)
    sandbox.set_status(ids[0], "redeemed")
    store.add_event(StatusEvent("done", ids[2], "delivered", EventSource.WEBHOOK, email="p2@example.com"))
    assert set(open_gift_ids(store)) == {ids[0], ids[1]}
    clock = Clock()
    poller = AutoPoller(interval=300, clock=clock)
    client = lambda: AndOpenClient(http, sandbox.token, sandbox.url)  # noqa: E731
    assert poller.maybe_start(client, store)
    assert until(lambda: store.gift(ids[0]).status == "redeemed", timeout=10)
    assert until(lambda: poller.last_summary is not None, timeout=10)
    assert poller.last_summary.checked == 2
    gets = [r.path for r in sandbox.requests if r.method == "GET"]
    assert not any(ids[2] in p for p in gets), "a delivered gift was asked about"
    clock.now += 299
    assert not poller.maybe_start(client, store), "polled again inside the interval"
    clock.now += 2
    assert poller.maybe_start(client, store)


def test_the_status_page_polls_by_itself_in_live_mode(data_dir, make_sandbox, server_state):
    sb = make_sandbox()
    at = new_session(data_dir, ANDOPEN_API_KEY=sb.token, ANDOPEN_BASE_URL=sb.url)
    run(at)
    store = services().store
    [gid] = gifts(sb, store, 1)
    sb.set_status(gid, "dispatched")
    at.switch_page("views/gift_status.py")
    run(at)  # nobody pressed Refresh statuses
    assert until(lambda: store.gift(gid).status == "dispatched", timeout=15), "the page did not poll by itself"
    assert len(posts(sb)) == 1  # the one gift made above: polling only reads
