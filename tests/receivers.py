"""Both webhook receivers as real servers on 127.0.0.1, for tests and benches that talk to
them over sockets: the standalone one (`python -m lib.cli webhooks`) and the app's own route
(`streamlit run app.py`, live mode with a webhook secret; &Open itself is never called)."""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lib.webhooks import sign
from tests import backends
from tests.browser_support import REPO, AppServer, free_port

SECRET = "whsec_receivers_" + uuid.uuid4().hex
WEBHOOK_PATH = "/webhooks/andopen"
LIVE_ENV = {
    "ANDOPEN_API_KEY": "ao-v1-staging-receivertest0001",
    "ANDOPEN_BASE_URL": "http://127.0.0.1:9",
    "ANDOPEN_WEBHOOK_SECRET": SECRET,
}


@dataclass
class Receiver:
    name: str
    port: int
    health_path: str
    log_path: Path
    proc: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def fd_count(self) -> int:
        """Open file descriptors of the server process (Linux)."""
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))


def _wait_healthy(url: str, proc: subprocess.Popen, log_path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log_path.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} not healthy after {timeout:.0f}s:\n{log_path.read_text(errors='replace')[-3000:]}")


def file_limit(n: int) -> Callable[[], None]:
    """For Popen(preexec_fn=…): the server process may open at most `n` files, like a
    default Linux box (1024), so a flood reaches the limit with a few thousand sockets."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))

    return apply


def start_standalone(tmp: Path, env: dict[str, str] | None = None, *, nofile: int | None = None) -> Receiver:
    port = free_port()
    log_path = tmp / "receiver.log"
    full = {k: v for k, v in os.environ.items() if not k.startswith(("ANDOPEN_", "GIFTRUN_"))}
    full.update(ANDOPEN_WEBHOOK_SECRET=SECRET, PYTHONUNBUFFERED="1")
    full.update(backends.env(tmp / "receiver-data"))
    full.update(env or {})
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lib.cli", "webhooks", "--port", str(port)],
            cwd=REPO,
            env=full,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=file_limit(nofile) if nofile else None,
        )
    receiver = Receiver("standalone", port, "/health", log_path, proc)
    _wait_healthy(receiver.url + "/health", proc, log_path)
    return receiver


def start_app(tmp: Path, env: dict[str, str] | None = None, *, nofile: int | None = None) -> tuple[Receiver, AppServer]:
    server = AppServer(
        tmp / "app-data",
        tmp / "app.log",
        extra_env={**LIVE_ENV, **(env or {})},
        preexec_fn=file_limit(nofile) if nofile else None,
    )
    receiver = Receiver("app", server.port, "/webhooks/health", server.log_path, server.proc)
    try:
        _wait_healthy(receiver.url + "/webhooks/health", server.proc, server.log_path)
    except Exception:
        server.stop()
        raise
    return receiver, server


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def signed_headers(
    body: bytes, *, event_id: str | None = None, event_type: str = "gift_request_created", ts: int | None = None
) -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    return {
        "AndOpen-Webhook-Signature": sign(SECRET, ts, body),
        "AndOpen-Webhook-Dispatch-Timestamp": str(ts),
        "AndOpen-Webhook-Event-Id": event_id or str(uuid.uuid4()),
        "AndOpen-Webhook-Event-Type": event_type,
        "Content-Type": "application/json",
    }


def gift_body(gid: str | None = None, **fields) -> bytes:
    obj = {
        "id": gid or f"g-{uuid.uuid4()}",
        "status": "submitted",
        "campaign_id": "c-1",
        "recipient": {"email": "ana@example.com"},
        "updated_at": "2026-04-16T10:30:00.000Z",
        **fields,
    }
    return json.dumps(obj).encode()


def raw_request(port: int, head: bytes, body: bytes = b"", *, timeout: float = 10.0) -> int:
    """Send bytes as they are (headers requests would refuse to send) and return the status."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head + body)
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0


def raw_signed(body: bytes, *, extra: bytes = b"", event_id: bytes | None = None) -> bytes:
    """A signed POST's head, with header bytes exactly as given."""
    h = signed_headers(body)
    eid = event_id if event_id is not None else h["AndOpen-Webhook-Event-Id"].encode()
    return (
        (
            f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"AndOpen-Webhook-Signature: {h['AndOpen-Webhook-Signature']}\r\n"
            f"AndOpen-Webhook-Dispatch-Timestamp: {h['AndOpen-Webhook-Dispatch-Timestamp']}\r\n"
            f"AndOpen-Webhook-Event-Type: gift_request_created\r\n"
        ).encode()
        + b"AndOpen-Webhook-Event-Id: "
        + eid
        + b"\r\n"
        + extra
        + b"\r\n"
    )
