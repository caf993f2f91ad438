"""How a list's unknown outcomes stand: how many resolved themselves from &Open's updates,
how many still need a person, and for how long they have waited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .models import SendState, parse_iso, utcnow
from .store import Store


@dataclass(frozen=True)
class UnknownsReport:
    resolved: int  # resolved automatically (since the time asked about)
    waiting: int  # still unknown: a person must check &Open
    oldest_wait: timedelta | None  # since the oldest waiting attempt

    def describe(self) -> str:
        parts = []
        if self.resolved:
            parts.append(
                f"{self.resolved} unknown outcome{'s' if self.resolved != 1 else ''} resolved automatically "
                "from &Open's updates"
            )
        if self.waiting:
            parts.append(
                f"{self.waiting} still need{'s' if self.waiting == 1 else ''} a person to check &Open "
                f"(the oldest attempt {ago(self.oldest_wait)})"
            )
        return "; ".join(parts)


def ago(delta: timedelta | None) -> str:
    if delta is None:
        return "at an unknown time"
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 90:
        return f"{seconds} s ago"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min ago"
    if seconds < 36 * 3600:
        return f"{round(seconds / 3600)} h ago"
    return f"{round(seconds / 86400)} days ago"


def unknowns_report(
    store: Store, list_key: str, *, since: str | None = None, now: datetime | None = None
) -> UnknownsReport:
    """`since`: count resolutions from then on (ISO time); None counts them all."""
    now = now or utcnow()
    waiting = [e for e in store.journal(list_key).values() if e.state == SendState.UNKNOWN]
    times = [t for e in waiting if (t := parse_iso(e.attempted_at)) is not None]
    resolved = [
        a
        for a in store.resolutions(list_key)
        if a["action"] == "resolve-unknown" and (since is None or a["at"] >= since)
    ]
    return UnknownsReport(len(resolved), len(waiting), (now - min(times)) if times else None)
