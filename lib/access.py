"""Who may use a shared deployment: an email-domain allow-list for OIDC sign-in, and a
shared app password with a lock-out, for deployments without an identity provider."""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .models import canonical_domain, normalize_email
from .settings import Secret


def domain_allowed(email: str | None, allowed: tuple[str, ...]) -> bool:
    """No allow-list means any signed-in user; otherwise the email's domain must be listed
    exactly (a sub-domain is not its parent)."""
    if not allowed:
        return bool(email)
    local, at, domain = normalize_email(email).rpartition("@")  # one form of a domain: bücher.example = xn--…
    return bool(local and at and domain) and domain in {canonical_domain(d.strip()) for d in allowed}


@dataclass(frozen=True)
class GateResult:
    ok: bool
    message: str = ""


class PasswordGate:
    """Constant-time password check with lock-outs. Each client (browser address) is locked
    for `lockout_s` after `max_failures` wrong tries within `window_s`, so one person
    guessing cannot lock the whole team out; many failures from many clients
    (`global_factor` × `max_failures`) lock everyone, to slow down distributed guessing."""

    def __init__(
        self,
        password: Secret,
        *,
        max_failures: int = 5,
        window_s: float = 300.0,
        lockout_s: float = 60.0,
        global_factor: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._password = password
        self.max_failures, self.window_s, self.lockout_s = max_failures, window_s, lockout_s
        self.global_limit = max_failures * global_factor
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._all_failures: list[float] = []
        self._global_until = 0.0

    def check(self, attempt: str, client: str = "") -> GateResult:
        now = self._clock()
        with self._lock:
            until = max(self._locked_until.get(client, 0.0), self._global_until)
            if now < until:
                wait = math.ceil(until - now)  # whole seconds left, rounded up
                return GateResult(False, f"Too many wrong passwords. Try again in {wait} s.")
            if hmac.compare_digest(attempt.encode(), self._password.reveal().encode()):
                self._failures.pop(client, None)
                return GateResult(True)
            mine = [t for t in self._failures.get(client, []) if now - t < self.window_s] + [now]
            self._all_failures = [t for t in self._all_failures if now - t < self.window_s] + [now]
            self._failures[client] = mine
            if len(self._all_failures) >= self.global_limit:
                self._global_until = now + self.lockout_s
                self._all_failures.clear()
            if len(mine) >= self.max_failures or now < self._global_until:
                self._locked_until[client] = now + self.lockout_s
                self._failures.pop(client, None)
                return GateResult(False, f"Too many wrong passwords. Try again in {int(self.lockout_s)} s.")
            return GateResult(False, "Wrong password.")
