"""A send run's calls into the store, waiting out a blip instead of stopping.

A database restarting, stopped for a moment, out of connection slots or read-only during a
failover (`store/faults.py` decides what is a blip) pauses the run: every call waits, trying
again with a short backoff, until the store answers or `window` seconds have passed since it
first failed. Then the call raises the store's error and the run stops with one line. The
clock is shared by every thread of the run, so one outage is waited out once, not once per row.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from .store import StoreUnavailable

T = TypeVar("T")
log = logging.getLogger(__name__)  # shown with --verbose only: the run's own line says it waits

WAITING = "Waiting for the database…"
FIRST_DELAY = 0.05  # seconds before the first try again; doubled each time up to MAX_DELAY
MAX_DELAY = 1.0


class StorePause:
    """`call(fn)` is `fn()`, waiting out a blip (see the module docstring). `waiting` says
    what the run is waiting for ("" when the store answers); `blips` counts outages waited out."""

    def __init__(
        self,
        window: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window
        self._sleep, self._clock = sleep, clock
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._reason = ""
        self.blips = 0
        self.notify: Callable[[str], None] | None = None  # told once per outage, e.g. a CLI's output

    def call(self, fn: Callable[[], T], *, give_up: Callable[[], bool] = lambda: False) -> T:
        """`fn()` once it succeeds. Raises the store's error when it is no blip, when the store
        has been away for `window` seconds, or when `give_up()` (a Stop, for a call that is safe
        to abandon) turns true while waiting."""
        delay = FIRST_DELAY
        while True:
            try:
                result = fn()
            except StoreUnavailable as exc:
                if not exc.transient:
                    raise
                left = self._failed(exc)
                if left <= 0 or give_up():
                    raise
                self._sleep(min(delay, left))
                delay = min(delay * 2, MAX_DELAY)
                continue
            self._answered()
            return result

    @property
    def waiting(self) -> str:
        """'Waiting for the database… (12 s of 60 s; …why)', or '' while the store answers."""
        with self._lock:
            if self._down_since is None:
                return ""
            waited = self._clock() - self._down_since
            return f"{WAITING} ({waited:.0f} s of {self.window:g} s; {self._reason})"

    @property
    def gave_up(self) -> bool:
        """The store has been away for the whole window."""
        with self._lock:
            return self._down_since is not None and self._clock() - self._down_since >= self.window

    def _failed(self, exc: StoreUnavailable) -> float:
        """Note the failure; the seconds left to wait."""
        with self._lock:
            now = self._clock()
            if self._down_since is None:
                self._down_since = now
                self.blips += 1
                log.warning("the store is unavailable; the run waits up to %g s: %s", self.window, exc.message)
                if self.notify is not None:
                    self.notify(f"{WAITING} (up to {self.window:g} s; {exc.message})")
            self._reason = exc.message
            return self.window - (now - self._down_since)

    def _answered(self) -> None:
        with self._lock:
            if self._down_since is not None:
                log.warning("the store is back after %.0f s", self._clock() - self._down_since)
            self._down_since = None
            self._reason = ""
