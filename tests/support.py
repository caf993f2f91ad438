"""Helpers several test modules share: bounded polling, reading what the sandbox recorded,
and running `python -m lib.cli` the way cron or CI would. Fixtures live in conftest.py."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from lib.models import normalize_email
from lib.sandbox import Sandbox
from tests import backends

REPO = Path(__file__).resolve().parent.parent
CLI = (sys.executable, "-m", "lib.cli")
NO_SUCH_CAMPAIGN = "00000000-0000-4000-8000-000000000000"


# -- waiting ----------------------------------------------------------------------------------
def until(predicate, timeout: float = 10.0, step: float = 0.01):
    """Poll with a deadline; returns the last value of predicate()."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def run_threads(worker: Callable[[int], None], n: int, timeout: float = 30.0) -> None:
    """worker(0) … worker(n-1), each on its own thread, all started before any is joined."""
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- what the sandbox saw and made --------------------------------------------------------------
def posts(sb: Sandbox) -> list:
    """Every POST /gift_requests the sandbox received, in order."""
    return [r for r in list(sb.requests) if r.method == "POST" and r.path.split("?")[0] == "/gift_requests"]


def posted_email(req) -> str:
    body = req.json or {}
    return normalize_email((body.get("recipient") or {}).get("email"))


def gift_counts(sb: Sandbox) -> dict[str, int]:
    """Normalised email → how many gifts the sandbox created for it."""
    return {e: len(g) for e, g in sb.gifts_by_email().items()}


def assert_nobody_gifted_twice(sb: Sandbox) -> None:
    twice = {e: n for e, n in gift_counts(sb).items() if n > 1}
    assert not twice, f"gifted more than once: {twice}"


def archived_campaign(sb: Sandbox) -> str:
    return next(c["id"] for c in sb.campaigns if c["state"] == "archived")


def available_campaign(sb: Sandbox) -> str:
    return next(c["id"] for c in sb.campaigns if c["state"] == "available")


# -- lists ----------------------------------------------------------------------------------------
PEOPLE_HEADER = ["First Name", "Last Name", "Email", "Approved"]


def write_people(path: Path, rows, header=PEOPLE_HEADER) -> None:
    """A UTF-8 CSV list as a spreadsheet exports it: the header, then one line per row."""
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


# -- the CLI as a subprocess ----------------------------------------------------------------------
def cli_env(data_dir: Path, sb: Sandbox | None = None, **overrides: str | None) -> dict[str, str]:
    """The environment for `python -m lib.cli`: none of the caller's &Open, Giftrun, Sheets or Google
    settings and no proxy; the store in data_dir; the sandbox's key and URL. An override of None unsets."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANDOPEN_", "GIFTRUN_", "SHEETS_", "GOOGLE_")) and "proxy" not in k.lower()
    }
    env.update(PYTHONPATH=str(REPO), NO_PROXY="127.0.0.1,localhost", PYTHONUNBUFFERED="1", **backends.env(data_dir))
    if sb is not None:
        env.update(ANDOPEN_API_KEY=sb.token, ANDOPEN_BASE_URL=sb.url)
    for k, v in overrides.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def sheets_cli_env(data_dir: Path, sb: Sandbox, fake) -> dict[str, str]:
    """`cli_env` with Google Sheets on the fake Sheets API (tests/fake_sheets.py) and a service account."""
    account = json.dumps({"type": "service_account", "client_email": "x@y.iam"})
    return cli_env(data_dir, sb, SHEETS_EMULATOR_HOST=fake.host, GOOGLE_SERVICE_ACCOUNT_JSON=account)


def run_cli(cwd: Path, env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess:
    """One CLI run to the end, what it prints and its exit code; whatever it answers, it may not
    print a traceback. In this process (`cli_in_process`): a CLI test checks what the command does
    and says, and a second of interpreter start-up per call adds nothing to that. `timeout` is
    pytest-timeout's to enforce in process. What needs a process of its own (signals, kills, two
    runs at once, a server) uses `run_cli_process` or Popen."""
    return cli_in_process(cwd, env, *args)


def run_cli_process(cwd: Path, env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess:
    """`python -m lib.cli ARGS` as its own process, as cron or CI runs it, to the end."""
    proc = subprocess.run([*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout, proc.stdout
    return proc


def cli_in_process(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """`python -m lib.cli ARGS` called in this process (its entry function, `lib.cli.main`), with
    `env` as the whole environment and `cwd` as the folder: what it prints and its exit code, as
    `run_cli` returns them, without a second of interpreter start-up. For messages and exit codes;
    signals, kills and servers need `run_cli`."""
    from lib.cli import main

    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    root.handlers = []  # the CLI sets up its own handler, on the stderr captured here
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        root.handlers, root.level = handlers, level
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    proc = subprocess.CompletedProcess([*CLI, *args], code, out.getvalue(), err.getvalue())
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout, proc.stdout
    return proc


class RecordingSink:
    """A ResultSink that keeps every batch it accepted; can be told to fail."""

    def __init__(self, *, fail_first: int = 0, always_fail: bool = False) -> None:
        self.fail_first, self.always_fail = fail_first, always_fail
        self.calls = 0
        self.batches: list[list] = []
        self.failed: list[list] = []
        self._lock = threading.Lock()

    def write(self, results) -> None:
        with self._lock:
            self.calls += 1
            if self.always_fail or self.calls <= self.fail_first:
                self.failed.append(list(results))
                raise OSError("the sheet is not reachable")
            self.batches.append(list(results))

    def rows(self) -> dict[str, dict[str, str]]:
        """Row key → result columns as they read after every accepted batch."""
        out: dict[str, dict[str, str]] = {}
        for batch in self.batches:
            for r in batch:
                out.setdefault(r.row_key, {}).update(r.values)
        return out


class TcpProxy:
    """A TCP forwarder on 127.0.0.1 to another local port that can be cut: `cut()` closes
    every connection and refuses new ones, as a network that drops does."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._cut = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._cut.is_set():
            try:
                client, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        self._cut.set()
        self._sock.close()
        with self._lock:
            for s in self._conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
