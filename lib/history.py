"""Rules for a gift's latest status, whatever order its events arrive in."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from .models import STATUS_RANK, GiftStatus


class _Evt(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def occurred_at(self) -> str | None: ...
    @property
    def received_at(self) -> str: ...


def latest_status(events: Iterable[_Evt]) -> str | None:
    """Cancelled is final; known statuses only move forward (a late `dispatched` after
    `delivered` leaves Delivered); an unknown future status wins only when it is newer
    than the best known one, and is then shown as it came."""
    best_known = None
    best_unknown = None
    for e in events:
        if not e.status:
            continue
        when = e.occurred_at or e.received_at or ""
        if e.status in STATUS_RANK:
            key = (STATUS_RANK[e.status], when)
            if best_known is None or key > best_known[0]:
                best_known = (key, e.status, when)
        elif best_unknown is None or when > best_unknown[1]:
            best_unknown = (e.status, when)
    if best_known and best_known[1] == GiftStatus.CANCELLED:
        return GiftStatus.CANCELLED.value
    if best_unknown and (best_known is None or best_unknown[1] > best_known[2]):
        return best_unknown[0]
    return best_known[1] if best_known else None


FINAL_STATUSES = frozenset({GiftStatus.DELIVERED.value, GiftStatus.CANCELLED.value})
