"""The sandbox's HTTP plumbing: a threaded loopback server whose handler reads bodies within limits,
asks the Sandbox to dispatch, records every exchange and plays the latency and hang faults.

Apart from lib/sandbox.py so the server's state and routes are not buried in http.server detail;
it needs the Sandbox only at runtime (the server's `sandbox` attribute), so nothing imports back.
"""

from __future__ import annotations

import socketserver
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from lib.sandbox_api import _error, _errors, _request_id, _Response

if TYPE_CHECKING:
    from lib.sandbox import Sandbox

MAX_BODY = 1024 * 1024  # larger bodies get 413
MAX_DRAIN = 16 * MAX_BODY  # up to this, an oversized body is read and dropped so the 413 arrives


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for hanging answers
    request_queue_size = 128  # 8+ clients connecting at once must not overflow the backlog
    sandbox: Sandbox

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup; loopback needs none.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # the client went away or stop() closed the socket
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so benchmarks measure the client, not TCP setup
    server_version = "AndOpenSandbox"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 120  # idle keep-alive connections give their thread back eventually
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.sandbox._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.sandbox._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (unparsable request, unknown method) as JSON too."""
        self.close_connection = True
        if code == 501:
            resp = _errors(
                405, _error("invalid_request_error", "method_not_allowed", f"{self.command} is not allowed.")
            )
        else:
            resp = _errors(code, _error("invalid_request_error", "bad_request", message or "Bad request"))
        self._answer(resp, b"")

    def _handle(self) -> None:
        sb = self.server.sandbox
        body = b""
        length = (self.headers.get("Content-Length") or "0").strip()
        if (self.headers.get("Transfer-Encoding") or "identity").lower() != "identity":
            self.close_connection = True
            resp = _errors(
                411,
                _error(
                    "invalid_request_error",
                    "length_required",
                    "Send a Content-Length; chunked bodies are not accepted.",
                ),
            )
        elif not length.isdecimal():
            self.close_connection = True
            resp = _errors(400, _error("invalid_request_error", "invalid_content_length", "Bad Content-Length."))
        elif int(length) > MAX_BODY:
            self._drain(int(length))
            resp = _errors(
                413,
                _error(
                    "invalid_request_error", "request_too_large", f"Request bodies are limited to {MAX_BODY} bytes."
                ),
            )
        else:
            body = self.rfile.read(int(length)) if int(length) else b""
            try:
                resp = sb._dispatch(self.command, self.path, self.headers, body)
            except Exception:  # a sandbox bug must still answer with an errors body
                resp = _errors(500, _error("api_error", "internal_error", "Sandbox error."))
        self._answer(resp, body)

    def _drain(self, length: int) -> None:
        """Read and drop an oversized body, so the client gets the 413 instead of a reset."""
        if length > MAX_DRAIN:
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                break
            length -= len(chunk)

    def _answer(self, resp: _Response, body: bytes) -> None:
        sb = self.server.sandbox
        rid = _request_id()
        headers = getattr(self, "headers", None)
        sb._record(
            getattr(self, "command", None) or "",
            getattr(self, "path", ""),
            dict(headers.items()) if headers is not None else {},
            body,
            None if resp.hang is not None else resp.status,
            rid,
        )
        if resp.hang is not None:
            sb._stopping.wait(resp.hang)
            self.close_connection = True  # the socket closes with no answer at all
            return
        if sb.faults.latency > 0 and not resp.at_once:
            sb._stopping.wait(sb.faults.latency)
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        self.send_header("Request-Id", rid)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)
