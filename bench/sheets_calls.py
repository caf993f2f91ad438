"""Google Sheets call budget of a run's write-back, against the fake Sheets API.

    python bench/sheets_calls.py [--rows 1000] [--flush-every 40] [--history-every 1] [--rate 20]

Starts the fake Sheets server (loopback, real gspread through lib.sheets), creates a sheet
of ROWS people, reads it once, then simulates a run at RATE rows/s: each sent row yields a
result (Gift request ID, Redemption URL, Gift status, Eligibility, Sent at) and a `send`
status event in the store's outbox; every FLUSH-EVERY results the sink flushes (one
re-read + one write), and every HISTORY-EVERY flushes the outbox is appended to the
`Gift history` tab; a final flush, a final history sync and a settle() close the run.

The fake runs on a simulated clock (run time = results / RATE, plus any backoff), with
Google's budget of 60 writes a minute per user, so a 429 shows up exactly when the real
API would refuse. Prints read and write calls (counted by the server), writes a minute,
headroom under 60, and whether the write-back stayed within ~25 write calls.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lib.models import EventSource, StatusEvent, iso, utcnow  # noqa: E402
from lib.sheets import (  # noqa: E402
    SheetList,
    SheetsRetry,
    history_target,
    make_client,
    row_keys,
    sync_outbox,
)
from lib.store import Store  # noqa: E402
from lib.writeback import RowResult  # noqa: E402
from tests.fake_sheets import FakeSheets  # noqa: E402

KEY = "benchSheet" + "x" * 34
WRITE_QUOTA = 60  # write requests per minute per user (one service account = one user)
TARGET_WRITES = 25


class SimClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class BenchResult:
    rows: int
    flushes: int
    history_syncs: int
    read_calls: int
    write_calls: int
    list_write_calls: int
    history_write_calls: int
    throttled: int
    run_seconds: float
    writes_per_minute: float
    headroom: float
    all_written: bool

    @property
    def list_within_target(self) -> bool:
        return self.list_write_calls <= TARGET_WRITES + 2

    @property
    def within_target(self) -> bool:
        return self.write_calls <= TARGET_WRITES + 2


def run_bench(rows: int = 1000, flush_every: int = 80, history_every: int = 0, rate: float = 20.0) -> BenchResult:
    clock = SimClock()
    retry = SheetsRetry(max_attempts=8, sleep=clock.sleep)
    people = [["First Name", "Last Name", "Email", "Company"]] + [
        [f"First{i}", f"Last{i}", f"person{i:05d}@example.com", f"Company {i % 37}"] for i in range(rows)
    ]
    with FakeSheets(writes_per_minute=WRITE_QUOTA, clock=clock) as fake, tempfile.TemporaryDirectory() as tmp:
        fake.create_spreadsheet(KEY, {"People": people})
        store = Store(tmp)
        client = make_client(
            {"client_email": "bench@example.iam.gserviceaccount.com"}, emulator_host=fake.host, timeout=30
        )
        sheet = SheetList.open(client, KEY, retry=retry)
        frame = sheet.read()
        frame.index = row_keys(frame, "Email", "First Name", "Last Name")
        sink = sheet.sink("Email", "First Name", "Last Name")
        tab = sheet.history_tab(create=True)
        target = history_target(KEY)

        batch: list[RowResult] = []
        flushes = syncs = 0

        def flush() -> None:
            nonlocal flushes, syncs, batch
            if batch:
                sink.write(batch)
                flushes += 1
                batch = []
                if history_every and flushes % history_every == 0:
                    sync_outbox(store, target, tab)
                    syncs += 1

        for n, (key, person) in enumerate(frame.iterrows(), start=1):
            clock.now = max(clock.now, n / rate)
            gid = f"gr_{n:06d}"
            sent_at = iso(utcnow())
            batch.append(
                RowResult(
                    key,
                    person["Email"],
                    {
                        "Gift request ID": gid,
                        "Redemption URL": f"https://gift.example/r/{gid}",
                        "Gift status": "Submitted",
                        "Eligibility": "eligible",
                        "Sent at": sent_at,
                    },
                )
            )
            event = StatusEvent(
                f"send:{gid}",
                gid,
                "submitted",
                EventSource.SEND,
                email=person["Email"],
                event_type="gift_request_created",
                occurred_at=sent_at,
                actor="bench",
            )
            store.add_events([event])
            store.enqueue(target, [event.event_id])
            if len(batch) >= flush_every:
                flush()
        flush()  # the final flush
        if store.pending(target):
            sync_outbox(store, target, tab)
            syncs += 1
        sink.settle()
        run_seconds = max(clock.now, rows / rate)
        table = fake.table(KEY, "People")
        all_written = len(table) == rows and all(
            r.get("Gift request ID") == f"gr_{i + 1:06d}" for i, r in enumerate(table)
        )
        history = fake.rows(KEY, "Gift history")
        all_written = all_written and len(history) == rows + 1
        list_writes = fake.counts["values.batchUpdate"]
        writes = fake.writes
        per_minute = writes / (run_seconds / 60.0)
        store.close()
        return BenchResult(
            rows=rows,
            flushes=flushes,
            history_syncs=syncs,
            read_calls=fake.reads,
            write_calls=writes,
            list_write_calls=list_writes,
            history_write_calls=fake.counts["values.append"] + fake.counts["values.update"],
            throttled=fake.throttled,
            run_seconds=run_seconds,
            writes_per_minute=per_minute,
            headroom=WRITE_QUOTA - per_minute,
            all_written=all_written,
        )


def report(r: BenchResult) -> str:
    other = r.write_calls - r.list_write_calls - r.history_write_calls
    lines = [
        f"rows: {r.rows}   flushes: {r.flushes}   history syncs: {r.history_syncs}",
        f"simulated run: {r.run_seconds:.1f} s",
        f"read calls: {r.read_calls}  ({r.read_calls / (r.run_seconds / 60.0):.1f}/min; Google allows "
        f"{WRITE_QUOTA} reads a minute per user too)",
        f"write calls: {r.write_calls}  (list write-back {r.list_write_calls}, history tab "
        f"{r.history_write_calls}, tab creation/resize {other})",
        f"writes/min: {r.writes_per_minute:.1f}   headroom under {WRITE_QUOTA}/min: {r.headroom:.1f}",
        f"429s from the simulated quota: {r.throttled}",
        f"list write-back within ~{TARGET_WRITES} write calls: {'yes' if r.list_within_target else 'no'}",
        f"all write calls within ~{TARGET_WRITES}: {'yes' if r.within_target else 'no'}",
        f"every result and event landed: {'yes' if r.all_written else 'NO'}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> BenchResult:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument(
        "--flush-every",
        type=int,
        default=80,
        help="results per flush (default: the engine's 4 s sheet flush interval at 20 rows/s)",
    )
    ap.add_argument(
        "--history-every",
        type=int,
        default=0,
        help="append the outbox to the history tab every N flushes (0: once, at the end of "
        "the run, as the app and the CLI do)",
    )
    ap.add_argument("--rate", type=float, default=20.0, help="rows sent per second")
    args = ap.parse_args(argv)
    result = run_bench(args.rows, args.flush_every, args.history_every, args.rate)
    print(report(result))
    return result


if __name__ == "__main__":
    res = main()
    sys.exit(0 if res.all_written else 1)
