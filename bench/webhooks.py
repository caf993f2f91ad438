"""Webhook receiver benchmark: signed, shuffled, duplicated deliveries over loopback.

    python bench/webhooks.py [--events 2000] [--dup 0.2] [--senders 32] [--seed 1]

Starts the standalone receiver (uvicorn, its own process, 127.0.0.1, a free port, a temp
data dir), sends N distinct events over about N/4 gifts with realistic status sequences
plus re-deliveries of the same event ids with fresh timestamps and signatures, in random
order, from concurrent senders. Checks that every distinct event is stored exactly once
and that each gift's latest status is the expected one; exit 1 if not.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from lib.models import STATUS_RANK  # noqa: E402
from lib.store import Store  # noqa: E402
from lib.webhooks import sign  # noqa: E402

SECRET = "whsec_bench_" + uuid.uuid4().hex
FLOW = ["submitted", "redeemed", "dispatched", "delivered"]
TYPE = {"submitted": "gift_request_created"}
REQUEST_TIMEOUT = 10.0
START_TIMEOUT = 15.0
SERVER = (
    "import os, sys; sys.path.insert(0, sys.argv[1]);"
    "from lib.store import Store; from lib.webhooks import serve;"
    "serve(Store(sys.argv[2], schema=os.environ.get('GIFTRUN_BENCH_SCHEMA') or None),"
    " os.environ['GIFTRUN_BENCH_SECRET'], host='127.0.0.1', port=int(sys.argv[3]))"
)


@dataclass(frozen=True)
class BenchResult:
    events_sent: int  # deliveries, duplicates included
    distinct_sent: int
    duplicates_sent: int
    senders: int
    elapsed_s: float
    events_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    distinct_stored: int
    duplicates_answered: int
    gifts: int
    gifts_status_ok: int
    stored_ids_match: bool

    @property
    def ok(self) -> bool:
        return (
            self.stored_ids_match
            and self.distinct_stored == self.distinct_sent
            and self.non_2xx == 0
            and self.gifts_status_ok == self.gifts
        )


def build_events(n: int, rng: random.Random) -> tuple[list[tuple[str, str, dict]], dict[str, str]]:
    """N distinct (event_id, event_type, body) over ~N/4 gifts, and each gift's expected status."""
    events: list[tuple[str, str, dict]] = []
    sent: dict[str, list[str]] = {}
    base = 1_776_000_000
    while len(events) < n:
        gid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if rng.random() < 0.06:  # a few cancelled or expired, early in their life
            statuses = FLOW[: rng.choice([1, 2])] + ["cancelled"]
        else:
            statuses = FLOW[: rng.choices([1, 2, 3, 4], weights=[1, 1, 1, 17])[0]]
        statuses = statuses[: n - len(events)]
        for step, status in enumerate(statuses):
            at = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(base + len(events) + step * 3600))
            body = {
                "id": gid,
                "status": status,
                "campaign_id": "bench-campaign",
                "redemption_url": f"https://gift.andopen.co/r/{gid[:8]}",
                "recipient": {
                    "first_name": "Bench",
                    "last_name": f"User{len(sent)}",
                    "email": f"user{len(sent)}@example.com",
                },
                "created_at": at,
                "updated_at": at,
            }
            events.append(
                (str(uuid.UUID(int=rng.getrandbits(128), version=4)), TYPE.get(status, f"gift_request_{status}"), body)
            )
        sent[gid] = statuses
    expected = {g: "cancelled" if "cancelled" in s else max(s, key=STATUS_RANK.__getitem__) for g, s in sent.items()}
    return events, expected


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(data_dir: str, schema: str | None = None) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "GIFTRUN_BENCH_SECRET": SECRET, "GIFTRUN_BENCH_SCHEMA": schema or ""}  # never on argv
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(ROOT), data_dir, str(port)], env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"receiver exited with code {proc.returncode}")
        try:
            if requests.get(f"{url}/health", timeout=1).ok:
                return proc, url
        except requests.RequestException:
            time.sleep(0.05)
    _stop(proc)
    raise RuntimeError("receiver did not start in time")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def _send_all(url: str, deliveries: list[tuple[str, str, bytes]], senders: int, deadline: float):
    """Every delivery, signed as &Open signs it, from `senders` keep-alive connections at once;
    returns [(status code, answer, seconds)]. Signed just before sending (the window is 5 min)."""
    from urllib.parse import urlsplit

    from bench.loadgen import run as load

    parts = urlsplit(url)
    raw = []
    for event_id, event_type, body in deliveries:
        ts = int(time.time())
        head = (
            f"POST /webhooks/andopen HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nAndOpen-Webhook-Event-Id: {event_id}\r\n"
            f"AndOpen-Webhook-Event-Type: {event_type}\r\nAndOpen-Webhook-Dispatch-Timestamp: {ts}\r\n"
            f"AndOpen-Webhook-Signature: {sign(SECRET, ts, body)}\r\n\r\n"
        )
        raw.append(head.encode() + body)
    _, lat, answers = load(parts.hostname, parts.port, raw, senders, timeout=max(1.0, deadline - time.monotonic()))
    out = []
    for (code, body), seconds in zip(answers, lat):
        try:
            answer = json.loads(body).get("status", "") if 200 <= code < 300 else ""
        except ValueError:
            answer = ""
        out.append((code, answer, seconds))
    return out


