"""Benchmark a CSV list's read and write-back against pandas on the same file.

    python bench/csv_writeback.py [--rows 20000] [--row-bytes 1000] [--seed 3]

Builds (seeded) a list of `rows` people of about `row-bytes` each (quoted notes with
commas and line breaks on one row in ten, CRLF), then times, best of 3:

- read: `csvio.read_csv` (keeps the file for the write-back) against `pd.read_csv(dtype=str)`;
- a flush: what CsvFileSink does every few seconds of a run — results applied to the
  frame, the file rendered with only result cells changed — against `DataFrame.to_csv` of
  the same frame (a plain rewrite of every cell, the old way), with results on every row
  and with nothing changed.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lib import csvio  # noqa: E402
from lib.plan import apply_results  # noqa: E402
from lib.sources import csv_bytes, prepare, results_in  # noqa: E402
from lib.writeback import RowResult  # noqa: E402


def build(rows: int, row_bytes: int, seed: int) -> bytes:
    rng = random.Random(seed)
    out = ["First Name,Last Name,Email,Approved,Phone,Notes\r\n"]
    for i in range(rows):
        note = "x" * max(0, row_bytes - 60)
        if rng.random() < 0.1:
            note = f'"{note[: len(note) // 2]}, and\r\n{note[len(note) // 2 :]}"'
        out.append(f"First{i},Last{i},person{i}@example.com,yes,+44 20 7946 {i % 10000:04d},{note}\r\n")
    return "".join(out).encode()


def best(fn, n: int = 3) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--row-bytes", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    data = build(args.rows, args.row_bytes, args.seed)
    print(f"list: {args.rows:,} rows, {len(data):,} bytes")

    ours = best(lambda: csvio.read_csv(data))
    theirs = best(lambda: pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False))
    print(f"read        csvio.read_csv {ours:6.3f}s   pd.read_csv {theirs:6.3f}s   ratio {ours / theirs:5.2f}")

    doc = csvio.read_csv(data)
    loaded = prepare(doc.frame, list_key="bench", name="bench.csv", document=doc)
    results = [
        RowResult(
            str(i),
            "",
            {
                "Gift request ID": f"gr_{i:08d}",
                "Redemption URL": f"https://gift.example/r/{i}",
                "Sent at": "2026-11-20 10:00:00 UTC",
                "Eligibility": "eligible",
            },
        )
        for i in range(len(loaded.frame))
    ]
    for label, batch in (("all rows", results), ("nothing new", [])):

        def flush() -> bytes:
            frame = apply_results(loaded.frame, batch)
            return csv_bytes(loaded, frame, results_in(frame))

        frame = apply_results(loaded.frame, batch)
        ours = best(flush)
        theirs = best(lambda: apply_results(loaded.frame, batch).to_csv(index=False).encode())
        print(
            f"flush ({label:11}) render {ours:6.3f}s   to_csv {theirs:6.3f}s   ratio {ours / theirs:5.2f}"
            f"   ({len(csv_bytes(loaded, frame, results_in(frame))):,} bytes)"
        )


if __name__ == "__main__":
    main()
