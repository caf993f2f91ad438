"""A run's write-back: results are batched and handed to the list's sink every few seconds
and at the end; a failed write keeps them for the next one (they are in the journal anyway,
or, while the store is away, only here and on the rows already written)."""

from __future__ import annotations

import logging
import threading

from .journal_results import result_for_entry
from .models import SendState, normalize_email
from .run_progress import RunProgress
from .store import Store
from .writeback import ResultSink, RowResult, merge_results

log = logging.getLogger(__name__)


class RunWriteBack:
    """The write-back half of `SendRun` (sending.py), which sets these attributes."""

    store: Store
    list_key: str
    sink: ResultSink | None
    flush_interval: float
    progress: RunProgress
    _lock: threading.RLock
    _sending_over: threading.Event
    _pending: list[RowResult]
    _watch: dict[str, str]

    def _flush_loop(self) -> None:
        while not self._sending_over.wait(self.flush_interval):
            self._flush()

    def _resolved_rows(self) -> None:
        """Rows shown as unknown whose send &Open's own update has since resolved (the
        receiver may be another process or host): their gift id and link go out with the
        next write-back."""
        with self._lock:
            watched = dict(self._watch)
        if not watched:
            return
        try:
            journal = self.store.journal(self.list_key)
        except Exception as exc:  # a busy or lost store: the next flush looks again
            log.warning("could not check unknown outcomes: %s", exc)
            return
        for row_key, email in watched.items():
            entry = journal.get(normalize_email(email))
            if entry is not None and entry.state == SendState.SENT and entry.gift_request_id:
                with self._lock:
                    self._watch.pop(row_key, None)
                    self._pending.append(result_for_entry(row_key, entry))
                    self.progress.resolved += 1

    def _flush(self) -> None:
        """Hand the batched results to the sink; on failure keep them for the next flush
        (they are in the journal anyway, so nothing is lost)."""
        self._resolved_rows()
        try:
            wrote = self._write_pending()
        except Exception as exc:
            log.warning("write-back failed, will retry: %s", exc)
            with self._lock:
                self.progress.flush_errors += 1
                self.progress.writeback_error = f"Writing results back failed ({exc}); they are kept and retried."
            return
        if wrote:
            with self._lock:
                self.progress.flushes += 1
                self.progress.writeback_error = ""

    def write_preamble(self) -> None:
        """Write the results waiting before any send (why rows skip) now, raising when the list
        refuses them: a list that cannot be written is found before anyone is gifted."""
        self._write_pending()

    def _write_pending(self) -> bool:
        """Write the waiting results in one batch: True when there was one. On failure they wait
        again, in order, and the error is raised."""
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch or self.sink is None:
            return False
        try:
            self.sink.write(merge_results(batch))
        except BaseException:
            with self._lock:
                self._pending[:0] = batch
            raise
        return True

    def flush_pending(self) -> bool:
        """Try the results the sink refused again (after the run); True when none are left."""
        self._flush()
        return not self.unflushed

    @property
    def unflushed(self) -> list[RowResult]:
        with self._lock:
            return list(self._pending)
