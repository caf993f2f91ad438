"""Store benchmark: the journal and the webhook intake on SQLite and on PostgreSQL, in one run.

    python bench/store.py [--database-url postgresql://…] [--claims 2000] [--threads 8] [--events 2000]

The PostgreSQL rows need a server: --database-url, or GIFTRUN_BENCH_DATABASE_URL /
GIFTRUN_TEST_DATABASE_URL (`.ci/run` starts one); each run uses a fresh schema and drops it.

- claims: threads each journal a send (the claim, with its look-back check, under the
  person's lock) and then its outcome, for distinct people: what a run does per gift.
  Baseline, measured in the same run on the same store: write transactions that each insert
  one row (the same commit and fsync a journal line pays); a claim and its outcome are two
  such transactions, so the ideal is half that rate.
- intake: bench/webhooks.py against the standalone receiver (its own process) on that
  store: signed, shuffled, 20% duplicated deliveries from 32 senders; every event durable
  before its 2xx. Target: >= 1,000 events/s and p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import webhooks as webhook_bench  # noqa: E402
from lib.models import Recipient, SendState, iso, utcnow  # noqa: E402
from lib.store import Store  # noqa: E402


def _threads(n: int, work) -> float:
    t0 = time.perf_counter()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def claims_per_s(store: Store, claims: int, threads: int) -> tuple[float, float]:
    """(claims+outcomes per second, one-row write transactions per second) with `threads` writers."""
    per = claims // threads
    since = iso(utcnow())

    def claim(i: int) -> None:
        for k in range(per):
            email = f"p{i}-{k}@example.com"
            assert store.claim(
                f"list-{i % 3}",
                Recipient("Ana", "Ruiz", email),
                row_key=str(k),
                campaign_id="c",
                run_id=f"r{i}",
                lookback_since=since,
            ).claimed
            store.record_outcome(f"list-{i % 3}", email, SendState.SENT, gift_request_id=f"g-{i}-{k}")

    scratch = store.db.table("bench_scratch")
    with store.db.write() as conn:
        conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {scratch} (k TEXT PRIMARY KEY, v TEXT)")

    def one_row(i: int) -> None:
        for k in range(per):
            with store.db.write() as conn:
                store.db.execute(conn, f"INSERT INTO {scratch} (k, v) VALUES (:k, :v)", {"k": f"{i}-{k}", "v": "x"})

    try:
        return per * threads / _threads(threads, claim), per * threads / _threads(threads, one_row)
    finally:
        with store.db.write() as conn:
            conn.exec_driver_sql(f"DROP TABLE {scratch}")


def measure(label: str, location: str, schema: str | None, args) -> dict:
    store = Store(location, schema=schema)
    try:
        claim_rate, empty_rate = claims_per_s(store, args.claims, args.threads)
    finally:
        store.close()
    intake = webhook_bench.run(
        events=args.events, senders=32, seed=1, store_location=location if schema else None, schema=schema
    )
    return {"backend": label, "claims": claim_rate, "empty": empty_rate, "intake": intake}


def _drop(url: str, schema: str) -> None:
    import sqlalchemy as sa

    from lib.store.database import normalise_url

    engine = sa.create_engine(normalise_url(url))
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def on_each_store(measure, args: argparse.Namespace, *, prefix: str) -> list:
    """`measure(name, location, schema, args)` on a SQLite store in a temporary folder, then, with
    `args.database_url`, on PostgreSQL in a fresh schema dropped afterwards: one row each."""
    rows = []
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        rows.append(measure("SQLite", folder, None, args))
    if args.database_url:
        schema = "bench_" + uuid.uuid4().hex[:10]
        try:
            rows.append(measure("PostgreSQL", args.database_url, schema, args))
        finally:
            _drop(args.database_url, schema)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--database-url",
        default=os.environ.get("GIFTRUN_BENCH_DATABASE_URL") or os.environ.get("GIFTRUN_TEST_DATABASE_URL"),
    )
    ap.add_argument("--claims", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--events", type=int, default=2000)
    args = ap.parse_args(argv)
    rows = on_each_store(measure, args, prefix="giftrun-bench-store-")
    print(
        f"{'backend':<11} {'claims+outcomes/s':>17} {'ideal':>6} {'ratio':>6} │ "
        f"{'intake events/s':>15} {'p50 ms':>7} {'p99 ms':>7} {'stored ok':>9}"
    )
    ok = True
    for r in rows:
        i = r["intake"]
        ok &= i.ok
        ideal = r["empty"] / 2  # two one-row transactions per gift
        print(
            f"{r['backend']:<11} {r['claims']:>17.0f} {ideal:>6.0f} {r['claims'] / ideal:>6.2f} │ "
            f"{i.events_per_s:>15.0f} {i.p50_ms:>7.1f} {i.p99_ms:>7.1f} {'yes' if i.ok else 'NO':>9}"
        )
    if not args.database_url:
        print("PostgreSQL   skipped: no server (--database-url or GIFTRUN_BENCH_DATABASE_URL)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
