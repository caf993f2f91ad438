"""A real SMTP server on 127.0.0.1 that keeps every message it accepts: the demo's outbox
(with no `GIFTRUN_SMTP_URL` in demo mode, invitations go here and nothing leaves the machine)
and the base the tests' SMTP server builds on.

aiosmtpd's threaded Controller, bound to a port the OS picks (port 0), so two catchers, two
demos or two test workers never collide.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from .models import iso, utcnow

MAX_KEPT = 5_000  # the demo keeps the latest messages, never an unbounded heap


@dataclass(frozen=True)
class CaughtMessage:
    """One accepted message: the envelope, the raw bytes as received, when."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    received_at: str = field(default_factory=lambda: iso(utcnow()))

    def parsed(self) -> EmailMessage:
        msg = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg

    @property
    def subject(self) -> str:
        return str(self.parsed()["Subject"] or "")

    def part(self, subtype: str) -> str:
        """The text/plain or text/html part, decoded."""
        for p in self.parsed().walk():
            if p.get_content_type() == f"text/{subtype}":
                return str(p.get_content())
        return ""


class CatchingHandler:
    """Keeps what it accepts, in order (thread-safe: the server runs on its own loop)."""

    def __init__(self) -> None:
        self.messages: list[CaughtMessage] = []
        self._lock = threading.Lock()

    def keep(self, envelope: Any) -> None:
        content = envelope.original_content or envelope.content
        data = content if isinstance(content, bytes) else str(content).encode()
        with self._lock:
            self.messages.append(CaughtMessage(envelope.mail_from, tuple(envelope.rcpt_tos), data))
            del self.messages[:-MAX_KEPT]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        self.keep(envelope)
        return "250 2.0.0 OK: queued"

    def snapshot(self) -> list[CaughtMessage]:
        with self._lock:
            return list(self.messages)


class LoopbackController(Controller):
    """aiosmtpd's Controller on a socket bound before it starts (127.0.0.1, port 0)."""

    def __init__(self, handler: Any, **kwargs: Any) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        super().__init__(handler, hostname="127.0.0.1", port=self._sock.getsockname()[1], **kwargs)

    def _create_server(self):
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


class MailCatcher:
    """`MailCatcher().start()`; `.url` is what GIFTRUN_SMTP_URL would say; `.messages()` the outbox."""

    def __init__(self, handler: CatchingHandler | None = None, **smtp_kwargs: Any) -> None:
        self.handler = handler or CatchingHandler()
        self.controller = LoopbackController(self.handler, **smtp_kwargs)

    def start(self) -> MailCatcher:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def port(self) -> int:
        return int(self.controller.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def messages(self) -> list[CaughtMessage]:
        return self.handler.snapshot()

    def __enter__(self) -> MailCatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
