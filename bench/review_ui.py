"""Review & send in a real browser at list sizes up to the limit: how long a user waits.

    python bench/review_ui.py [--rows 300,5000,20000] [--sessions 3]

For each size it starts `streamlit run app.py` in demo mode (its own temp store, SQLite, a free
port on 127.0.0.1) and drives headless Chromium (/usr/bin/chromium) as a user does: upload a
generated CSV of that many people, press Use this file and Continue to Review & send, tick the
first row's Approved box, press Approve all. It prints, per size:

- upload→table: from handing the file to the uploader until Build list shows the list;
- upload→review: until Review & send shows its grid and counts (a usable table);
- tick→counts: a click on the first checkbox until "To send" says 1;
- approve all→counts: the button until "To send" says every row;
- the server's RSS before any session, after one session, and after `--sessions` sessions, each
  closed (the tab closed and the server's disconnected-session TTL, set to 2 s here, past).

Figures from this shared 2-core box are in the module's history (git log bench/review_ui.py)
and in the issue's note.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.browser_support import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    VIEWPORT,
    AppServer,
    grid_geometry,
    metrics,
    new_context,
    poll,
    wait_idle,
)

SESSION_TTL = 2  # seconds a closed tab's session is kept (Streamlit's default is 120)


def write_list(path: Path, rows: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["First Name", "Last Name", "Email", "Company", "Notes"])
        for i in range(rows):
            w.writerow([f"Ada{i}", f"Lovelace{i}", f"ada{i}@bench.example", f"Company {i % 97}", "fit: good"])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def settled_rss(pid: int) -> float:
    """RSS once the closed sessions are gone: past the TTL, then until two readings 1 s apart agree."""
    time.sleep(SESSION_TTL + 1)
    last = rss_mb(pid)
    for _ in range(20):
        time.sleep(1)
        now = rss_mb(pid)
        if abs(now - last) < 2:
            return now
        last = now
    return last


def wait_for_metric(page, label: str, value: int, timeout: float) -> None:
    poll(lambda: metrics(page).get(label) == value, timeout=timeout, interval=0.05, what=f"{label} == {value}")


def one_session(browser, server: AppServer, csv_path: Path, rows: int, timeout: float) -> dict[str, float]:
    ctx = new_context(browser, viewport=VIEWPORT)
    ctx.set_default_timeout(timeout * 1000)
    try:
        page = ctx.new_page()
        page.goto(server.url)
        wait_idle(page, timeout=timeout)
        t0 = time.perf_counter()
        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(csv_path))
        page.get_by_role("button", name="Use this file", exact=True).click()
        page.get_by_text(f"Loaded {rows:,} people").or_(page.get_by_text(f"Loaded {rows} people")).wait_for()
        wait_idle(page, timeout=timeout)
        t_table = time.perf_counter() - t0
        page.get_by_role("button", name="Continue to Review & send →").click()
        page.get_by_role("heading", name="Review & send").wait_for()
        wait_for_metric(page, "Not approved", rows, timeout)
        page.get_by_test_id("stDataFrame").first.wait_for()
        wait_idle(page, timeout=timeout)
        t_review = time.perf_counter() - t0

        grid = page.get_by_test_id("stDataFrame").first
        geo = grid_geometry(page, grid)
        t1 = time.perf_counter()
        page.mouse.click(geo.first_col_center_x, geo.row_center_y(1))
        wait_for_metric(page, "To send", 1, timeout)
        t_tick = time.perf_counter() - t1
        wait_idle(page, timeout=timeout)

        t2 = time.perf_counter()
        page.get_by_role("button", name="Approve all", exact=True).click()
        wait_for_metric(page, "To send", rows, timeout)
        t_all = time.perf_counter() - t2
        wait_idle(page, timeout=timeout)
        return {"table": t_table, "review": t_review, "tick": t_tick, "approve_all": t_all}
    finally:
        ctx.close()


def bench_size(browser, rows: int, sessions: int, tmp: Path, timeout: float) -> dict[str, float]:
    csv_path = tmp / f"people-{rows}.csv"
    write_list(csv_path, rows)
    server = AppServer(
        tmp / f"data-{rows}",
        tmp / f"streamlit-{rows}.log",
        extra_env={"STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL": str(SESSION_TTL)},
    )
    try:
        server.wait_healthy(timeout=60)
        warm = new_context(browser, viewport=VIEWPORT)  # the first page load imports the app's modules
        page = warm.new_page()
        page.goto(server.url)
        wait_idle(page, timeout=60)
        warm.close()
        out = {"rss_start": settled_rss(server.proc.pid)}
        timings = []
        for n in range(1, sessions + 1):
            timings.append(one_session(browser, server, csv_path, rows, timeout))
            if n == 1:
                out["rss_1"] = settled_rss(server.proc.pid)
        out["rss_n"] = settled_rss(server.proc.pid)
        for k in timings[0]:
            out[k] = timings[0][k]  # the first session: a cold list, as a user meets it
        return out
    except BaseException:
        print(server.log_tail(), file=sys.stderr)
        raise
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default="300,5000,20000", help="list sizes, comma-separated")
    ap.add_argument("--sessions", type=int, default=3, help="sessions per size for the memory figure")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds any one step may take")
    args = ap.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.rows.split(",") if s.strip()]

    from playwright.sync_api import sync_playwright

    print(
        f"{'rows':>7} {'upload→table':>13} {'upload→review':>14} {'tick→counts':>12} {'approve all':>12} "
        f"{'RSS start':>10} {'RSS 1':>8} {'RSS ' + str(args.sessions):>8}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="giftrun-bench-ui-") as d, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            for rows in sizes:
                r = bench_size(browser, rows, args.sessions, Path(d), args.timeout)
                print(
                    f"{rows:>7,} {r['table']:>12.2f}s {r['review']:>13.2f}s {r['tick']:>11.2f}s "
                    f"{r['approve_all']:>11.2f}s {r['rss_start']:>7.0f} MB {r['rss_1']:>5.0f} MB {r['rss_n']:>5.0f} MB",
                    flush=True,
                )
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
