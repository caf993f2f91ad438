"""Gift status shows each gift's invitation and reminder as the journal holds them (AppTest): sent
with its time, unknown for a person to check, or nothing yet."""

from __future__ import annotations

from lib.models import EventSource, StatusEvent
from lib.store.invitations import InviteKind, InviteState
from tests.apptest_support import go, new_session, run, services


def journal(store, gift: str, kind: InviteKind, state: InviteState) -> None:
    run_id = store.acquire_run(f"invite:list:{gift}:{kind}", "tester")
    store.claim_invitation(
        gift, kind, email=f"{gift}@example.com", list_key="list:a", row_key=gift, run_id=run_id, message_id=f"<{gift}>"
    )
    store.record_invitation(gift, kind, state)
    store.finish_run(run_id, "completed", {}, "")


def test_each_gift_shows_its_invitation_and_its_reminder(data_dir):
    at = run(new_session(data_dir))
    store = services().store
    for gift in ("g-reminded", "g-invited", "g-unknown", "g-new"):
        store.add_event(StatusEvent(f"e-{gift}", gift, "submitted", EventSource.SEND, email=f"{gift}@example.com"))
    for gift in ("g-reminded", "g-invited"):
        journal(store, gift, InviteKind.INVITATION, InviteState.SENT)
    journal(store, "g-reminded", InviteKind.REMINDER, InviteState.SENT)
    journal(store, "g-unknown", InviteKind.INVITATION, InviteState.SENT)
    journal(store, "g-unknown", InviteKind.REMINDER, InviteState.UNKNOWN)
    go(at, "gift_status")
    gifts = at.dataframe[0].value.set_index("Gift request ID")
    shown = {g: (gifts.at[g, "Invitation"], gifts.at[g, "Reminder"]) for g in gifts.index}
    assert shown["g-reminded"][0].startswith("sent ") and shown["g-reminded"][1].startswith("sent ")
    assert shown["g-reminded"][1].endswith(" UTC")
    assert shown["g-invited"][0].startswith("sent ") and shown["g-invited"][1] == ""
    assert shown["g-unknown"][1] == "unknown — check"
    assert shown["g-new"] == ("", "")
