"""The look-back window: how far back a gift makes a person skip, as the user types it and as
the app offers it (the Clay guide's table of suggested windows)."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    """A look-back window. `days=None` means forever. The check being off is `None`
    (see `OFF`), not a Window."""

    days: int | None
    label: str

    @property
    def forever(self) -> bool:
        return self.days is None


OFF: Window | None = None
DEFAULT = "30d"

# (value for parse_window, what the UI shows) — the guide's table of suggested windows.
PRESETS: list[tuple[str, str]] = [
    ("30d", "30 days — short-cycle (post-meeting follow-up, expansion)"),
    ("60d", "60 days — longer-cycle"),
    ("90d", "90 days — longer-cycle (deal revival, churn re-engagement)"),
    ("12m", "12 months — renewal incentive"),
    ("forever", "Forever — gift only once (one-shot win-back)"),
    ("off", "Off — don't check"),
]

ACCEPTED_FORMS = (
    '"off", "30d", "60d", "90d", "12m" (12 months), "forever", '
    'any number of days as "Nd" (e.g. "45d") or a plain number (e.g. "45")'
)

MAX_DAYS = 36_500  # beyond any real history, and far inside what dates can count back from now
_DAYS_RE = re.compile(r"^(\d+)\s*(?:d|day|days)?$")
_TWELVE_MONTHS = {"12m", "12 m", "12 month", "12 months", "12mo", "1y", "1 year"}


def _days_window(days: int) -> Window:
    return Window(days, f"{days} day" if days == 1 else f"{days} days")


def parse_window(text: str) -> Window | None:
    """'30d' → Window(30, '30 days'); '12m' → Window(365, '12 months');
    'forever' → Window(None, 'forever'); 'off' → None. Case-insensitive.
    Anything else raises ValueError listing the accepted forms."""
    if isinstance(text, Window):
        return text
    if not isinstance(text, (str, int)) or isinstance(text, bool):
        raise ValueError(f"Look-back window {str(text)[:40]!r} is not understood. Use one of: {ACCEPTED_FORMS}.")
    t = str(text).strip().lower()
    shown = str(text) if len(str(text)) <= 40 else str(text)[:39] + "…"
    if t == "off":
        return OFF
    if t == "forever":
        return Window(None, "forever")
    if t in _TWELVE_MONTHS:
        return Window(365, "12 months")
    m = _DAYS_RE.match(t)
    if m:
        digits = m.group(1).lstrip("0") or "0"
        days = int(digits) if len(digits) <= len(str(MAX_DAYS)) else MAX_DAYS + 1  # 10**5000 is no int
        if days < 1:
            raise ValueError(
                f'Look-back window {shown!r} is zero days; use "off" to not check. Accepted: {ACCEPTED_FORMS}.'
            )
        if days > MAX_DAYS:
            raise ValueError(
                f"Look-back window {shown!r} is longer than {MAX_DAYS:,} days (100 years); "
                'use "forever" to count every gift ever sent.'
            )
        return _days_window(days)
    raise ValueError(f"Look-back window {shown!r} is not understood. Use one of: {ACCEPTED_FORMS}.")


def format_window(window: Window | None) -> str:
    """The inverse of parse_window, for storing a setting: '30d', '12m', 'forever', 'off'."""
    if window is None:
        return "off"
    if window.days is None:
        return "forever"
    if window.label == "12 months":
        return "12m"
    return f"{window.days}d"
