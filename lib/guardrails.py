"""Spending guardrails: a cap per run, the team's rolling 24-hour limit, and the typed
confirmation of a large run. Pure: the run engine, the CLI and the app share these rules
and these words.

What counts as a gift, for both limits: a send that is or may be a gift (sent, in flight,
outcome unknown). A row &Open rejected, or one that never reached it, created nothing, so
it gives its place back: `--max-gifts 10` sends 10 gifts when 10 can be sent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .models import parse_iso
from .plain_numbers import plain_whole, shown_value
from .timefmt import shown

WINDOW = timedelta(hours=24)
MAX_GIFTS_CEILING = 1_000_000
CONFIRM_OVER = 100  # a run of more gifts than this asks the user to type the number first
DAILY_LIMIT_NAME = "GIFTRUN_DAILY_LIMIT"


@dataclass(frozen=True)
class RunLimits:
    """What one run may send: `max_gifts` for this run, `daily_limit` for the team (None: none)."""

    max_gifts: int | None = None
    daily_limit: int | None = None


@dataclass(frozen=True)
class DailyRoom:
    """The team's rolling 24-hour limit as it stands: `used` gifts counted since 24 hours ago,
    the oldest of them attempted at `oldest_at` (room frees up 24 hours after it)."""

    limit: int
    used: int
    oldest_at: str | None = None

    @property
    def left(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def frees_at(self) -> datetime | None:
        oldest = parse_iso(self.oldest_at)
        return oldest + WINDOW if oldest else None

    def frees_text(self) -> str:
        when = self.frees_at
        return shown(when, seconds=False) if when else "now"

    def describe(self) -> str:
        """One line for the preflight summary and Review & send."""
        head = (
            f"Daily limit ({DAILY_LIMIT_NAME}): {self.limit:,} gifts in any 24 hours across the team; "
            f"{self.used:,} sent in the last 24 hours, {self.left:,} left now"
        )
        if self.left == 0:
            return head + f". Nothing more can be sent before {self.frees_text()}."
        return head + (f" (more room from {self.frees_text()})." if self.used else ".")

    def stop_message(self) -> str:
        """Why a run stopped at the limit, and when it can go on."""
        return (
            f"Stopped at the team's daily limit: {self.limit:,} gifts in any 24 hours ({DAILY_LIMIT_NAME}), "
            f"and {self.used:,} were sent in the last 24 hours. Room frees up at {self.frees_text()} "
            "(24 hours after the oldest of them); send again then to go on."
        )

    def row_message(self) -> str:
        return (
            f"Not sent: the team's daily limit of {self.limit:,} gifts in 24 hours was reached. "
            f"Send again after {self.frees_text()}."
        )


def cap_message(max_gifts: int) -> str:
    """The Send error of an approved row beyond the run's cap."""
    return f"Not sent: this run's limit of {max_gifts:,} gift{'s' if max_gifts != 1 else ''} was reached."


def planned_gifts(to_send: int, max_gifts: int | None) -> int:
    """How many gifts a run of `to_send` rows may send under its cap (the number to confirm)."""
    return to_send if max_gifts is None else min(to_send, max_gifts)


def beyond_cap(row_keys: Sequence[str], max_gifts: int | None) -> list[str]:
    """The rows to send that come after the cap (if every earlier one becomes a gift)."""
    return [] if max_gifts is None else list(row_keys[max_gifts:])


def preflight(to_send: int, limits: RunLimits, room: DailyRoom | None) -> list[str]:
    """What the dry run, the CLI before a run and Review & send say about the limits."""
    lines = []
    if limits.max_gifts is not None:
        over = max(0, to_send - limits.max_gifts)
        lines.append(
            f"Cap for this run: at most {limits.max_gifts:,} gifts"
            + (
                f"; {over:,} of the {to_send:,} rows to send will not be sent (they will say why)."
                if over
                else f" ({to_send:,} to send)."
            )
        )
    if room is None:
        lines.append(f"Daily limit: none ({DAILY_LIMIT_NAME} is not set).")
        return lines
    lines.append(room.describe())
    planned = planned_gifts(to_send, limits.max_gifts)
    if 0 < room.left < planned:
        lines.append(f"This run will stop at the daily limit after {room.left:,} of its {planned:,} gifts.")
    elif room.left == 0 and planned:
        lines.append("This run will stop at the daily limit before its first gift.")
    return lines


def needs_confirmation(gifts: int) -> bool:
    return gifts > CONFIRM_OVER


def confirmed(typed: str | None, gifts: int) -> bool:
    """The user typed the number of gifts (`1,250` and ` 1250 ` count as 1250)."""
    text = str(typed or "").strip().replace(",", "").replace("_", "").replace(" ", "")
    return text.isascii() and text.isdigit() and len(text) <= 12 and int(text) == gifts


def parse_daily_limit(value: object) -> int | None:
    """GIFTRUN_DAILY_LIMIT from the environment (text) or secrets (a number); None only when it
    is not set at all. Fails closed: an empty or blank value (what a CI template sets when its
    secret is missing) and anything but plain digits are refused, never read as "no limit"."""
    if value is None:
        return None
    limit = plain_whole(value)
    if limit is None or not 1 <= limit <= MAX_GIFTS_CEILING:
        raise ValueError(
            f"{DAILY_LIMIT_NAME} {shown_value(value)}: give a whole number of gifts from 1 to "
            f"{MAX_GIFTS_CEILING:,} in plain digits (such as 200), or remove it for no daily limit."
        )
    return limit


class RunCap:
    """At most `limit` gifts in one run, with several workers sending at once. A row takes a
    place before its claim; the place is kept when the row became (or may have become) a
    gift, and given back otherwise (rejected, not sent, refused at claim time). A row waits
    while places are taken by rows still in flight, so the rows beyond the cap are exactly
    the ones after the cap was reached."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._kept = 0
        self._taken: set[str] = set()
        self._cond = threading.Condition()

    def take(self, key: str, stopping: Callable[[], bool], *, poll: float = 0.05) -> bool:
        """True: `key` holds a place. False: the cap is reached (or the run is stopping)."""
        with self._cond:
            while True:
                if self._kept + len(self._taken) < self.limit:
                    self._taken.add(key)
                    return True
                if self._kept >= self.limit or stopping():
                    return False
                self._cond.wait(poll)

    def keep(self, key: str) -> None:
        with self._cond:
            if key in self._taken:
                self._taken.discard(key)
                self._kept += 1
                self._cond.notify_all()

    def give_back(self, key: str) -> None:
        with self._cond:
            if key in self._taken:
                self._taken.discard(key)
                self._cond.notify_all()

    @property
    def reached(self) -> bool:
        with self._cond:
            return self._kept >= self.limit
