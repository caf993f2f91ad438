"""Slow and piled-up clients against both real servers (`python -m lib.cli webhooks` and
`streamlit run app.py`), over raw sockets: a request that has not arrived whole in time is
closed, connections stay bounded below the file limit, the log stays small, and signed
deliveries and health checks keep being answered. No timing threshold is asserted beyond
"eventually, within a generous bound"; the latency figures are in bench/slow_clients.py."""

from __future__ import annotations

import select
import socket
import threading
import time

import pytest
import requests

from tests.receivers import WEBHOOK_PATH, gift_body, signed_headers, start_app, start_standalone, stop

REQUEST_TIMEOUT = 1.5  # seconds, for these servers (GIFTRUN_REQUEST_TIMEOUT); the default is 30
TRICKLE_EVERY = 0.25  # a trickling client sends a byte this often: well inside the timeout, never enough
HEAD = b"POST " + WEBHOOK_PATH.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
# (kind, bytes sent at once, trickle the rest one byte at a time?)
SLOW_KINDS = [
    ("nothing-sent", b"", False),
    ("request-line-never-ends", b"POST /webhooks/and", False),
    ("headers-never-end", HEAD + b"Content-Length: 100\r\n", False),
    ("headers-trickle", HEAD, True),
    ("body-never-ends", HEAD + b'Content-Length: 100\r\n\r\n{"id": ', False),
    ("body-trickles", HEAD + b"Content-Length: 5000\r\n\r\n", True),
    ("chunked-body-never-ends", HEAD + b'Transfer-Encoding: chunked\r\n\r\n7\r\n{"id": \r\n', False),
    ("second-request-never-ends", b"GET {health} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", False),
]
THEN = {"second-request-never-ends": HEAD}  # sent once the first answer has come back (keep-alive)


def _start(kind: str, tmp, **kw):
    if kind == "standalone":
        rec = start_standalone(tmp, **kw)
        return rec, lambda: stop(rec.proc)
    rec, server = start_app(tmp, **kw)
    return rec, server.stop


