"""A queue of items that become due after a delay: the sandbox's lifecycle steps and webhook deliveries."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import Any


class DelayQueue:
    """Items that become due after a delay; one consumer thread blocks on get()."""

    def __init__(self, maxsize: int) -> None:
        self._heap: list[tuple[float, int, Any]] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._maxsize = maxsize
        self._closed = False

    def put(self, delay: float, item: Any) -> bool:
        with self._cond:
            if self._closed or len(self._heap) >= self._maxsize:
                return False
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay), next(self._seq), item))
            self._cond.notify()
            return True

    def get(self) -> Any:
        """The next due item, or None once closed."""
        with self._cond:
            while not self._closed:
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait <= 0:
                    return heapq.heappop(self._heap)[2]
                self._cond.wait(wait)
            return None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._heap)
