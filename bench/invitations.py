"""Invitations benchmark: the pace and the never-twice guarantee, through `python -m lib.cli invite`
as cron would run it, against a real SMTP server on 127.0.0.1 (aiosmtpd, in this process).

    python bench/invitations.py [--rows 1000] [--rate 3000] [--soak-rows 600] [--kills 20] [--seed 7]
                                [--database-url postgresql://…]

- pace: `--rows` invitations at GIFTRUN_EMAIL_RATE=`--rate` a minute. The ideal is rows ÷ rate;
  the figure is the run's own time (what the CLI reports) over the ideal, target ≤ 1.05.
- kill-soak: one invite run over `--soak-rows` rows, killed with SIGKILL `--kills` times at random
  moments (each restart goes on where the journal says), then a clean run to the end. Then every
  gift must have exactly one email received, or an "unknown" journal line for a person to check
  (received at most once), and no address may have received two.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lib.mail_catcher import MailCatcher  # noqa: E402
from lib.store import Store  # noqa: E402
from lib.store.invitations import InviteState  # noqa: E402

TEMPLATE = (
    "Subject: A gift for you, {first_name}\n\nHi {first_name},\n\nChoose your gift: {redemption_url}\n\n{sender_name}\n"
)


def write_list(path: Path, rows: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["First Name", "Last Name", "Email", "Approved", "Gift request ID", "Redemption URL"])
        for i in range(rows):
            w.writerow(
                [f"P{i}", "Bench", f"p{i}@example.com", "yes", f"gift-{i:05d}", f"https://andopen.example/r/{i}"]
            )


def environment(folder: Path, catcher: MailCatcher, rate: float, database_url: str | None) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ANDOPEN_", "GIFTRUN_")) and "proxy" not in k.lower()
    }
    env.update(
        PYTHONPATH=str(ROOT),
        GIFTRUN_SECRETS_FILE="",
        GIFTRUN_DATA_DIR=str(folder / "data"),
        GIFTRUN_SMTP_URL=catcher.url,
        GIFTRUN_INVITE_FROM="Ana Rep <rep@team.example>",
        GIFTRUN_EMAIL_RATE=f"{rate:g}",
    )
    if database_url:
        env.update(
            GIFTRUN_DATABASE_URL=database_url, GIFTRUN_DATABASE_SCHEMA=f"bench_invite_{os.getpid()}_{folder.name[-6:]}"
        )
    return env


def invite(folder: Path, env: dict[str, str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "lib.cli", "invite", "list.csv", "--template", "invite.txt"]
    return subprocess.Popen(cmd, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def prepare(rows: int, catcher: MailCatcher, rate: float, database_url: str | None) -> tuple[Path, dict[str, str]]:
    folder = Path(tempfile.mkdtemp(prefix="giftrun-bench-invite-"))
    write_list(folder / "list.csv", rows)
    (folder / "invite.txt").write_text(TEMPLATE, encoding="utf-8")
    return folder, environment(folder, catcher, rate, database_url)


def pace(rows: int, rate: float, database_url: str | None) -> None:
    with MailCatcher() as catcher:
        folder, env = prepare(rows, catcher, rate, database_url)
        started = time.monotonic()
        out, err = invite(folder, env).communicate(timeout=rows / rate * 60 * 3 + 120)
        wall = time.monotonic() - started
        got = len(catcher.messages())
    m = re.search(r"Emailed (\d+) .* · ([\d.]+)s", out)
    if not m:
        raise SystemExit(f"the run did not finish: {out[-500:]} {err[-500:]}")
    ideal = rows / rate * 60
    elapsed = float(m.group(2))
    print(f"pace: {rows:,} invitations at {rate:g}/min: ideal {ideal:.2f}s, the run took {elapsed:.2f}s "
          f"(ratio {elapsed / ideal:.3f}, target ≤ 1.05); {wall:.1f}s with start-up and planning; "
          f"{got:,} emails received")  # fmt: skip


def soak(rows: int, rate: float, kills: int, seed: int, database_url: str | None) -> None:
    rng = random.Random(seed)
    with MailCatcher() as catcher:
        folder, env = prepare(rows, catcher, rate, database_url)
        killed = 0
        started = time.monotonic()
        while killed < kills:
            proc = invite(folder, env)
            before = len(catcher.messages())
            deadline = time.monotonic() + 30
            while len(catcher.messages()) == before and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)  # the run is sending: kill it somewhere in its stride
            time.sleep(rng.uniform(0.0, 0.4))
            if proc.poll() is not None:
                break  # it finished before the kill
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            killed += 1
        final = invite(folder, env)
        out, err = final.communicate(timeout=rows / rate * 60 * 3 + 120)
        messages = catcher.messages()
        elapsed = time.monotonic() - started
    by_gift = Counter(_gift_of(m.data) for m in messages)
    by_address = Counter(m.rcpt_tos[0] for m in messages)
    store = Store(database_url, schema=env["GIFTRUN_DATABASE_SCHEMA"]) if database_url else Store(folder / "data")
    journal = store.invitations()
    unknown = {g for (g, _k), r in journal.items() if r.state == InviteState.UNKNOWN}
    sent = {g for (g, _k), r in journal.items() if r.state == InviteState.SENT}
    store.close()
    gifts = {f"gift-{i:05d}" for i in range(rows)}
    twice = {a: n for a, n in by_address.items() if n > 1}
    missing = {g for g in gifts if by_gift[g] != 1 and g not in unknown}
    unknown_received = sum(1 for g in unknown if by_gift[g] == 1)
    print(
        f"kill-soak: {rows:,} rows, {killed} SIGKILLs then a clean run (exit {final.returncode}) in {elapsed:.1f}s: "
        f"{len(messages):,} emails received, {len(sent):,} journalled sent, {len(unknown)} unknown for a person "
        f"({unknown_received} of them did arrive), addresses emailed twice: {len(twice)}, gifts with neither one "
        f"email nor an unknown: {len(missing)}"
    )
    if twice or missing or final.returncode != 0:
        raise SystemExit(f"FAILED: twice={dict(list(twice.items())[:5])} missing={sorted(missing)[:5]} {err[-300:]}")


def _gift_of(data: bytes) -> str:
    m = re.search(rb"/r/(\d+)", data)
    return f"gift-{int(m.group(1)):05d}" if m else "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=3000.0, help="GIFTRUN_EMAIL_RATE, emails a minute")
    ap.add_argument("--soak-rows", type=int, default=600)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--database-url", default=None, help="PostgreSQL instead of the SQLite file")
    args = ap.parse_args()
    pace(args.rows, args.rate, args.database_url)
    soak(args.soak_rows, args.rate, args.kills, args.seed, args.database_url)


if __name__ == "__main__":
    main()
