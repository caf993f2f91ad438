"""Review & send with "Email invitations after the gifts are sent" (AppTest, demo mode: the built-in
sandbox and mail catcher): the gifts and the invitations after them are one run to the person who
pressed Send. Its panel stays while the invitations go, its progress counts them, and its one Stop
ends them; no second Stop appears."""

from __future__ import annotations

import pytest

from tests.apptest_support import button, click, go, list_key, new_session, run, services
from tests.support import until

pytestmark = pytest.mark.slow  # a demo run of 20 gifts, then a few paced emails


def progress_text(at) -> str:
    return " ".join(p.proto.text for p in at.get("progress"))


def test_one_stop_ends_the_gifts_and_the_invitations_sent_after_them(data_dir):
    at = run(new_session(data_dir, GIFTRUN_EMAIL_RATE="30"))  # one email every 2 s: time to press Stop
    click(at, "load_sample")
    go(at, "review_send")
    click(at, "approve_all")
    key = list_key(at)
    at.checkbox(key=f"invite-after-{key}").check()
    run(at)
    click(at, "send")
    registry, catcher = services().registry, services().mail_catcher
    assert catcher is not None
    invites = until(lambda: registry.invites(key), timeout=60)
    assert invites is not None, "the invitations did not start after the gifts"
    assert until(lambda: invites.snapshot().sent >= 1, timeout=30)

    run(at)  # the page while the invitations go: still the run's panel, counting them
    labels = [b.label for b in at.button]
    assert "Stop" in labels and "Stop invitations" not in labels and "send" not in [b.key for b in at.button]
    text = progress_text(at)
    assert "20 sent" in text and "invitations emailed" in text, text

    button(at, "Stop").click()
    run(at)
    assert invites.wait(15), "the invitations went on after Stop"
    p = invites.snapshot()
    assert p.state == "stopped" and p.message.startswith("Stopped by") and p.sent < 20
    assert len(catcher.messages()) == p.sent + p.unknown  # nothing more goes out after Stop
    assert until(lambda: not registry.going(key), timeout=15)
    run(at)
    assert "Stop" not in [b.label for b in at.button]