@pytest.fixture(scope="module", params=["standalone", "app"])
def quick(request, tmp_path_factory):
    """A server that gives a request REQUEST_TIMEOUT seconds to arrive."""
    rec, stop_it = _start(
        request.param,
        tmp_path_factory.mktemp(f"quick-{request.param}"),
        env={"GIFTRUN_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT)},
    )
    yield rec
    stop_it()


@pytest.fixture(scope="module", params=["standalone", "app"])
def cramped(request, tmp_path_factory):
    """A server with the default 30 s, allowed 1024 open files as on a default Linux box."""
    rec, stop_it = _start(request.param, tmp_path_factory.mktemp(f"cramped-{request.param}"), nofile=1024)
    yield rec
    stop_it()


@pytest.fixture
def http():
    with requests.Session() as s:
        s.trust_env = False
        yield s


class Slow:
    """One slow client: opens, sends its bytes, optionally trickles one more byte every TRICKLE_EVERY s."""

    def __init__(self, port: int, first: bytes, trickle: bool, then: bytes = b"") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.received = b""
        self.closed = False
        if first:
            self.sock.sendall(first)
        if then:  # a whole first request: wait for its whole answer, then start the slow one
            while b"\r\n\r\n" not in self.received or not self.received.rstrip().endswith(b"}"):
                self.received += self.sock.recv(65536)
            self.sock.sendall(then)
        self._stop = threading.Event()
        if trickle:
            threading.Thread(target=self._trickle, daemon=True).start()

    def _trickle(self) -> None:
        for _ in range(200):  # bounded: 50 s at most
            if self._stop.wait(TRICKLE_EVERY):
                return
            try:
                self.sock.send(b"a")
            except OSError:
                return

    def poll(self) -> bool:
        """True once the server has closed the connection (EOF or reset)."""
        if self.closed:
            return True
        try:
            while select.select([self.sock], [], [], 0)[0]:
                chunk = self.sock.recv(65536)
                if not chunk:
                    self.closed = True
                    break
                self.received += chunk
        except OSError:
            self.closed = True
        return self.closed

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


def _wait_all_closed(slow: list[Slow], bound: float) -> list[Slow]:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        open_ = [s for s in slow if not s.poll()]
        if not open_:
            return []
        time.sleep(0.05)
    return [s for s in slow if not s.poll()]


def _deliver(http, rec, n: int) -> list[int]:
    codes = []
    for _ in range(n):
        body = gift_body()
        codes.append(http.post(rec.url + WEBHOOK_PATH, data=body, headers=signed_headers(body), timeout=20).status_code)
    return codes


@pytest.fixture(scope="module")
def slow_clients(quick):
    """Ten clients of every slow kind, all opened at once, so the module waits out one timeout,
    not one per kind; each kind's test then judges its own ten."""
    clients = {
        kind: [
            Slow(quick.port, first.replace(b"{health}", quick.health_path.encode()), trickle, THEN.get(kind, b""))
            for _ in range(10)
        ]
        for kind, first, trickle in SLOW_KINDS
    }
    yield clients
    for slow in clients.values():
        for s in slow:
            s.close()


@pytest.mark.slow
@pytest.mark.parametrize("kind", [k[0] for k in SLOW_KINDS])
def test_a_request_that_has_not_arrived_whole_in_time_is_closed(quick, slow_clients, http, kind):
    slow = slow_clients[kind]
    assert _deliver(http, quick, 3) == [200] * 3  # answered meanwhile
    still_open = _wait_all_closed(slow, bound=10 * REQUEST_TIMEOUT + 10)
    assert not still_open, f"{quick.name}: {len(still_open)}/10 '{kind}' connections still open"
    if kind != "second-request-never-ends":  # (that one got its first answer, a 200, before)
        assert all(b" 408 " in s.received.split(b"\r\n", 1)[0] for s in slow), (
            f"{quick.name}: expected a 408 first, got {[s.received[:40] for s in slow][:3]}"
        )


@pytest.mark.slow
def test_a_request_that_arrives_whole_is_answered_however_long_the_app_takes(quick, http):
    """The deadline is for the client's bytes, not for our answer: a request that arrived
    whole is never cut off, and a keep-alive connection serves several requests."""
    with requests.Session() as s:
        s.trust_env = False
        for _ in range(3):
            assert s.get(quick.url + quick.health_path, timeout=20).status_code == 200
            time.sleep(REQUEST_TIMEOUT / 2)


@pytest.mark.slow
def test_a_flood_of_slow_connections_stays_bounded_and_deliveries_get_through(cramped, http):
    """1,500 slow connections at a server allowed 1,024 files: before, it ran out of files,
    refused everyone and logged an error in a loop. Now it sheds the oldest waiting ones."""
    slow: list[socket.socket] = []
    try:
        for _ in range(1500):
            s = socket.create_connection(("127.0.0.1", cramped.port), timeout=10)
            s.sendall(HEAD + b"Content-Length: 100\r\n")
            slow.append(s)
        assert cramped.fd_count() < 1024 - 100, f"{cramped.name} holds {cramped.fd_count()} files"
        assert _deliver(http, cramped, 20) == [200] * 20
        assert http.get(cramped.url + cramped.health_path, timeout=20).status_code == 200
        for _ in range(300):  # more slow clients keep coming while deliveries go on
            slow.append(socket.create_connection(("127.0.0.1", cramped.port), timeout=10))
        assert _deliver(http, cramped, 5) == [200] * 5
        assert cramped.fd_count() < 1024 - 100
    finally:
        for s in slow:
            s.close()
    log = cramped.log()
    assert "out of system resource" not in log and "Too many open files" not in log, log[-2000:]
    assert len(log) < 20_000, f"{cramped.name} logged {len(log)} characters:\n{log[-2000:]}"
