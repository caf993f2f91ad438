"""The SMTP transport invitations travel by: one connection to the team's own mailbox
(`GIFTRUN_SMTP_URL`), over smtplib, with every failure classified for the run.

Why the classification matters: a message the server may have accepted must never be sent
again by itself. So the transaction is spoken step by step (MAIL, RCPT, DATA, the message,
the final reply) and the step a failure happened at decides what it means:

- before the message's last line left us, or a 4xx reply at any step: nothing was accepted,
  `MailTemporary` (retry later, safe);
- a 5xx to RCPT or to the message: this recipient is refused for good, `MailRecipientRefused`;
- the connection lost, or no reply in time, after the message's last line: the server may
  have taken it, `MailUnknown` (never re-sent by itself);
- authentication refused, TLS impossible or a certificate that does not verify, a sender the
  server will not send for: `MailStop`, the run stops (no password is ever sent without TLS).

Certificates are always verified: against the system's trust store (which honours
`SSL_CERT_FILE`), or `GIFTRUN_SMTP_CA_FILE` for a private CA. No message names the password.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

from .errors import EXIT_STOPPED, GiftrunError
from .smtp_url import SmtpUrl

TIMEOUT_S = 30.0  # every socket operation; a server slower than this counts as not answering
CRLF = b"\r\n"
_EOL = re.compile(rb"\r\n|\n|\r(?!\n)")


class MailError(GiftrunError):
    """Root of the mail errors. `code` is the server's reply code when there was one."""

    exit_code = EXIT_STOPPED

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class MailStop(MailError):
    """Nothing more can be sent in this run: authentication refused, TLS impossible, the
    server unreachable at the start, or the sender refused."""


class MailUnreachable(MailStop):
    """The server cannot be reached, or turned the session away: at the start the run stops;
    between two messages it is temporary (the next message tries again)."""


class MailTemporary(MailError):
    """The server did not take the message and said (or showed) it might later: safe to retry."""


class MailRecipientRefused(MailError):
    """A permanent refusal of this one recipient or message (5xx): the row says why, the run goes on."""


class MailUnknown(MailError):
    """The message's last line left us and no answer came: it may have been delivered."""


def _reply(code: int, resp: bytes | str) -> str:
    text = resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)
    return f"{code} {' '.join(text.split())}"[:300]


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """Verification always on: the system's store (SSL_CERT_FILE honoured) or the given CA file."""
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise MailStop(f"GIFTRUN_SMTP_CA_FILE {ca_file} cannot be read as certificates ({exc}).") from None


