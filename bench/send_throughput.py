"""Benchmark the run engine against each rate limiter real APIs use, fast and slow.

    python bench/send_throughput.py [--rows 1000] [--limit 20] [--rate 20] [--latency 0.1 1.5]
                                    [--limiter token-bucket fixed-window sliding-window]
                                    [--retry-after yes no] [--concurrency 64] [--repeat 1] [--clay-rows 0]

For every limiter, with and without Retry-After, and every latency, starts a Sandbox with
Faults(latency, rate_limit=limit, limiter, retry_after) on loopback in a process of its own
(as &Open is: a server sharing the engine's interpreter would see its threads' GIL pauses as
bunched arrivals, and its limiter would refuse what a real one accepts), sends `rows` people
through SendRun (real HTTP, a real SQLite journal in a temporary folder, a sink that counts
write-back flushes) and prints one line: wall time, the ideal, their ratio, the 429s the
sandbox answered, rows that failed because of 429 (must be 0), what the pace learned (429
episodes, pauses of every request for a spent limit, the pace at the end), and
the machine's load average and `stalls`: how often the engine's process / the sandbox's
was kept from running for more than 20 ms (on a shared box those bunch requests that a strict
window refuses; a figure that misses is repeated with --repeat).

The ideal is rows ÷ limit + latency: every row sent at exactly the limit, then the last
answer's latency (no client has the last gift before that). `÷limit` is the ratio against
rows ÷ limit alone. `--rows 200` gives a quick run.

--clay-rows N also sends the list one row at a time, the Clay way (one request after another,
no pacing beyond the latency), to a fresh sandbox per latency, timing the first N rows and
extrapolating to `rows`.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lib.andopen import AndOpenClient, AndOpenError  # noqa: E402
from lib.models import Recipient, SendState, normalize_email  # noqa: E402
from lib.runtime import http_session  # noqa: E402
from lib.sandbox import Faults, Sandbox  # noqa: E402
from lib.sandbox_limiters import LimiterKind  # noqa: E402
from lib.sending import MAX_CONCURRENCY, SendItem, SendRun  # noqa: E402
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


class StallMeter:
    """How often this process was kept from running: a thread that sleeps 5 ms at a time and
    counts the wake-ups more than 20 ms late. On a shared box those delays, not the engine,
    bunch requests that a strict window then refuses."""

    TICK, LATE = 0.005, 0.020

    def __init__(self) -> None:
        self.stalls = 0
        self.worst = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="stall-meter")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            t = time.perf_counter()
            time.sleep(self.TICK)
            late = time.perf_counter() - t - self.TICK
            self.worst = max(self.worst, late)
            self.stalls += late > self.LATE

    def stop(self) -> StallMeter:
        self._stop.set()
        self._thread.join()
        return self


@dataclass
class EngineFigures:
    limiter: str
    retry_after: bool
    latency: float
    limit: float
    rows: int
    sent: int
    rejected: int
    unknown: int
    failed: int
    wall: float
    throttled_429: int  # 429s the sandbox answered
    retries: int
    flushes: int
    failed_by_429: int
    sandbox_gifts: int
    workers: int  # the most requests the engine kept in flight
    episodes: int  # 429 episodes the pace learned from
    pauses: int  # times every request waited for a Retry-After (a spent limit)
    pace: float  # the pace at the end, requests/s
    load: float  # the machine's 1-minute load average when the run ended: a busy box delays requests
    stalls: tuple[int, int]  # wake-ups more than 20 ms late in the engine's process, in the sandbox's

    @property
    def ideal(self) -> float:
        return self.rows / self.limit + self.latency

    @property
    def ratio(self) -> float:
        return self.wall / self.ideal

    @property
    def ratio_to_limit(self) -> float:
        return self.wall / (self.rows / self.limit)


@dataclass
class ClayFigures:
    latency: float
    rows_timed: int
    wall_timed: float
    wall_total: float  # measured, or extrapolated when rows_timed < rows
    extrapolated: bool
    errors: int


def people(n: int) -> list[Recipient]:
    return [Recipient(f"First{i:05d}", f"Last{i:05d}", f"person{i:05d}@bench.example.com") for i in range(n)]


def _client(sandbox: Sandbox | SandboxProcess) -> AndOpenClient:
    session = http_session()
    session.trust_env = False  # loopback: never through a proxy
    return AndOpenClient(session, sandbox.token, sandbox.url)


def _posts(sandbox: Sandbox) -> list:
    return [r for r in list(sandbox.requests) if r.method == "POST" and r.path.startswith("/gift_requests")]


def _serve(conn, faults: Faults) -> None:
    """The child process: a sandbox until asked for what it saw."""
    with Sandbox(faults=faults) as sb:
        conn.send((sb.url, sb.token, sb.campaign_ids[0]))
        meter = StallMeter()
        conn.recv()
        posts = [(normalize_email(((r.json or {}).get("recipient") or {}).get("email")), r.status) for r in _posts(sb)]
        conn.send((posts, len(sb.gifts), meter.stop().stalls))


class SandboxProcess:
    """A Sandbox in its own process; `report()` gives its POSTs as (email, status) and its gift count."""

    def __init__(self, faults: Faults) -> None:
        self._conn, child = multiprocessing.Pipe()
        self._proc = multiprocessing.get_context("spawn").Process(target=_serve, args=(child, faults), daemon=True)
        self._proc.start()
        self.url, self.token, campaign = self._conn.recv()
        self.campaign_ids = [campaign]

    def report(self) -> tuple[list[tuple[str, int | None]], int, int]:
        self._conn.send("report")
        return self._conn.recv()

    def close(self) -> None:
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.terminate()


def run_engine(
    rows: int,
    *,
    latency: float,
    limit: float,
    rate: float,
    limiter: LimiterKind = LimiterKind.TOKEN_BUCKET,
    retry_after: bool = True,
    concurrency: int = MAX_CONCURRENCY,
) -> EngineFigures:
    recipients = people(rows)
    faults = Faults(latency=latency, rate_limit=limit, limiter=limiter, retry_after=retry_after)
    sandbox = SandboxProcess(faults)
    with tempfile.TemporaryDirectory(prefix="giftrun-bench-") as tmp:
        store = Store(Path(tmp))
        sink = CountingSink()
        items = [SendItem(str(i), r) for i, r in enumerate(recipients)]
        run = SendRun(
            _client(sandbox),
            store,
            "bench:list",
            items,
            sandbox.campaign_ids[0],
            actor="bench",
            rate=rate,
            concurrency=concurrency,
            sink=sink,
        )
        meter = StallMeter()
        t0 = time.perf_counter()
        progress = run.run()
        wall = time.perf_counter() - t0
        meter.stop()
        posts, gifts, sandbox_stalls = sandbox.report()
        sandbox.close()
        journal = store.journal("bench:list")
        last_status: dict[str, int | None] = dict(posts)
        failed_by_429 = sum(
            1 for e, entry in journal.items() if entry.state == SendState.FAILED and last_status.get(e) == 429
        )
        failed_by_429 += sum(
            1
            for r in recipients
            if normalize_email(r.email) not in journal and last_status.get(normalize_email(r.email)) == 429
        )
        store.close()
        return EngineFigures(
            limiter=LimiterKind(limiter).value,
            retry_after=retry_after,
            latency=latency,
            limit=limit,
            rows=rows,
            sent=progress.sent,
            rejected=progress.rejected,
            unknown=progress.unknown,
            failed=progress.failed,
            wall=wall,
            throttled_429=sum(1 for _, status in posts if status == 429),
            retries=progress.retries,
            flushes=sink.flushes,
            failed_by_429=failed_by_429,
            sandbox_gifts=gifts,
            workers=run.peak_workers,
            episodes=run.limiter.episodes,
            pauses=run.limiter.pauses,
            pace=run.limiter.rate,
            load=os.getloadavg()[0],
            stalls=(meter.stalls, sandbox_stalls),
        )


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
    return ClayFigures(latency, len(timed), wall, total, len(timed) < rows, errors)


HEADER = (
    f"{'limiter':<15} {'Retry-After':<11} {'latency':>7} {'wall s':>7} {'ideal s':>7} {'ratio':>6} "
    f"{'÷limit':>6} {'429s':>5} {'failed by 429':>13} {'workers':>7} {'episodes':>8} {'pauses':>6} {'end pace':>9} "
    f"{'load':>5} {'stalls':>8}"
)


def line(f: EngineFigures) -> str:
    return (
        f"{f.limiter:<15} {'yes' if f.retry_after else 'no':<11} {f.latency:>6.2f}s {f.wall:>7.2f} {f.ideal:>7.2f} "
        f"{f.ratio:>6.3f} {f.ratio_to_limit:>6.3f} {f.throttled_429:>5} {f.failed_by_429:>13} {f.workers:>7} "
        f"{f.episodes:>8} {f.pauses:>6} {f.pace:>7.2f}/s {f.load:>5.1f} {f.stalls[0]:>3}/{f.stalls[1]:<4}"
        + (
            ""
            if f.sent == f.rows
            else f"  (sent {f.sent}: rejected {f.rejected}, unknown {f.unknown}, failed {f.failed})"
        )
    )


def main(argv: Sequence[str] | None = None) -> tuple[list[EngineFigures], list[ClayFigures]]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1000)
    p.add_argument("--limit", type=float, default=20.0, help="the sandbox's rate limit, requests/s")
    p.add_argument("--rate", type=float, default=20.0, help="the engine's --rate, requests/s")
    p.add_argument("--latency", type=float, nargs="+", default=[0.1, 1.5], help="seconds the sandbox takes to answer")
    p.add_argument(
        "--limiter", nargs="+", default=[k.value for k in LimiterKind], choices=[k.value for k in LimiterKind]
    )
    p.add_argument(
        "--retry-after", nargs="+", default=["yes", "no"], choices=["yes", "no"], help="whether 429s carry Retry-After"
    )
    p.add_argument("--concurrency", type=int, default=MAX_CONCURRENCY, help="the most requests in flight")
    p.add_argument("--repeat", type=int, default=1, help="run every line this many times")
    p.add_argument(
        "--clay-rows",
        type=int,
        default=0,
        help="also time this many rows sent one at a time, per latency, and extrapolate (0: skip)",
    )
    args = p.parse_args(argv)
    print(
        f"{args.rows} rows, limit {args.limit:g}/s, --rate {args.rate:g}, at most {args.concurrency} in flight; "
        f"ideal = rows ÷ limit + latency",
        flush=True,
    )
    print(HEADER, flush=True)
    figures = []
    for limiter, ra, latency, _ in itertools.product(args.limiter, args.retry_after, args.latency, range(args.repeat)):
        f = run_engine(
            args.rows,
            latency=latency,
            limit=args.limit,
            rate=args.rate,
            limiter=LimiterKind(limiter),
            retry_after=ra == "yes",
            concurrency=args.concurrency,
        )
        figures.append(f)
        print(line(f), flush=True)
    clays = []
    if args.clay_rows > 0:
        print("One row at a time (the Clay way: sequential, no pacing beyond latency)", flush=True)
        for latency in args.latency:
            c = run_clay(args.rows, latency=latency, limit=args.limit, clay_rows=args.clay_rows)
            clays.append(c)
            best = min(f.wall for f in figures if f.latency == latency)
            how = f"extrapolated from {c.rows_timed} rows" if c.extrapolated else "measured"
            print(
                f"  latency {latency:.1f}s: {c.wall_total:.1f} s ({how}), {c.errors} errors; "
                f"the engine is {c.wall_total / best:.1f}× faster",
                flush=True,
            )
    return figures, clays


if __name__ == "__main__":
    main()
