"""Who may use a shared deployment: an email-domain allow-list for OIDC sign-in, and a
shared app password with a lock-out, for deployments without an identity provider."""
from __future__ import annotations

import hmac
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable

from .settings import Secret


def domain_allowed(email: str | None, allowed: tuple[str, ...]) -> bool:
    """No allow-list means any signed-in user; otherwise the email's domain must be listed
    exactly (a sub-domain is not its parent)."""
    if not allowed:
        return bool(email)
    local, at, domain = (email or "").strip().lower().rpartition("@")
    return bool(local and at and domain) and domain in allowed  # "team.example" alone is not an address


@dataclass(frozen=True)
class GateResult:
    ok: bool
    message: str = ""


class PasswordGate:
    """Constant-time password check; after `max_failures` wrong tries within `window_s`
    the gate refuses everyone for `lockout_s` seconds (a shared deployment has one
    password, so guessing is throttled process-wide, not per browser session)."""

    def __init__(self, password: Secret, *, max_failures: int = 5, window_s: float = 300.0,
                 lockout_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._password = password
        self.max_failures, self.window_s, self.lockout_s = max_failures, window_s, lockout_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: list[float] = []
        self._locked_until = 0.0

    def check(self, attempt: str) -> GateResult:
        now = self._clock()
        with self._lock:
            if now < self._locked_until:
                wait = math.ceil(self._locked_until - now)  # whole seconds left, rounded up
                return GateResult(False, f"Too many wrong passwords. Try again in {wait} s.")
            if hmac.compare_digest(attempt.encode(), self._password.reveal().encode()):
                self._failures.clear()
                return GateResult(True)
            self._failures = [t for t in self._failures if now - t < self.window_s] + [now]
            if len(self._failures) >= self.max_failures:
                self._locked_until = now + self.lockout_s
                self._failures.clear()
                return GateResult(False, f"Too many wrong passwords. Try again in {int(self.lockout_s)} s.")
            return GateResult(False, "Wrong password.")
