"""Benchmark the run engine against the sandbox's rate limit, and against the Clay way.

    python bench/send_throughput.py [--rows 1000] [--latency 0.1] [--limit 20] [--rate 20]
                                    [--concurrency 8] [--clay-rows 100]

Starts a Sandbox with Faults(latency, rate_limit=limit) on loopback, sends `rows` people
through SendRun (real HTTP, a real SQLite journal in a temporary folder, a sink that counts
write-back flushes) and prints wall time, the ideal (rows ÷ limit), their ratio, the 429s
the sandbox answered, retries, flushes, and rows that failed because of 429 (must be 0).

Then the same list is sent one row at a time, the Clay way (one request after another, no
pacing beyond the latency), to a fresh sandbox with the same faults. At more than
--clay-rows rows only the first --clay-rows are timed and the total is extrapolated (the
output says so); --clay-rows 0 times the whole list.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lib.andopen import AndOpenClient, AndOpenError  # noqa: E402
from lib.models import Recipient, SendState, normalize_email  # noqa: E402
from lib.runtime import http_session  # noqa: E402
from lib.sandbox import Faults, Sandbox  # noqa: E402
from lib.sending import DEFAULT_CONCURRENCY, SendItem, SendRun  # noqa: E402
from lib.store import Store  # noqa: E402
from lib.writeback import RowResult  # noqa: E402


class CountingSink:
    """Counts write-back flushes and the rows they carried; keeps nothing else."""

    def __init__(self) -> None:
        self.flushes = 0
        self.rows = 0
        self._lock = threading.Lock()

    def write(self, results: Sequence[RowResult]) -> None:
        with self._lock:
            self.flushes += 1
            self.rows += len(results)


@dataclass
class EngineFigures:
    rows: int
    sent: int
    rejected: int
    unknown: int
    failed: int
    wall: float
    ideal: float
    throttled_429: int  # 429s the sandbox answered
    retries: int
    flushes: int
    failed_by_429: int
    sandbox_gifts: int

    @property
    def ratio(self) -> float:
        return self.wall / self.ideal if self.ideal else float("nan")


@dataclass
class ClayFigures:
    rows_timed: int
    wall_timed: float
    wall_total: float  # measured, or extrapolated when rows_timed < rows
    extrapolated: bool
    errors: int


def people(n: int) -> list[Recipient]:
    return [Recipient(f"First{i:05d}", f"Last{i:05d}", f"person{i:05d}@bench.example.com") for i in range(n)]


def _client(sandbox: Sandbox) -> AndOpenClient:
    session = http_session()
    session.trust_env = False  # loopback: never through a proxy
    return AndOpenClient(session, sandbox.token, sandbox.url)


def _posts(sandbox: Sandbox) -> list:
    return [r for r in list(sandbox.requests) if r.method == "POST" and r.path.startswith("/gift_requests")]


def run_engine(rows: int, *, latency: float, limit: float | None, rate: float,
               concurrency: int = DEFAULT_CONCURRENCY, data_dir: Path | None = None) -> EngineFigures:
    recipients = people(rows)
    with tempfile.TemporaryDirectory(prefix="giftrun-bench-") as tmp, \
            Sandbox(faults=Faults(latency=latency, rate_limit=limit)) as sandbox:
        store = Store(data_dir or Path(tmp))
        sink = CountingSink()
        items = [SendItem(str(i), r) for i, r in enumerate(recipients)]
        run = SendRun(_client(sandbox), store, "bench:list", items, sandbox.campaign_ids[0], actor="bench",
                      rate=rate, concurrency=concurrency, sink=sink)
        t0 = time.perf_counter()
        progress = run.run()
        wall = time.perf_counter() - t0
        posts = _posts(sandbox)
        journal = store.journal("bench:list")
        last_status: dict[str, int | None] = {}
        for r in posts:
            body = r.json or {}
            email = normalize_email(((body.get("recipient") or {}).get("email")))
            last_status[email] = r.status
        failed_by_429 = sum(1 for e, entry in journal.items()
                            if entry.state == SendState.FAILED and last_status.get(e) == 429)
        failed_by_429 += sum(1 for r in recipients if normalize_email(r.email) not in journal
                             and last_status.get(normalize_email(r.email)) == 429)
        store.close()
        return EngineFigures(
            rows=rows, sent=progress.sent, rejected=progress.rejected, unknown=progress.unknown,
            failed=progress.failed, wall=wall, ideal=(rows / limit) if limit else float("nan"),
            throttled_429=sum(1 for r in posts if r.status == 429), retries=progress.retries,
            flushes=sink.flushes, failed_by_429=failed_by_429, sandbox_gifts=len(sandbox.gifts))


def run_clay(rows: int, *, latency: float, limit: float | None, clay_rows: int = 100) -> ClayFigures:
    """One request after another, as a Clay table runs its HTTP column: no engine, no
    concurrency, no pacing beyond the answer's own latency."""
    recipients = people(rows)
    timed = recipients if clay_rows <= 0 or rows <= clay_rows else recipients[:clay_rows]
    errors = 0
    with Sandbox(faults=Faults(latency=latency, rate_limit=limit)) as sandbox:
        client = _client(sandbox)
        campaign = sandbox.campaign_ids[0]
        t0 = time.perf_counter()
        for r in timed:
            try:
                client.create_gift_request(campaign, r.first_name, r.last_name, r.email)
            except AndOpenError:
                errors += 1
        wall = time.perf_counter() - t0
    total = wall * rows / len(timed) if timed else 0.0
    return ClayFigures(len(timed), wall, total, len(timed) < rows, errors)


