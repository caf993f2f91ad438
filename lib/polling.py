"""Polling &Open for gift statuses: the fallback that works where webhooks cannot arrive."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

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


def poll_statuses(
    client: AndOpenClient,
    store: Store,
    gift_ids: Iterable[str],
    *,
    rate: float = 5.0,
    concurrency: int = 4,
    should_stop: Callable[[], bool] = lambda: False,
) -> PollSummary:
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
                    summary.errors.append(exc.message)
                stopped.set()
            return
        except AndOpenError as exc:
            limiter.on_error(exc)
            with lock:
                summary.errors.append(f"{gid}: {exc}")
            return
        before = store.gift(gid)
        changed = (
            before is None or before.status != gift.status or (gift.redemption_url and not (before.redemption_url))
        )
        if changed and gift.status:
            store.add_event(
                StatusEvent(
                    event_id=f"poll:{gid}:{gift.status}:{gift.updated_at or iso(utcnow())}",
                    gift_request_id=gid,
                    status=gift.status,
                    source=EventSource.POLL,
                    email=gift.email,
                    event_type=f"gift_request_{gift.status}",
                    occurred_at=gift.updated_at,
                    redemption_url=gift.redemption_url,
                    campaign_id=gift.campaign_id,
                    created_at=gift.created_at,
                )
            )
        with lock:
            summary.checked += 1
            summary.changed += bool(changed)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        list(pool.map(one, todo))
    return summary


def open_gift_ids(store: Store, limit: int | None = None) -> list[str]:
    """Gifts not yet delivered or cancelled, the most recently updated first."""
    ids = [g.gift_request_id for g in store.gifts() if g.status not in FINAL_STATUSES]
    return ids[:limit] if limit is not None else ids


class AutoPoller:
    """Keeps statuses current where no webhook can arrive (Streamlit Community Cloud): while
    someone watches the Gift status page, the open gifts are polled in the background at most
    once per `interval` per process. Polls are idempotent, so several app instances on one
    shared database may each poll."""

    def __init__(self, interval: float = 300.0, limit: int = 150, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval, self.limit, self._clock = interval, limit, clock
        self._lock = threading.Lock()
        self._last: float | None = None
        self._thread: threading.Thread | None = None
        self.last_summary: PollSummary | None = None

    def due(self) -> bool:
        with self._lock:
            return (self._thread is None or not self._thread.is_alive()) and (
                self._last is None or self._clock() - self._last >= self.interval
            )

    def maybe_start(self, client_factory: Callable[[], AndOpenClient], store: Store) -> bool:
        """Start one background poll if it is time; True when one started."""
        with self._lock:
            if (self._thread is not None and self._thread.is_alive()) or (
                self._last is not None and self._clock() - self._last < self.interval
            ):
                return False
            self._last = self._clock()
            self._thread = threading.Thread(
                target=self._run, args=(client_factory, store), daemon=True, name="status-autopoll"
            )
            self._thread.start()
            return True

    def _run(self, client_factory: Callable[[], AndOpenClient], store: Store) -> None:
        try:
            self.last_summary = poll_statuses(client_factory(), store, open_gift_ids(store, self.limit))
        except Exception as exc:  # a page's background helper: never take the page down; try next interval
            self.last_summary = PollSummary(errors=[f"automatic refresh failed: {exc}"])