def _pct(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(round(p / 100 * (len(sorted_values) - 1))))]


def run(
    events: int = 2000,
    dup: float = 0.2,
    senders: int = 32,
    seed: int = 1,
    budget_s: float = 120.0,
    store_location: str | None = None,
    schema: str | None = None,
) -> BenchResult:
    """`store_location`: a PostgreSQL URL (with `schema`); default a SQLite store in a temp folder."""
    rng = random.Random(seed)
    distinct, expected = build_events(events, rng)
    raw = [(eid, etype, json.dumps(body).encode()) for eid, etype, body in distinct]
    deliveries = raw + [rng.choice(raw) for _ in range(round(events * dup))]
    rng.shuffle(deliveries)
    with tempfile.TemporaryDirectory(prefix="giftrun-bench-") as data_dir:
        where = store_location or data_dir
        Store(where, schema=schema).close()  # migrated before the clock starts
        proc, url = _start_server(where, schema)
        try:
            t0 = time.perf_counter()
            results = _send_all(url, deliveries, senders, time.monotonic() + budget_s)
            elapsed = time.perf_counter() - t0
            store = Store(where, schema=schema)
            stored = store.events()
            status = {g.gift_request_id: g.status for g in store.gifts()}
            store.close()
        finally:
            _stop(proc)
    lat = sorted(r[2] for r in results)
    stored_ids = [e.event_id for e in stored]
    return BenchResult(
        events_sent=len(results),
        distinct_sent=len(distinct),
        duplicates_sent=len(deliveries) - len(distinct),
        senders=senders,
        elapsed_s=elapsed,
        events_per_s=len(results) / elapsed if elapsed else 0.0,
        p50_ms=_pct(lat, 50) * 1000,
        p99_ms=_pct(lat, 99) * 1000,
        non_2xx=sum(1 for c, _, _ in results if not 200 <= c < 300) + len(deliveries) - len(results),
        distinct_stored=len(set(stored_ids)),
        duplicates_answered=sum(1 for _, a, _ in results if a == "duplicate"),
        gifts=len(expected),
        gifts_status_ok=sum(1 for g, s in expected.items() if status.get(g) == s),
        stored_ids_match=len(stored_ids) == len(set(stored_ids)) == len(distinct)
        and set(stored_ids) == {e[0] for e in distinct},
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=2000, help="distinct events (default 2000)")
    ap.add_argument("--dup", type=float, default=0.2, help="share of re-deliveries (default 0.2)")
    ap.add_argument("--senders", type=int, default=32, help="concurrent sender threads (default 32)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    r = run(args.events, args.dup, args.senders, args.seed)
    rows = [
        ("events sent (incl. duplicates)", f"{r.events_sent}"),
        ("distinct / duplicates sent", f"{r.distinct_sent} / {r.duplicates_sent}"),
        ("senders", f"{r.senders}"),
        ("elapsed", f"{r.elapsed_s:.2f} s"),
        ("throughput", f"{r.events_per_s:.0f} events/s"),
        ("latency p50 / p99", f"{r.p50_ms:.1f} / {r.p99_ms:.1f} ms"),
        ("non-2xx answers", f"{r.non_2xx}"),
        (
            "distinct events stored",
            f"{r.distinct_stored} of {r.distinct_sent}" + ("" if r.stored_ids_match else "  MISMATCH"),
        ),
        ("answered 'duplicate'", f"{r.duplicates_answered} of {r.duplicates_sent}"),
        ("gifts with expected status", f"{r.gifts_status_ok} of {r.gifts}"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print("OK" if r.ok else "FAILED")
    return 0 if r.ok else 1


if __name__ == "__main__":
    sys.exit(main())