def report(engine: EngineFigures, clay: ClayFigures | None, *, latency: float, limit: float | None,
           rate: float, concurrency: int) -> str:
    lines = [
        f"Giftrun send engine → sandbox (latency {latency * 1000:.0f} ms, limit {limit:g}/s, "
        f"--rate {rate:g}, concurrency {concurrency})" if limit else
        f"Giftrun send engine → sandbox (latency {latency * 1000:.0f} ms, no limit, --rate {rate:g}, "
        f"concurrency {concurrency})",
        f"  rows                  {engine.rows}",
        f"  sent                  {engine.sent}  (rejected {engine.rejected}, unknown {engine.unknown}, "
        f"failed {engine.failed}; sandbox holds {engine.sandbox_gifts} gifts)",
        f"  wall time             {engine.wall:.2f} s",
        f"  ideal (rows ÷ limit)  {engine.ideal:.2f} s",
        f"  ratio wall/ideal      {engine.ratio:.3f}",
        f"  429s received         {engine.throttled_429}",
        f"  retries               {engine.retries}",
        f"  write-back flushes    {engine.flushes}",
        f"  rows failed by 429    {engine.failed_by_429}",
    ]
    if clay is not None:
        how = (f"extrapolated from the first {clay.rows_timed} rows ({clay.wall_timed:.2f} s)"
               if clay.extrapolated else "measured")
        lines += [
            "One row at a time (the Clay way: sequential, no pacing beyond latency)",
            f"  wall time             {clay.wall_total:.2f} s  ({how})",
            f"  errors                {clay.errors}",
            f"  speed-up              {clay.wall_total / engine.wall:.2f}×" if engine.wall > 0 else "",
        ]
    return "\n".join(line for line in lines if line)


def main(argv: Sequence[str] | None = None) -> tuple[EngineFigures, ClayFigures | None]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1000)
    p.add_argument("--latency", type=float, default=0.1, help="seconds the sandbox adds to each answer")
    p.add_argument("--limit", type=float, default=20.0, help="the sandbox's rate limit, requests/s")
    p.add_argument("--rate", type=float, default=20.0, help="the engine's --rate, requests/s")
    p.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    p.add_argument("--clay-rows", type=int, default=100,
                   help="time only this many rows of the one-at-a-time pass and extrapolate (0: all)")
    p.add_argument("--no-clay", action="store_true", help="skip the one-at-a-time comparison")
    args = p.parse_args(argv)
    engine = run_engine(args.rows, latency=args.latency, limit=args.limit, rate=args.rate,
                        concurrency=args.concurrency)
    clay = None if args.no_clay else run_clay(args.rows, latency=args.latency, limit=args.limit,
                                              clay_rows=args.clay_rows)
    print(report(engine, clay, latency=args.latency, limit=args.limit, rate=args.rate,
                 concurrency=args.concurrency), flush=True)
    return engine, clay


if __name__ == "__main__":
    main()
