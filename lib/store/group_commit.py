"""Group commit for webhook intake: many deliveries share one transaction (one fsync on
SQLite, one round trip on Postgres), and each caller still waits until its own event is
durable before it answers 2xx."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from dataclasses import dataclass, field

from ..models import StatusEvent

log = logging.getLogger(__name__)

MAX_BATCH = 500
IDLE_EXIT_S = 30.0  # the writer thread ends when nothing arrives for this long; the next event restarts it


@dataclass
class _Pending:
    event: StatusEvent
    done: threading.Event = field(default_factory=threading.Event)
    new: bool = False
    error: BaseException | None = None
    future: asyncio.Future[bool] | None = None  # an event loop's caller waits here instead

    def settle(self) -> None:
        self.done.set()
        fut = self.future
        if fut is not None:
            fut.get_loop().call_soon_threadsafe(_settle, fut, self.new, self.error)


def _settle(fut: asyncio.Future[bool], new: bool, error: BaseException | None) -> None:
    if fut.done():  # the caller gave up (timeout, disconnect)
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(new)


class EventWriter:
    """`add(event)` blocks until the event is stored (True) or found to be a duplicate
    (False), and raises what storing it raised. One writer thread per store."""

    def __init__(self, store, *, max_batch: int = MAX_BATCH, timeout: float = 30.0) -> None:
        self.store = store
        self.max_batch = max_batch
        self.timeout = timeout
        self._queue: queue.Queue[_Pending] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.batches = 0

    def add(self, event: StatusEvent) -> bool:
        pending = _Pending(event)
        self._queue.put(pending)
        self._ensure_thread()
        if not pending.done.wait(self.timeout):
            raise TimeoutError("the store did not confirm the event in time")
        if pending.error is not None:
            raise pending.error
        return pending.new

    async def add_async(self, event: StatusEvent) -> bool:
        """`add` for an event loop: the caller awaits, no thread waits."""
        pending = _Pending(event, future=asyncio.get_running_loop().create_future())
        self._queue.put(pending)
        self._ensure_thread()
        future = pending.future
        assert future is not None
        return await asyncio.wait_for(future, self.timeout)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, daemon=True, name="event-writer")
                self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=IDLE_EXIT_S)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._commit(batch)

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            added = {e.event_id for e in self.store.add_events([p.event for p in batch])}
        except Exception:  # one unstorable event must not fail the rest: store them one by one
            log.warning("a batch of %d events failed; storing them one at a time", len(batch))
            for p in batch:
                try:
                    p.new = self.store.add_event(p.event)
                except Exception as exc:
                    p.error = exc
                p.settle()
            return
        self.batches += 1
        for p in batch:  # the first copy of an id in a batch is the new one, later copies are duplicates
            p.new = p.event.event_id in added
            added.discard(p.event.event_id)
            p.settle()
