"""Slow and piled-up clients on our uvicorn servers: the standalone webhook receiver and
`streamlit run app.py` (Streamlit 1.67 serves an `st.App` with uvicorn too, through its
`UvicornRunner`, and exposes none of uvicorn's limits).

uvicorn closes idle keep-alive connections, but a request that trickles in (headers that
never end, a body that never completes) is never timed out, and every accepted
connection holds a file descriptor until the process dies of "Too many open files".
`guarded()` adds both missing limits to uvicorn's HTTP protocol class:

- a request that has not arrived whole within `request_timeout` seconds is answered
  408 and closed (time for a large declared body is added at `min_body_rate`, so a real
  upload on a slow link is not cut off);
- at most `max_connections` connections are open; above that the connection that has
  waited longest for its request is dropped (deliveries arrive whole in milliseconds,
  so they get through while slow clients are shed), or the new one if none is waiting.
  asyncio accepts up to `backlog` connections in a burst before any of them reaches the
  protocol, so that is kept small too: the cap plus one burst stays below the file limit.

What is closed is counted and logged once a minute at most, and `throttle_logs` keeps
any one repeated message from flooding the log.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .settings import Settings

log = logging.getLogger("giftrun.http")

_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\ncontent-length: 40\r\n\r\nthe request did not arrive within time.\n"
)


def _default_max_connections() -> int:
    """Half the process's file descriptors (the rest is for the store, threads, websockets),
    between 64 and 4096."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 8192
    return max(64, min(4096, soft // 2))


@dataclass(frozen=True)
class Limits:
    request_timeout: float = 30.0
    max_connections: int = 4096
    min_body_rate: int | None = None  # bytes/s: extra time for a large declared body; None = no extra time
    backlog: int = 128  # asyncio accepts up to this many connections in a row before we see one: keep it small

    @classmethod
    def from_settings(cls, settings: Settings | None, *, min_body_rate: int | None = None) -> Limits:
        """GIFTRUN_REQUEST_TIMEOUT (seconds) and GIFTRUN_MAX_CONNECTIONS override the defaults
        (None: the defaults)."""
        timeout = (settings.request_timeout if settings else None) or 30.0
        cap = (settings.max_connections if settings else None) or _default_max_connections()
        return cls(timeout, cap, min_body_rate)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, min_body_rate: int | None = None) -> Limits:
        """The limits a mapping of settings names (None: the environment) gives; see from_settings."""
        from .settings import Settings

        settings = Settings.from_env() if environ is None else Settings.from_mapping(environ)
        return cls.from_settings(settings, min_body_rate=min_body_rate)

    def uvicorn_options(self, protocol_class: type) -> dict[str, Any]:
        """What to give uvicorn.Config / uvicorn.run for a server we start ourselves."""
        return {"http": guarded(protocol_class, self), "backlog": self.backlog}


class _Throttle:
    """Counts events and logs a summary at most every `every` seconds (the first at once)."""

    def __init__(self, every: float = 60.0) -> None:
        self.every = every
        self.counts: dict[str, int] = {}
        self.totals: dict[str, int] = {}
        self._last = -1e18

    def add(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1
        self.totals[what] = self.totals.get(what, 0) + 1
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            log.warning("closed connections: %s", ", ".join(f"{n} {w}" for w, n in sorted(self.counts.items())))
            self.counts.clear()


class _Shared:
    """Per-server state: connections still waiting for their request, oldest first."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.waiting: dict[Any, None] = {}  # insertion-ordered set
        self.throttle = _Throttle()


class _GuardMixin:
    """Put before a uvicorn HTTP protocol class (h11 or httptools). It only uses what both
    share: `cycle` (`more_body`, `response_started`, `scope`), `transport`, `connections`."""

    _shared: _Shared
    _deadline: asyncio.TimerHandle | None = None
    _started: float = 0.0
    _timed_cycle: Any = None  # the request the running deadline was sized for
    _done_cycle: Any = None  # the last request whose response is complete

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._sync()
        self._admit()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        self._sync()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def on_response_complete(self) -> None:
        self._done_cycle = self.cycle  # type: ignore[attr-defined]
        super().on_response_complete()  # type: ignore[misc]
        self._sync()

    # -- the deadline ----------------------------------------------------------------------
    def _waiting(self) -> bool:
        """True from the connection's start, or the end of a response, until a request has
        arrived whole; False once the app has it, and for a websocket."""
        transport = self.transport  # type: ignore[attr-defined]
        if transport is None or transport.is_closing() or transport.get_protocol() is not self:
            return False
        cycle = self.cycle
        return cycle is None or cycle is self._done_cycle or cycle.more_body

    def _sync(self) -> None:
        if not self._waiting():
            self._disarm()
            return
        loop = asyncio.get_running_loop()
        if self._deadline is None:
            self._started = loop.time()
            self._timed_cycle = None
            self._shared.waiting[self] = None
        cycle = self.cycle  # type: ignore[attr-defined]
        if self._deadline is None or (cycle is not self._done_cycle and cycle is not self._timed_cycle):
            self._timed_cycle = cycle if cycle is not self._done_cycle else None
            if self._deadline is not None:
                self._deadline.cancel()
            allowed = self._shared.limits.request_timeout + self._body_allowance()
            self._deadline = loop.call_at(self._started + allowed, self._expire)

    def _body_allowance(self) -> float:
        rate = self._shared.limits.min_body_rate
        cycle = self._timed_cycle
        if not rate or cycle is None:
            return 0.0
        for name, value in cycle.scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and len(value) < 16:
                return int(value) / rate
        return 0.0

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._shared.waiting.pop(self, None)

    def _expire(self) -> None:
        self._deadline = None
        self._close("request timed out", answer=True)

    def _close(self, why: str, *, answer: bool) -> None:
        self._disarm()
        self._shared.throttle.add(why)
        transport = self.transport  # type: ignore[attr-defined]
        cycle = self.cycle  # type: ignore[attr-defined]
        if answer and (cycle is None or cycle is self._done_cycle or not cycle.response_started):
            transport.write(_TIMEOUT_RESPONSE)
            transport.close()
        else:
            transport.abort()

    # -- the connection bound --------------------------------------------------------------
    def _admit(self) -> None:
        shared = self._shared
        if len(self.connections) <= shared.limits.max_connections:  # type: ignore[attr-defined]
            return
        oldest = next(iter(shared.waiting), self)
        oldest._close("over the connection limit", answer=False)


def guarded(protocol_class: type, limits: Limits) -> type:
    """A subclass of uvicorn's `protocol_class` with the request deadline and the connection
    bound; one per server (it carries that server's waiting connections)."""
    return type(f"Guarded{protocol_class.__name__}", (_GuardMixin, protocol_class), {"_shared": _Shared(limits)})


def is_guarded(protocol_class: type) -> bool:
    return isinstance(protocol_class, type) and issubclass(protocol_class, _GuardMixin)


def guard_loading_uvicorn(limits: Limits) -> bool:
    """Guard the uvicorn server that is importing the caller's module right now.

    `streamlit run app.py` makes a `uvicorn.Config("app:app")` that imports app.py from
    `Config.load()`, after choosing its protocol class and before any connection; uvicorn
    reads `config.http_protocol_class` per connection. Streamlit offers no setting for
    this, so app.py swaps the class on that Config. False (and nothing changed) when no
    uvicorn is loading us, e.g. in a test that imports app.py."""
    try:
        import uvicorn
    except ImportError:
        return False
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        config = frame.f_locals.get("self")
        if isinstance(config, uvicorn.Config):
            current = getattr(config, "http_protocol_class", None)
            if current is None:
                return False
            if not is_guarded(current):
                config.http_protocol_class = guarded(current, limits)
                config.backlog = min(config.backlog, limits.backlog)  # read by create_server, after this import
            throttle_logs("uvicorn.error", "asyncio")
            return True
        frame = frame.f_back
    return False


class RepeatFilter(logging.Filter):
    """Lets a message through once per `window` seconds (counting the copies it held back)
    and at most `per_minute` records a minute from one logger, so a flood of bad requests
    or a resource error in a loop cannot fill the disk."""

    def __init__(self, window: float = 600.0, per_minute: int = 60, remember: int = 1000) -> None:
        super().__init__()
        self.window, self.per_minute, self.remember = window, per_minute, remember
        self._seen: dict[tuple[str, int, str], float] = {}
        self._held: dict[tuple[str, int, str], int] = {}
        self._minute: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:
            text = str(record.msg)
        key = (record.name, record.levelno, text[:300])
        now = time.monotonic()
        with self._lock:
            minute, count = self._minute.get(record.name, (int(now // 60), 0))
            if minute != int(now // 60):
                minute, count = int(now // 60), 0
            last = self._seen.get(key)
            if (last is not None and now - last < self.window) or count >= self.per_minute:
                self._held[key] = self._held.get(key, 0) + 1
                return False
            self._minute[record.name] = (minute, count + 1)
            if len(self._seen) >= self.remember:
                self._seen.pop(next(iter(self._seen)))
            self._seen[key] = now
            held = self._held.pop(key, 0)
        if held:
            record.msg = f"{record.msg} (and {held} more like it)"
        return True


def throttle_logs(*names: str) -> None:
    """Attach one RepeatFilter to each named logger (idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RepeatFilter) for f in logger.filters):
            logger.addFilter(RepeatFilter())
