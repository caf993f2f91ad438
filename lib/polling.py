"""Polling &Open for gift statuses: the fallback that works where webhooks cannot arrive."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable

from .andopen import AndOpenClient, AndOpenError, RunStoppingError
from .history import FINAL_STATUSES
from .models import EventSource, StatusEvent, iso, utcnow
from .ratelimit import AdaptiveRateLimiter
from .store import Store


@dataclass
class PollSummary:
    checked: int = 0
    changed: int = 0
    skipped_final: int = 0
    errors: list[str] = field(default_factory=list)


def poll_statuses(client: AndOpenClient, store: Store, gift_ids: Iterable[str], *, rate: float = 5.0,
                  concurrency: int = 4, should_stop: Callable[[], bool] = lambda: False) -> PollSummary:
    """GET every gift not yet in a final state, within the rate limit; record each change
    as a history event (source: poll)."""
    summary = PollSummary()
    todo = []
    for gid in dict.fromkeys(g.strip() for g in gift_ids if g and g.strip()):
        known = store.gift(gid)
        if known and known.status in FINAL_STATUSES:
            summary.skipped_final += 1
        else:
            todo.append(gid)
    limiter = AdaptiveRateLimiter(rate)
    lock = threading.Lock()
    stopped = threading.Event()

    def one(gid: str) -> None:
        if stopped.is_set() or not limiter.acquire(lambda: should_stop() or stopped.is_set()):
            return
        try:
            gift = client.get_gift_request(gid)
        except RunStoppingError as exc:
            with lock:  # requests already in flight get the same refusal: report it once
                if not stopped.is_set():
                    summary.errors.append(exc.user_message)
                stopped.set()
            return
        except AndOpenError as exc:
            limiter.on_error(exc)
            with lock:
                summary.errors.append(f"{gid}: {exc}")
            return
        before = store.gift(gid)
        changed = before is None or before.status != gift.status or (
            gift.redemption_url and not (before.redemption_url))
        if changed and gift.status:
            store.add_event(StatusEvent(
                event_id=f"poll:{gid}:{gift.status}:{gift.updated_at or iso(utcnow())}", gift_request_id=gid,
                status=gift.status, source=EventSource.POLL, email=gift.email,
                event_type=f"gift_request_{gift.status}", occurred_at=gift.updated_at,
                redemption_url=gift.redemption_url, campaign_id=gift.campaign_id, created_at=gift.created_at))
        with lock:
            summary.checked += 1
            summary.changed += bool(changed)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        list(pool.map(one, todo))
    return summary
