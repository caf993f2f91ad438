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
    touch the run; any session can find it again by list key.

    A gift run with an after-step (a sheet's history, "email invitations after the gifts are
    sent") is one run to the person who pressed Send: it `goes` until its after-step is over,
    invitations included, and one `stop` ends the gifts and the invitations they started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, SendRun] = {}
        self._invites: dict[str, InviteRun] = {}
        self._after: set[str] = set()  # lists whose gift run or its after-step still goes
        self._chained: dict[str, InviteRun] = {}  # list_key -> the invitations its gift run started
        self.context: dict[str, object] = {}  # list_key -> whatever the UI needs to reattach

    def start(
        self,
        run: SendRun,
        context: object | None = None,
        after: Callable[[SendRun], None] | None = None,
        notify: Callable[[str], None] | None = None,
    ) -> SendRun:
        """Take the list's lock (RunInProgress propagates to the caller; `notify` hears that a
        store blip is waited out meanwhile), then send in a background thread; `after` runs
        once the run has ended (e.g. a sheet's history)."""
        run.begin(notify)
        with self._lock:
            self._runs[run.list_key] = run
            self._after.add(run.list_key)
            self._chained.pop(run.list_key, None)
            if context is not None:
                self.context[run.list_key] = context
        threading.Thread(target=self._execute, args=(run, after), daemon=True, name=f"run-{run.run_id[:8]}").start()
        return run

    def _execute(self, run: SendRun, after: Callable[[SendRun], None] | None) -> None:
        try:
            try:
                run.execute()
            except Exception:
                log.exception("run %s failed", run.run_id)
            if after is not None:
                try:
                    after(run)
                except Exception:
                    log.exception("after-run step of %s failed", run.run_id)
        finally:
            with self._lock:
                self._after.discard(run.list_key)

    def going(self, list_key: str) -> bool:
        """The list's whole run goes on: its gifts, or the step after them (invitations included)."""
        with self._lock:
            run = self._runs.get(list_key)
            # until the run's thread is through (its last journal lines and its end written), not only
            # until its state says it is over: a page drawn in between would review a journal one
            # step behind and offer a download without the last rows' results
            return list_key in self._after or (run is not None and not run.wait(0))

    def stop(self, list_key: str, message: str) -> None:
        """One Stop for the whole run: the gifts, and the invitations they started or will start."""
        with self._lock:
            run, chained = self._runs.get(list_key), self._chained.get(list_key)
            if run is not None:
                run.stop(message)  # a finished run keeps it: its after-step starts nothing more
            if chained is not None:
                chained.stop(message)

    def chained_invites(self, list_key: str) -> InviteRun | None:
        """The invitations the list's latest gift run started after its gifts, if any yet."""
        with self._lock:
            return self._chained.get(list_key)

    def start_invites(self, run: InviteRun, *, chained: bool = False) -> InviteRun:
        """Take the list's email run lock (RunInProgress propagates), then email in the background.
        `chained`: started by the gift run's after-step, so that run's Stop (even one pressed just
        now) stops these emails too."""
        run.begin()
        with self._lock:
            self._invites[run.list_key] = run
            gifts = self._runs.get(run.list_key)
            if chained:
                self._chained[run.list_key] = run
                if gifts is not None and gifts.stopping:
                    run.stop(gifts.snapshot().message or "Stopped by user.")
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
