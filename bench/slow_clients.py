"""Signed deliveries while slow clients hold connections open, on both real servers.

    python bench/slow_clients.py [--slow 1000] [--deliveries 50] [--flood 0] [--only standalone|app]

For each server (`python -m lib.cli webhooks` and `streamlit run app.py`, 127.0.0.1, temp
stores, default limits), it times signed deliveries one after another with no other
client (the baseline), then again while `--slow` connections hold a half-sent request
open, and prints p50 / p99 / max and the ratio to the baseline, with the server's open
files and log size. `--flood N` then opens N more slow connections (21000 reproduces the
issue) and times deliveries and a health check during it. Exit 1 if a delivery failed or
took a second or more with slow connections open, or the health check failed.

Measured on a shared 2-core box (50 deliveries; 21,000-connection flood): before the
limits, the flood took deliveries to 5-8 s, the servers to 16,795 / 19,011 open files and
their logs to 4.5 / 18 MB within 20 s; after, max 17 ms / 113 ms, at most ~4,100 files,
logs under 200 bytes. 1,000 slow connections: p50 unchanged against the baseline.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from tests.receivers import WEBHOOK_PATH, gift_body, signed_headers, start_app, start_standalone, stop  # noqa: E402

SLOW_HEAD = b"POST " + WEBHOOK_PATH.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n"
FLOODER = (
    "import socket, sys, time\n"
    "port, n, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])\nsocks = []\n"
    "for _ in range(n):\n"
    "    try:\n"
    "        s = socket.create_connection(('127.0.0.1', port), timeout=5)\n"
    "        s.sendall(b'POST /webhooks/andopen HTTP/1.1\\r\\nHost: x\\r\\n'); socks.append(s)\n"
    "    except OSError:\n"
    "        pass\n"
    "time.sleep(hold)\n"
)


def _time_deliveries(url: str, n: int) -> tuple[list[float], int]:
    lat, failed = [], 0
    with requests.Session() as s:
        s.trust_env = False
        for _ in range(n):
            body = gift_body()
            t = time.perf_counter()
            try:
                ok = s.post(url + WEBHOOK_PATH, data=body, headers=signed_headers(body), timeout=10).status_code == 200
            except requests.RequestException:
                ok = False
            lat.append(time.perf_counter() - t)
            failed += not ok
    return lat, failed


def _open_slow(port: int, n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(SLOW_HEAD)
            socks.append(s)
        except OSError:
            pass
    return socks


def _fmt(lat: list[float]) -> str:
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else lat * 99
    return f"p50 {statistics.median(lat) * 1000:7.1f} ms  p99 {q[98] * 1000:7.1f} ms  max {max(lat) * 1000:7.1f} ms"


def bench_one(kind: str, tmp: Path, slow: int, deliveries: int, flood: int) -> bool:
    if kind == "standalone":
        rec = start_standalone(tmp)
        stop_it = lambda: stop(rec.proc)  # noqa: E731
    else:
        rec, server = start_app(tmp)
        stop_it = server.stop
    ok = True
    try:
        _time_deliveries(rec.url, 3)  # warm up (the app builds its services on the first one)
        base, base_failed = _time_deliveries(rec.url, deliveries)
        print(f"{kind:10s} baseline            {_fmt(base)}  failed {base_failed}")
        held = _open_slow(rec.port, slow)
        time.sleep(0.5)
        under, failed = _time_deliveries(rec.url, deliveries)
        ratio = statistics.median(under) / statistics.median(base)
        print(
            f"{kind:10s} {len(held):5d} slow open    {_fmt(under)}  failed {failed}  "
            f"p50 x{ratio:.2f} of baseline  server files {rec.fd_count()}"
        )
        ok = failed == 0 and max(under) < 1.0
        if flood:  # in other processes: this one's file limit would stop the flood first
            per = 6000
            flooders = [
                subprocess.Popen([sys.executable, "-c", FLOODER, str(rec.port), str(min(per, flood - i)), "20"])
                for i in range(0, flood, per)
            ]
            time.sleep(2)
            during, fl_failed = _time_deliveries(rec.url, deliveries)
            t = time.perf_counter()
            try:
                health = requests.get(rec.url + rec.health_path, timeout=10).status_code
            except requests.RequestException as exc:
                health = type(exc).__name__
            health_s = time.perf_counter() - t
            files = rec.fd_count()
            for f in flooders:
                f.wait()
            print(
                f"{kind:10s} flood +{flood:6d}      {_fmt(during)}  failed {fl_failed}  health {health} in "
                f"{health_s * 1000:.0f} ms  server files {files}"
            )
            ok = ok and fl_failed == 0 and health == 200 and max(during) < 1.0
        for s in held:
            s.close()
        print(f"{kind:10s} log {len(rec.log().encode()):,} bytes")
    finally:
        stop_it()
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--slow", type=int, default=1000)
    ap.add_argument("--deliveries", type=int, default=50)
    ap.add_argument("--flood", type=int, default=0)
    ap.add_argument("--only", choices=["standalone", "app"])
    args = ap.parse_args(argv)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ["standalone", "app"]:
            if args.only in (None, kind):
                path = Path(tmp) / kind
                path.mkdir()
                ok = bench_one(kind, path, args.slow, args.deliveries, args.flood) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
