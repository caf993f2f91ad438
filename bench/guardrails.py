"""Guardrails benchmark: what the daily limit and the do-not-gift list cost a claim, and what the
do-not-gift check costs a review, on SQLite and on PostgreSQL, in one run.

    python bench/guardrails.py [--database-url postgresql://…] [--claims 1200] [--threads 8] [--entries 5000]

- claims: threads each claim a send and record its outcome, for distinct people, as a run does
  per gift. Baseline, measured in the same run on the same store: an empty do-not-gift list and
  no daily limit (best of two, alternated with the next). Then with `--entries` do-not-gift
  entries; then also with a daily limit (the
  count of the last 24 hours under one team-wide lock), with `--journal` lines already sent today.
- review: the do-not-gift check of a 50,000-row list against the entries, against normalising the
  same emails (the least a check must do).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from bench.store import _threads, on_each_store  # noqa: E402
from lib import eligibility as elig  # noqa: E402
from lib.donotgift import Entry, index, new_entry  # noqa: E402
from lib.models import Recipient, SendState  # noqa: E402
from lib.store import Store  # noqa: E402


def claims_per_s(store: Store, tag: str, claims: int, threads: int, limit: int | None) -> float:
    per = claims // threads

    def work(i: int) -> None:
        for k in range(per):
            email = f"{tag}-{i}-{k}@example.com"
            claim = store.claim(
                f"list-{tag}-{i % 3}",
                Recipient("Ana", "Ruiz", email),
                row_key=str(k),
                campaign_id="c",
                run_id=f"r{i}",
                daily_limit=limit,
            )
            assert claim.claimed, claim
            store.record_outcome(f"list-{tag}-{i % 3}", email, SendState.SENT, gift_request_id=f"g-{tag}-{i}-{k}")

    return per * threads / _threads(threads, work)


def entries(n: int) -> list[Entry]:
    half = n // 2
    return [new_entry(f"@company{i}.example", "bench") for i in range(half)] + [
        new_entry(f"person{i}@example.org", "bench") for i in range(n - half)
    ]


def measure(label: str, location: str, schema: str | None, args) -> dict:
    store = Store(location, schema=schema)
    try:
        base = listed = 0.0
        for round_ in range(2):  # alternated, best of two: the journal grows as the bench goes
            with store.db.write() as conn:
                store.db.execute(conn, f"DELETE FROM {store.db.table('do_not_gift')}")
            base = max(base, claims_per_s(store, f"base{round_}", args.claims, args.threads, None))
            store.add_do_not_gift(entries(args.entries), "bench")
            listed = max(listed, claims_per_s(store, f"listed{round_}", args.claims, args.threads, None))
        for start in range(0, args.journal, 500):  # sent today: what the daily count has to count
            for k in range(start, min(start + 500, args.journal)):
                email = f"today{k}@example.com"
                store.claim("today", Recipient("Ana", "Ruiz", email), row_key=str(k), campaign_id="c", run_id="r")
                store.record_outcome("today", email, SendState.SENT)
        limited = claims_per_s(store, "limited", args.claims, args.threads, 10 * (args.journal + 4 * args.claims))
    finally:
        store.close()
    return {"backend": label, "base": base, "listed": listed, "limited": limited}


def review_rows_per_s(n_entries: int, rows: int = 50_000) -> tuple[float, float]:
    emails = pd.Series(
        [f"p{i}@company{i % (n_entries * 2)}.example" if i % 3 else f"person{i}@example.org" for i in range(rows)],
        dtype="str",
    )
    table = index(entries(n_entries))
    t0 = time.perf_counter()
    reasons = elig.do_not_gift(emails, table)
    check = rows / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    elig._norm_email(emails)
    floor = rows / (time.perf_counter() - t0)
    assert (reasons != "").sum() > 0
    return check, floor


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--database-url",
        default=os.environ.get("GIFTRUN_BENCH_DATABASE_URL") or os.environ.get("GIFTRUN_TEST_DATABASE_URL"),
    )
    ap.add_argument("--claims", type=int, default=1200)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--entries", type=int, default=5000)
    ap.add_argument("--journal", type=int, default=2000, help="lines sent in the last 24 hours before the limited run")
    args = ap.parse_args(argv)
    rows = on_each_store(measure, args, prefix="giftrun-bench-guardrails-")
    print(
        f"claims+outcomes per second, {args.threads} threads ({args.entries:,} do-not-gift entries, "
        f"{args.journal:,} gifts already today)"
    )
    print(f"{'backend':<11} {'baseline':>9} {'+ list':>9} {'ratio':>6} {'+ daily limit':>14} {'ratio':>6}")
    for r in rows:
        print(
            f"{r['backend']:<11} {r['base']:>9.0f} {r['listed']:>9.0f} {r['listed'] / r['base']:>6.2f} "
            f"{r['limited']:>14.0f} {r['limited'] / r['base']:>6.2f}"
        )
    if not args.database_url:
        print("PostgreSQL   skipped: no server (--database-url or GIFTRUN_BENCH_DATABASE_URL)")
    check, floor = review_rows_per_s(args.entries)
    print(
        f"review: do-not-gift check of 50,000 rows against {args.entries:,} entries: {check:,.0f} rows/s; "
        f"normalising the emails alone: {floor:,.0f} rows/s (ratio {check / floor:.2f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
