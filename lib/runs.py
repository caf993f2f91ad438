"""Runs that outlive the browser: owned by the process, not by a script run or a tab."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from .invitations import InviteRun
from .sending import SendRun

log = logging.getLogger(__name__)


class RunRegistry:
    """The latest run per list in this process. A click, a rerun or a closed tab does not
    touch the run; any session can find it again by list key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, SendRun] = {}
        self._invites: dict[str, InviteRun] = {}
        self.context: dict[str, object] = {}  # list_key -> whatever the UI needs to reattach

    def start(
        self, run: SendRun, context: object | None = None, after: Callable[[SendRun], None] | None = None
    ) -> SendRun:
        """Take the list's lock (RunInProgress propagates to the caller), then send in a
        background thread; `after` runs once the run has ended (e.g. a sheet's history)."""
        run.begin()
        with self._lock:
            self._runs[run.list_key] = run
            if context is not None:
                self.context[run.list_key] = context
        threading.Thread(target=self._execute, args=(run, after), daemon=True, name=f"run-{run.run_id[:8]}").start()
        return run

    @staticmethod
    def _execute(run: SendRun, after: Callable[[SendRun], None] | None) -> None:
        try:
            run.execute()
        except Exception:
            log.exception("run %s failed", run.run_id)
        if after is not None:
            try:
                after(run)
            except Exception:
                log.exception("after-run step of %s failed", run.run_id)

    def start_invites(self, run: InviteRun) -> InviteRun:
        """Take the list's email run lock (RunInProgress propagates), then email in the background."""
        run.begin()
        with self._lock:
            self._invites[run.list_key] = run
        threading.Thread(
            target=self._execute_invites, args=(run,), daemon=True, name=f"invite-{run.run_id[:8]}"
        ).start()
        return run

    @staticmethod
    def _execute_invites(run: InviteRun) -> None:
        try:
            run.execute()
        except Exception:
            log.exception("invitation run %s failed", run.run_id)

    def invite_runs(self) -> list[InviteRun]:
        with self._lock:
            return list(self._invites.values())

    def invites(self, list_key: str) -> InviteRun | None:
        with self._lock:
            return self._invites.get(list_key)

    def get(self, list_key: str) -> SendRun | None:
        with self._lock:
            return self._runs.get(list_key)

    def active(self) -> list[SendRun]:
        with self._lock:
            return [r for r in self._runs.values() if r.snapshot().state == "running"]
