"""The retrying caller: every Google Sheets request goes through a `Caller`, which backs off
on 429 and 5xx (Google's advice for its per-minute quotas), counts reads and writes (a
flush's cost, and the quota headroom the benchmarks report), and turns the final failure
into the SheetsError tree."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from gspread.exceptions import APIError, SpreadsheetNotFound

from .errors import is_auth_failure, sheets_error, status_of

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


def sheets_retry_delay(
    status: int | None,
    attempt: int,
    *,
    idempotent: bool = True,
    max_attempts: int = 5,
    base: float = 1.0,
    cap: float = 32.0,
) -> float | None:
    """Seconds to wait after failed attempt number `attempt` (1-based), or None to give up.
    Retried: 429 and 5xx; network failures (status None) only for idempotent calls (an
    append that timed out may have been applied)."""
    if attempt >= max_attempts:
        return None
    if status is None:
        if not idempotent:
            return None
    elif status not in RETRYABLE_STATUSES:
        return None
    return min(cap, base * 2 ** (attempt - 1))


@dataclass(frozen=True)
class SheetsRetry:
    """How a Sheets call backs off (capped doubling from `base_delay`); `sleep` is injected so
    tests and benchmarks run on a fake clock. Not the &Open sender's policy (lib/ratelimit.py)."""

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 32.0
    sleep: Callable[[float], None] = time.sleep


class Caller:
    """Runs one API call with backoff, counts it, and maps its failure."""

    def __init__(self, retry: SheetsRetry, key: str, service_email: str | None) -> None:
        self.retry = retry
        self.key = key
        self.service_email = service_email
        self.read_calls = 0
        self.write_calls = 0
        self.sleeps: list[float] = []

    def read(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        return self._run("read", fn, args, kw, idempotent=True)

    def write(self, fn: Callable[..., Any], *args: Any, idempotent: bool = True, **kw: Any) -> Any:
        return self._run("write", fn, args, kw, idempotent=idempotent)

    def _run(self, kind: str, fn: Callable[..., Any], args: tuple, kw: dict, *, idempotent: bool) -> Any:
        attempt = 0
        while True:
            attempt += 1
            if kind == "read":
                self.read_calls += 1
            else:
                self.write_calls += 1
            try:
                return fn(*args, **kw)
            except (APIError, SpreadsheetNotFound, PermissionError, requests.RequestException) as exc:
                status = status_of(exc)
                if status is None and is_auth_failure(exc):
                    raise sheets_error(exc, key=self.key, service_email=self.service_email) from None
                delay = sheets_retry_delay(
                    status,
                    attempt,
                    idempotent=idempotent,
                    max_attempts=self.retry.max_attempts,
                    base=self.retry.base_delay,
                    cap=self.retry.max_delay,
                )
                if delay is None:
                    raise sheets_error(exc, key=self.key, service_email=self.service_email) from exc
                self.sleeps.append(delay)
                self.retry.sleep(delay)
            except Exception as exc:
                if is_auth_failure(exc):
                    raise sheets_error(exc, key=self.key, service_email=self.service_email) from None
                raise


class Counted:
    """Calls made through this object's caller (for tests, benchmarks, quota headroom)."""

    _caller: Caller

    @property
    def read_calls(self) -> int:
        return self._caller.read_calls

    @property
    def write_calls(self) -> int:
        return self._caller.write_calls