class SmtpMailer:
    """One SMTP session, opened by `connect()` (EHLO, STARTTLS, AUTH) and reused for every
    message; a lost session is opened again before the next message."""

    def __init__(self, url: SmtpUrl, *, ca_file: Path | None = None, timeout: float = TIMEOUT_S) -> None:
        self.url = url
        self.ca_file = ca_file
        self.timeout = timeout
        self._smtp: smtplib.SMTP | None = None

    # -- session -------------------------------------------------------------------------
    def connect(self) -> None:
        """Open and authenticate, or raise MailStop naming the server (never the password)."""
        self.close()
        url, where = self.url, self.url.describe()
        context = tls_context(self.ca_file)
        try:
            if url.implicit_tls:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(url.host, url.port, timeout=self.timeout, context=context)
            else:
                smtp = smtplib.SMTP(url.host, url.port, timeout=self.timeout)
            self._smtp = smtp
            smtp.ehlo()
            if not url.implicit_tls:
                self._starttls(smtp, context)
            if url.has_credentials:
                self._login(smtp)
        except ssl.SSLCertVerificationError as exc:
            self.close()
            raise MailStop(
                f"The mail server {where} has a certificate that cannot be verified ({exc.verify_message}). "
                "For a private certificate authority set GIFTRUN_SMTP_CA_FILE to its certificate file."
            ) from None
        except ssl.SSLError as exc:
            self.close()
            raise MailStop(
                f"TLS with the mail server {where} failed ({exc.reason or exc}); nothing was sent."
            ) from None
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise MailUnreachable(
                f"The mail server {where} refused the session: {_reply(exc.smtp_code, exc.smtp_error)}."
            ) from None
        except MailStop:
            self.close()
            raise
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise MailUnreachable(
                f"Cannot reach the mail server {where}: {reason}. Check GIFTRUN_SMTP_URL's host and port."
            ) from None

    def _starttls(self, smtp: smtplib.SMTP, context: ssl.SSLContext) -> None:
        if smtp.has_extn("starttls"):
            code, resp = smtp.starttls(context=context)
            if code != 220:
                raise MailStop(f"The mail server {self.url.describe()} refused STARTTLS: {_reply(code, resp)}.")
            smtp.ehlo()
        elif self.url.has_credentials:
            raise MailStop(
                f"The mail server {self.url.describe()} offers no STARTTLS, so the password would travel "
                "unencrypted: nothing was sent. Use the server's TLS port (smtps://…:465, or smtp://…:587 "
                "with STARTTLS), or a relay that needs no password."
            )

    def _login(self, smtp: smtplib.SMTP) -> None:
        assert self.url.user is not None and self.url.password is not None
        try:
            if not smtp.has_extn("auth"):
                raise smtplib.SMTPNotSupportedError("no AUTH")
            # One mechanism, tried once: smtplib's login() would try the next after a refusal.
            offered = smtp.esmtp_features["auth"].upper().split()
            mechanism = next((m for m in ("PLAIN", "LOGIN") if m in offered), None)
            if mechanism is None:
                smtp.login(self.url.user, self.url.password.reveal())
            else:
                smtp.user, smtp.password = self.url.user, self.url.password.reveal()
                smtp.auth(mechanism, getattr(smtp, f"auth_{mechanism.lower()}"))
        except smtplib.SMTPAuthenticationError as exc:
            raise MailStop(
                f"The mail server {self.url.describe()} refused the user name or password "
                f"({_reply(exc.smtp_code, exc.smtp_error)}). With Google use an app password; with "
                "Microsoft 365 an admin must allow SMTP AUTH for this mailbox (see docs/invitations.md)."
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise MailStop(
                f"The mail server {self.url.describe()} does not accept a password (no AUTH offered): "
                "remove the user and password for a relay, or check the port."
            ) from None
        except smtplib.SMTPException as exc:  # no AUTH method both sides speak
            raise MailStop(f"The mail server {self.url.describe()} cannot check the password: {exc}.") from None

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()

    # -- one message -----------------------------------------------------------------------
    def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        """Send one message to one recipient, or raise the MailError that says what it means."""
        if self._smtp is None:
            self._reconnect()
        smtp = self._smtp
        assert smtp is not None
        payload = _dot_stuffed(message.as_bytes(policy=SMTP_POLICY))
        options = ["SMTPUTF8"] if not (sender + recipient).isascii() and smtp.has_extn("smtputf8") else []
        last_line_sent = False
        try:
            self._step(smtp.mail(sender, options), "MAIL FROM", sender_step=True)
            self._step(smtp.rcpt(recipient), "RCPT TO")
            self._step(smtp.docmd("DATA"), "DATA", expect=354)
            smtp.send(payload)
            last_line_sent = True
            self._step(smtp.getreply(), "the message", expect=250)
        except MailError as exc:
            self._reset(after_data=last_line_sent, fatal=isinstance(exc, MailStop))
            raise
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            if last_line_sent:
                raise MailUnknown(
                    f"Unknown: the connection to {self.url.host} was lost after the message was handed over "
                    f"({type(exc).__name__}); it may have been delivered."
                ) from None
            raise MailTemporary(
                f"Not sent: the connection to {self.url.host} was lost before the message was handed over "
                f"({type(exc).__name__})."
            ) from None

    def _reconnect(self) -> None:
        try:
            self.connect()
        except MailUnreachable as exc:  # mid-run: a blip is temporary; auth or TLS refused stays a stop
            raise MailTemporary(f"Not sent: {exc.message}") from None

    def _step(self, reply: tuple[int, bytes], what: str, *, expect: int = 250, sender_step: bool = False) -> None:
        code, resp = reply
        if code == expect or (expect == 250 and code == 251):
            return
        said = _reply(code, resp)
        if 400 <= code < 500 or code == -1:
            raise MailTemporary(f"Not sent: the server answered {said} to {what}.", code=code)
        if sender_step:
            raise MailStop(f"The mail server {self.url.describe()} will not send from this address: {said}.", code=code)
        raise MailRecipientRefused(f"Refused by the mail server: {said}.", code=code)

    def _reset(self, *, after_data: bool, fatal: bool) -> None:
        """After a refusal the session can go on (RSET); after the message or a stop, start again."""
        if after_data or fatal or self._smtp is None:
            self.close()
            return
        try:
            self._smtp.rset()
        except (OSError, smtplib.SMTPException):
            self.close()


def _dot_stuffed(data: bytes) -> bytes:
    """The DATA body: CRLF line ends, a leading dot doubled, ended by CRLF . CRLF (RFC 5321)."""
    data = _EOL.sub(CRLF, data)
    data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(CRLF):
        data += CRLF
    return data + b"." + CRLF
