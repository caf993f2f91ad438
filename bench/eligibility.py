"""Benchmark the look-back check against a bare pandas merge on the same frames.

    python bench/eligibility.py [--rows 50000] [--events 500000] [--window 12m]
                                [--store-sends 50000] [--seed 7] [--international 0.2]

Builds (seeded) a list of `rows` people and `events` history records in the shape
`known_gifts` returns (~20% of the list's people appear in the history, each with a few
gifts at random dates over two years; the rest of the history is other people), then
times `check(...)` and `pd.merge(list, known, on="email", how="left")`, best of 3 each.
`--international` gives that share of the list's people an international domain, typed in
Unicode on the list and known in its `xn--` form (the slower path of the canonical email).
It also times `known_gifts` on a temporary Store holding --store-sends journalled sends
(a few seconds to set up: two transactions per send; 0 skips it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lib.eligibility import DT_DTYPE, check, known_gifts, parse_window, skip_rate  # noqa: E402
from lib.models import normalize_email  # noqa: E402

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
STATUSES = np.array(["submitted", "redeemed", "dispatched", "delivered", "cancelled"])


def build(rows: int, events: int, seed: int = 7, international: float = 0.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(list frame with an `email` column, known-gifts frame)."""
    rng = np.random.default_rng(seed)
    people = np.array([f"person{i}@company{i % 997}.com" for i in range(rows)], dtype=object)
    typed = people.copy()
    if international:
        idn = np.flatnonzero(np.random.default_rng(seed + 1).random(rows) < international)
        typed[idn] = [f"person{i}@bücher{i % 997}.example" for i in idn]
        people[idn] = [normalize_email(e) for e in typed[idn]]  # the history holds canonical forms
    # The list as typed: some emails in capitals, some with stray spaces.
    caps = rng.random(rows) < 0.1
    typed[caps] = [e.upper() for e in typed[caps]]
    spaced = rng.random(rows) < 0.05
    typed[spaced] = [f" {e} " for e in typed[spaced]]
    list_frame = pd.DataFrame({"email": pd.array(typed, dtype="str")})

    # ~20% of the list is in the history, with 1-5 gifts each; the rest is other people.
    hit = rng.choice(rows, size=int(rows * 0.2), replace=False)
    per = rng.integers(1, 6, size=len(hit))
    hit_emails = np.repeat(people[hit], per)[:events]
    n_other = events - len(hit_emails)
    others = np.array([f"other{j}@elsewhere{j % 313}.org" for j in range(max(n_other // 2, 1))], dtype=object)
    other_emails = others[rng.integers(0, len(others), size=n_other)]
    emails = np.concatenate([hit_emails, other_emails])
    order = rng.permutation(len(emails))
    emails = emails[order]

    seconds = rng.integers(0, 730 * 86400, size=events)
    gifted_at = pd.Timestamp(NOW) - pd.to_timedelta(seconds, unit="s")
    undated = rng.random(events) < 0.01  # a few gifts with no known date
    gifted = pd.Series(gifted_at).astype(DT_DTYPE)
    gifted[undated] = pd.NaT
    known = pd.DataFrame(
        {
            "email": pd.array(emails, dtype="str"),
            "gifted_at": gifted.to_numpy(),
            "status": pd.array(STATUSES[rng.integers(0, len(STATUSES), size=events)], dtype="str"),
            "gift_request_id": pd.array([f"{i:032x}" for i in rng.integers(0, 2**62, size=events)], dtype="str"),
            "origin_list": pd.array([""] * events, dtype="str"),
            "origin_row": pd.array([pd.NA] * events, dtype="Int64"),
        }
    )
    return list_frame, known


def best_of(fn, repeats: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def time_known_gifts(sends: int) -> float:
    from lib.models import Recipient, SendState
    from lib.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(tmp)
        for i in range(sends):
            r = Recipient("A", "B", f"person{i}@company{i % 997}.com")
            store.begin_attempt("bench", r, row_key=str(i), campaign_id="c", run_id="bench")
            store.record_outcome("bench", r.email, SendState.SENT, gift_request_id=f"g{i}")
        seconds, _ = best_of(lambda: known_gifts(store, list_key="bench"))
        store.close()
    return seconds


def run(
    rows: int = 50_000,
    events: int = 500_000,
    *,
    window: str = "12m",
    seed: int = 7,
    repeats: int = 3,
    store_sends: int = 0,
    international: float = 0.0,
) -> dict:
    list_frame, known = build(rows, events, seed, international)
    w = parse_window(window)
    t_check, result = best_of(lambda: check(list_frame["email"], known, w, now=NOW), repeats)
    t_merge, merged = best_of(lambda: pd.merge(list_frame, known, on="email", how="left"), repeats)
    out = {
        "rows": rows,
        "events": events,
        "window": w.label if w else "off",
        "international": international,
        "check_s": t_check,
        "merge_s": t_merge,
        "ratio": t_check / t_merge if t_merge else float("nan"),
        "skip_rate": skip_rate(result),
        "merged_rows": len(merged),
    }
    if store_sends:
        out["known_gifts_s"] = time_known_gifts(store_sends)
        out["store_sends"] = store_sends
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--events", type=int, default=500_000)
    ap.add_argument("--window", default="12m", help='look-back window, e.g. "30d", "12m", "forever"')
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--store-sends",
        type=int,
        default=50_000,
        help="also time known_gifts on a Store with this many journalled sends (0: skip)",
    )
    ap.add_argument(
        "--international",
        type=float,
        default=0.0,
        help="share of the list's people with an international (Unicode) domain, e.g. 0.2",
    )
    a = ap.parse_args(argv)
    r = run(a.rows, a.events, window=a.window, seed=a.seed, store_sends=a.store_sends, international=a.international)
    print(
        f"list rows: {r['rows']:,}   history records: {r['events']:,}   window: {r['window']}   "
        f"international: {r['international']:.0%}"
    )
    print(f"check():           {r['check_s'] * 1000:8.1f} ms  (best of 3)")
    print(f"bare pd.merge():   {r['merge_s'] * 1000:8.1f} ms  (best of 3, {r['merged_rows']:,} rows out)")
    print(f"ratio:             {r['ratio']:8.2f}x")
    print(f"skip rate:         {r['skip_rate']:8.1%}")
    if "known_gifts_s" in r:
        print(
            f"known_gifts():     {r['known_gifts_s'] * 1000:8.1f} ms  "
            f"(Store with {r['store_sends']:,} journalled sends, best of 3)"
        )
    return r


if __name__ == "__main__":
    main()
