"""lib.history.latest_status: statuses only move forward, Cancelled is final, and unknown
future statuses are shown when they are the newest news."""

from __future__ import annotations

import itertools

import pytest

from lib.history import FINAL_STATUSES, latest_status
from lib.models import EventSource, StatusEvent

T = [f"2026-04-16T1{h}:00:00.000Z" for h in range(8)]  # T[0] < T[1] < ... as text and as time


def ev(status: str, t: int | None, received: int = 7) -> StatusEvent:
    return StatusEvent(
        event_id=f"{status}-{t}",
        gift_request_id="g",
        status=status,
        source=EventSource.WEBHOOK,
        occurred_at=T[t] if t is not None else None,
        received_at=T[received],
    )


# (id, events, expected)
CASES = [
    ("none", [], None),
    ("only-empty-status", [ev("", 1)], None),
    ("submitted", [ev("submitted", 0)], "submitted"),
    ("forward", [ev("submitted", 0), ev("redeemed", 1), ev("dispatched", 2), ev("delivered", 3)], "delivered"),
    ("late-dispatched-after-delivered", [ev("delivered", 3), ev("dispatched", 5)], "delivered"),
    ("late-submitted-after-redeemed", [ev("redeemed", 2), ev("submitted", 4)], "redeemed"),
    (
        "cancelled-before-others",
        [ev("cancelled", 0), ev("submitted", 1), ev("redeemed", 2), ev("delivered", 3)],
        "cancelled",
    ),
    ("cancelled-after-delivered", [ev("delivered", 3), ev("cancelled", 4)], "cancelled"),
    ("cancelled-beats-newer-unknown", [ev("cancelled", 1), ev("returned_to_sender", 5)], "cancelled"),
    (
        "unknown-newest-shown",
        [ev("submitted", 0), ev("delivered", 3), ev("returned_to_sender", 5)],
        "returned_to_sender",
    ),
    ("unknown-older-ignored", [ev("returned_to_sender", 1), ev("dispatched", 3)], "dispatched"),
    ("unknown-same-time-ignored", [ev("returned_to_sender", 3), ev("dispatched", 3)], "dispatched"),
    (
        "unknown-newer-than-best-known-then-a-late-known",
        [ev("delivered", 2), ev("returned_to_sender", 3), ev("dispatched", 4)],
        "returned_to_sender",
    ),
    ("unknown-only", [ev("on_hold", 1)], "on_hold"),
    ("newest-of-two-unknowns", [ev("on_hold", 1), ev("in_customs", 2)], "in_customs"),
    ("empty-status-ignored", [ev("redeemed", 1), ev("", 6)], "redeemed"),
    ("received-at-when-no-occurred-at", [ev("delivered", 2), ev("lost", None, received=6)], "lost"),
    ("received-at-older", [ev("delivered", 6), ev("lost", None, received=2)], "delivered"),
]


@pytest.mark.parametrize("events,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_latest_status_in_any_order(events, expected):
    for order in itertools.permutations(events):
        assert latest_status(order) == expected, [e.status for e in order]


def test_latest_status_accepts_a_generator():
    assert latest_status(e for e in [ev("submitted", 0), ev("redeemed", 1)]) == "redeemed"


def test_final_statuses():
    assert FINAL_STATUSES == {"delivered", "cancelled"}
