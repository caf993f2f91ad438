"""A run's writes to the journal, kept when the store is away.

The run engine never drops what it knows because the store blipped: each write waits the blip
out (`StorePause`); a write the store still refuses (it stayed away past the window, or failed
for good) is kept in memory and tried again when the run ends, while the row's result (a gift's
id and link) still goes to the list, the second place it can land. A kept write that is a fact
about a row (never sent, its outcome) is also put on this host's disk at once (store/spill.py),
so a process that ends before the store is back does not take the fact with it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from .store import StoreError
from .store.spill import SpilledFact
from .store_pause import StorePause

log = logging.getLogger(__name__)


class RunJournal:
    """`read(fn)` and `write(fn)` through one `StorePause`; see the module docstring."""

    def __init__(self, pause: StorePause, on_disk: Callable[[SpilledFact], None] | None = None) -> None:
        self.pause = pause
        self._on_disk = on_disk
        self._lock = threading.Lock()
        self._later: list[Callable[[], Any]] = []
        self.error: BaseException | None = None  # the last failure the run could not wait out

    def read(self, fn: Callable[[], Any], *, give_up: Callable[[], bool] = lambda: False) -> Any:
        return self.pause.call(fn, give_up=give_up)

    def write(self, fn: Callable[[], Any], fact: SpilledFact | None = None) -> bool:
        """`fn()` now, waiting out a blip; False when it is kept for `settle()` instead."""
        try:
            self.pause.call(fn)
        except Exception as exc:  # the store stayed away, or failed for good: keep what we know
            self.keep(fn, exc, fact)
            return False
        return True

    def keep(self, fn: Callable[[], Any], exc: BaseException, fact: SpilledFact | None = None) -> None:
        """Try `fn` again at `settle()` (it must be safe to repeat: every journal write is); `fact`,
        what `fn` writes, goes to disk now for the next run should this process end first."""
        with self._lock:
            self._later.append(fn)
            self.error = exc
        if fact is not None and self._on_disk is not None:
            self._on_disk(fact)

    def settle(self) -> int:
        """Try every kept write once more (the store may be back); how many are still not written."""
        with self._lock:
            kept, self._later = self._later, []
        left = []
        for fn in kept:
            try:
                self.pause.call(fn)
            except Exception as exc:
                left.append(fn)
                self.error = exc
        with self._lock:
            self._later[:0] = left
        return len(left)

    @property
    def kept(self) -> int:
        with self._lock:
            return len(self._later)

    def stop_message(self, exc: BaseException) -> str:
        """The one line a run stops with when the store fails it."""
        if isinstance(exc, StoreError) and getattr(exc, "transient", False):
            why = f"the database did not come back within {self.pause.window:g} s ({exc.message})"
        elif isinstance(exc, StoreError):
            why = exc.message
        else:
            why = f"the store could not record a send ({type(exc).__name__})"
        return (
            f"The run stopped: {why}. Gifts &Open created are on their rows; "
            "rows not sent were not requested. Run again to continue."
        )
