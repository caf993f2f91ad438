"""SQLite never stops a lone process with "database is locked": its writers queue.

SQLite's busy handler polls for the write lock; it does not queue. With many threads writing
(a run's workers, its heartbeat, its flushes) one can lose every poll for longer than the busy
timeout on a busy machine. Here the timeout is shrunk to 20 ms so the race shows in a second:
32 threads of one process claim and record 20 sends each, and none may fail."""

from __future__ import annotations

import threading

import pytest

from lib.models import Recipient, SendState
from lib.store import Store
from lib.store import database as store_database
from tests.support import run_threads

pytestmark = [
    pytest.mark.private_store,
    pytest.mark.slow,
]  # a SQLite file of its own, and what SQLite does with its lock


@pytest.mark.slow
def test_many_writers_in_one_process_queue_instead_of_failing_on_the_lock(tmp_path, monkeypatch):
    monkeypatch.setattr(store_database, "BUSY_TIMEOUT_MS", 20)
    store = Store(tmp_path / "data")
    failures: list[BaseException] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        for i in range(20):
            email = f"w{n}-{i}@example.com"
            try:
                assert store.claim(
                    "list", Recipient("A", "B", email), row_key=email, campaign_id="c", run_id=f"r{n}"
                ).claimed
                store.record_outcome("list", email, SendState.SENT, gift_request_id=f"g-{n}-{i}")
            except Exception as exc:
                with lock:
                    failures.append(exc)

    try:
        run_threads(writer, 32, timeout=120)
        assert not failures, f"{len(failures)} writes failed, e.g. {failures[0]}"
        journal = store.journal("list")
        assert len(journal) == 32 * 20 and {e.state for e in journal.values()} == {SendState.SENT}
    finally:
        store.close()
