"""What the store hands out: typed records, never database rows."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import EXIT_STOPPED, GiftrunError
from ..guardrails import DailyRoom
from ..models import EventSource, SendState, StatusEvent
from ..timefmt import shown

STALE_RUN_SECONDS = 30.0
NO_LOOKBACK: Any = object()  # claim(): the look-back check is off

UNKNOWN_AFTER_CRASH = (
    "Unknown outcome — the app stopped while this gift was being sent. Check in &Open before sending again."
)


class RunInProgress(GiftrunError):
    """Another run holds this list; `message` says who and since when. The CLI exits 1."""

    exit_code = EXIT_STOPPED


class Refusal(enum.StrEnum):
    """Which rule refused a claim: the run engine skips the row, or stops the whole run."""

    HELD = "held by the journal"  # sent, unknown or in flight already: the row shows what the journal holds
    LOOKBACK = "look-back"  # gifted from another list inside the window: skip the row
    DAILY_LIMIT = "daily limit"  # the team's 24-hour limit is reached: stop the run
    DO_NOT_GIFT = "do-not-gift"  # on the do-not-gift list: skip the row
    UNKNOWN_ELSEWHERE = "unknown elsewhere"  # another list's send may have gifted them: skip the row


@dataclass(frozen=True)
class Claim:
    claimed: bool
    reason: str = ""  # why not, for a rule a person reads (look-back, the do-not-gift list, the daily limit)
    refusal: Refusal | None = None
    room: DailyRoom | None = None  # the daily limit as it stood, when it refused the claim


@dataclass(frozen=True)
class JournalEntry:
    list_key: str
    email: str
    state: SendState
    run_id: str | None
    row_key: str | None
    gift_request_id: str | None
    redemption_url: str | None
    error: str | None
    request_id: str | None
    attempted_at: str | None
    finished_at: str | None
    campaign_id: str | None = None
    first_name: str = ""  # as the list gave them when the send was journalled
    last_name: str = ""


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    list_key: str
    actor: str
    started_at: str
    finished_at: str | None
    state: str
    counts: dict = field(default_factory=dict)
    message: str | None = None
    max_gifts: int | None = None  # the cap someone set on this run


@dataclass(frozen=True)
class GiftRecord:
    gift_request_id: str
    email: str
    status: str | None
    redemption_url: str | None
    first_seen_at: str | None
    updated_at: str | None


def entry_from(r: Mapping[str, Any]) -> JournalEntry:
    return JournalEntry(
        list_key=r["list_key"],
        email=r["email"],
        state=SendState(r["state"]),
        run_id=r["run_id"],
        row_key=r["row_key"],
        gift_request_id=r["gift_request_id"],
        redemption_url=r["redemption_url"],
        error=r["error"],
        request_id=r["request_id"],
        attempted_at=r["attempted_at"],
        finished_at=r["finished_at"],
        campaign_id=r["campaign_id"],
        first_name=r.get("first_name") or "",
        last_name=r.get("last_name") or "",
    )


def run_from(r: Mapping[str, Any]) -> RunRecord:
    return RunRecord(
        run_id=r["run_id"],
        list_key=r["list_key"],
        actor=r["actor"],
        started_at=r["started_at"],
        finished_at=r["finished_at"],
        state=r["state"],
        counts=json.loads(r["counts"] or "{}"),
        message=r["message"],
        max_gifts=r.get("max_gifts"),
    )


def event_from(r: Mapping[str, Any]) -> StatusEvent:
    return StatusEvent(
        event_id=r["event_id"],
        gift_request_id=r["gift_request_id"],
        status=r["status"] or "",
        source=EventSource(r["source"]),
        email=r["email"] or "",
        event_type=r["event_type"] or "",
        occurred_at=r["occurred_at"],
        received_at=r["received_at"],
        redemption_url=r["redemption_url"],
        actor=r["actor"] or "",
        campaign_id=r.get("campaign_id"),
        created_at=r.get("created_at"),
    )


def gift_from(r: Mapping[str, Any]) -> GiftRecord:
    return GiftRecord(
        gift_request_id=r["gift_request_id"],
        email=r["email"] or "",
        status=r["status"],
        redemption_url=r["redemption_url"],
        first_seen_at=r["first_seen_at"],
        updated_at=r["updated_at"],
    )


def unknown_elsewhere_reason(entry: JournalEntry) -> str:
    """Why a person another list may already have gifted is not sent, and how a person lifts it.
    Whatever the look-back (off too): only &Open knows whether that gift exists."""
    when = shown(entry.attempted_at, seconds=False) or "at an unknown time"
    return (
        f"Held: a send to this person from another list ({when}) has an unknown outcome, so they may "
        "already have a gift. "
        f"Check in &Open; if there is no gift, clear it (send … --clear-unknown {entry.email}, or on Review & send) "
        "and send again."
    )
