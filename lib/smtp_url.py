"""The mailbox invitations are sent from, as the operator writes it: `GIFTRUN_SMTP_URL`
(`smtp://USER:PASSWORD@HOST:587`, `smtps://USER:PASSWORD@HOST:465`, `smtp://HOST:PORT`) and
`GIFTRUN_INVITE_FROM` (`Name <address>`).

Parsed once, into typed values, with one clear refusal per mistake. The password is a
`Secret` from the first moment, and no message here ever quotes the URL: it may hold it.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import parseaddr
from urllib.parse import unquote, urlsplit

from .errors import GiftrunError
from .settings import Secret

DEFAULT_PORTS = {"smtp": 587, "smtps": 465}
RATE_RANGE = (1, 3000)  # GIFTRUN_EMAIL_RATE: emails per minute
DEFAULT_RATE = 20


class MailSettingsError(GiftrunError):
    """GIFTRUN_SMTP_URL or GIFTRUN_INVITE_FROM is unusable; the message says which and why
    (never the password)."""


@dataclass(frozen=True)
class SmtpUrl:
    scheme: str  # "smtp" (STARTTLS when offered, required with credentials) or "smtps" (TLS from the start)
    host: str
    port: int
    user: str | None = None
    password: Secret | None = None

    @property
    def implicit_tls(self) -> bool:
        return self.scheme == "smtps"

    @property
    def has_credentials(self) -> bool:
        return self.user is not None

    def describe(self) -> str:
        """`smtp.example.com:587` (as user rep@example.com): what messages name, never the password."""
        who = f" as {self.user}" if self.user else ""
        return f"{self.host}:{self.port}{who}"


def parse_smtp_url(text: str) -> SmtpUrl:
    """`GIFTRUN_SMTP_URL` → SmtpUrl. A user name holding `@` is written percent-encoded
    (`rep%40example.com`), as URLs require; a raw second `@` is refused with that advice."""
    raw = text.strip()
    name = "GIFTRUN_SMTP_URL"
    scheme, sep, rest = raw.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in DEFAULT_PORTS:
        raise MailSettingsError(
            f"{name} must start with smtp:// (port 587, STARTTLS) or smtps:// (port 465, TLS), such as "
            "smtp://USER:PASSWORD@smtp.example.com:587. The value is not shown: it may hold a password."
        )
    authority = rest.split("/", 1)[0].split("?", 1)[0]
    if authority.count("@") > 1:
        raise MailSettingsError(
            f"{name} has more than one '@' before the host: write an @ inside the user name or password "
            "as %40 (smtp://rep%40example.com:PASSWORD@smtp.example.com:587)."
        )
    try:
        parts = urlsplit(f"{scheme}://{authority}")
        port = parts.port
    except ValueError:
        raise MailSettingsError(
            f"{name} has a port that is not a number from 1 to 65535 (smtp://HOST:587). "
            "The value is not shown: it may hold a password."
        ) from None
    host = parts.hostname or ""
    if not host:
        raise MailSettingsError(f"{name} names no server: smtp://USER:PASSWORD@smtp.example.com:587.")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if user is not None and not password:
        raise MailSettingsError(
            f"{name} gives the user {user} but no password: smtp://USER:PASSWORD@{host}:587 "
            "(or no user at all for a relay that needs none)."
        )
    if password is not None and not user:
        raise MailSettingsError(f"{name} gives a password but no user name: smtp://USER:PASSWORD@{host}:587.")
    return SmtpUrl(scheme, host, port or DEFAULT_PORTS[scheme], user, Secret(password) if password else None)


@dataclass(frozen=True)
class Sender:
    """`GIFTRUN_INVITE_FROM`: the name recipients see (`{sender_name}`) and the address."""

    name: str
    address: str

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]

    def header(self) -> Address:
        local, _, domain = self.address.rpartition("@")
        return Address(display_name=self.name, username=local, domain=domain)


def parse_sender(text: str) -> Sender:
    name, address = parseaddr(text.strip())
    local, at, domain = address.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in address):
        raise MailSettingsError(
            "GIFTRUN_INVITE_FROM must be a name and an address, such as 'Ana Lima <ana@example.com>' "
            f"(got '{text.strip()[:80]}')."
        )
    return Sender(name.strip() or local, address)


def parse_email_rate(raw: str | None) -> float:
    if raw is None:
        return float(DEFAULT_RATE)
    try:
        rate = float(raw)
    except ValueError:
        rate = -1.0
    low, high = RATE_RANGE
    if not low <= rate <= high:
        raise MailSettingsError(
            f"GIFTRUN_EMAIL_RATE is '{raw[:20]}': give emails per minute from {low} to {high:,} "
            f"(default {DEFAULT_RATE})."
        )
    return rate


def parse_email_daily_limit(raw: str | None) -> int | None:
    if raw is None:
        return None
    text = raw.strip().replace(",", "").replace("_", "")
    if not text.isdigit() or not 1 <= int(text) <= 1_000_000:
        raise MailSettingsError(
            f"GIFTRUN_EMAIL_DAILY_LIMIT is '{raw[:20]}': give a whole number of emails from 1 to 1,000,000 "
            "(Gmail allows about 500 a day, Google Workspace about 2,000)."
        )
    return int(text)
