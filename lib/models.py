"""Typed records that cross module boundaries (no raw dicts travel between layers)."""

from __future__ import annotations

import enum
import functools
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime

import idna


class GiftStatus(enum.StrEnum):
    """&Open's gift request statuses. Unknown future values are kept as plain strings."""

    SUBMITTED = "submitted"
    REDEEMED = "redeemed"
    DISPATCHED = "dispatched"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


# Progress order; Cancelled is final and outranks everything.
STATUS_RANK: dict[str, int] = {
    GiftStatus.SUBMITTED: 1,
    GiftStatus.REDEEMED: 2,
    GiftStatus.DISPATCHED: 3,
    GiftStatus.DELIVERED: 4,
    GiftStatus.CANCELLED: 100,
}


def status_label(raw: str | None) -> str:
    """What a user sees: 'Delivered' for known values, the raw value for unknown ones."""
    if not raw:
        return ""
    return raw.capitalize() if raw in STATUS_RANK else raw


class EventSource(enum.StrEnum):
    WEBHOOK = "webhook"
    POLL = "poll"
    SEND = "send"
    SHEET = "sheet"  # a gift id found on a list row, or read from a shared history tab


class SendState(enum.StrEnum):
    """Journal state of one (list, email) send."""

    ATTEMPTING = "attempting"  # written before the request; left behind by a crash = unknown
    SENT = "sent"
    REJECTED = "rejected"  # &Open refused the row (fix it, send again)
    FAILED = "failed"  # never reached &Open (safe to send again)
    UNKNOWN = "unknown"  # may or may not exist in &Open: a person must check


class Outcome(enum.StrEnum):
    """How one POST /gift_requests ended, per docs/andopen-contract.md "Errors"."""

    CREATED = "created"
    REJECTED = "rejected"
    RUN_STOPPING = "run_stopping"
    RETRYABLE = "retryable"
    UNKNOWN = "unknown"


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """&Open's timestamp format: ISO-8601 UTC with milliseconds."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def normalize_email(email: str | None) -> str:
    """The one canonical form of an address: the identity of a person in every check
    (journal, duplicates, look-back, sheet rows, events). Two spellings of one mailbox —
    `ana@bücher.example`, `ANA@XN--BCHER-KVA.example`, `ana@BÜCHER.example.` — give the
    same text, `ana@xn--bcher-kva.example`.

    Surrounding whitespace stripped; Unicode NFC; the local part lowercased; the domain
    lowercased, trailing dots dropped and IDNA-encoded (UTS #46, as browsers and mail
    clients resolve it) to its ASCII `xn--` form, or kept lowercased when it cannot be
    encoded. The result is NFC and `normalize_email(normalize_email(x)) == normalize_email(x)`.
    Full-width letters in the domain fold (UTS #46 maps them: it is the same host); in the
    local part they do not (only the receiving server interprets it; RFC 6532 asks for NFC,
    not NFKC), so `ａｎａ@x.com` and `ana@x.com` are two people.
    Only for comparing: what is sent to &Open stays as the user typed it."""
    text = (email or "").strip()
    if text.isascii():  # the common case, fast: IDNA changes an ASCII domain only by case
        low = text.lower()
        return _drop_trailing_dots(low) if "@" in low else low
    nfc = unicodedata.normalize("NFC", text)
    local, at, domain = nfc.rpartition("@")
    if not at:
        return _lower_nfc(nfc)
    return f"{_lower_nfc(local)}@{canonical_domain(domain)}"


def canonical_domain(domain: str) -> str:
    """A domain as normalize_email compares it: lowercased, no trailing dot, ASCII (`xn--`)."""
    low = _drop_trailing_dots(_lower_nfc(domain))
    if low.isascii():
        return low
    if len(low) > _CACHED_MAX:  # never a real domain: keep the cache small, same answer
        return _idna_ascii.__wrapped__(low)
    return _idna_ascii(low)


_CACHED_MAX = 1024


@functools.lru_cache(maxsize=65_536)
def _idna_ascii(domain: str) -> str:
    """Cached: IDNA encoding costs ~50 µs, and a list repeats its companies' domains."""
    try:
        return idna.encode(domain, uts46=True).decode("ascii").rstrip(".")
    except (idna.IDNAError, UnicodeError, ValueError):  # not a valid IDN: compare it as typed, lowercased
        return domain


def _drop_trailing_dots(text: str) -> str:
    """'b.example.' → 'b.example'; also 'b .' → 'b', so a second pass changes nothing."""
    while text.endswith("."):
        text = text.rstrip(".").rstrip()
    return text


def _lower_nfc(text: str) -> str:
    """Lowercase, NFC again after: lowercasing can leave a composable pair (T + ̈ → ẗ)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).lower())


@dataclass(frozen=True)
class Recipient:
    first_name: str
    last_name: str
    email: str


@dataclass(frozen=True)
class ApiErrorDetail:
    type: str
    code: str
    message: str
    param: str | None = None

    def describe(self) -> str:
        return f"{self.param}: {self.message}" if self.param else self.message


@dataclass(frozen=True)
class GiftRequest:
    id: str
    status: str
    campaign_id: str | None
    redemption_url: str | None
    email: str
    first_name: str = ""
    last_name: str = ""
    created_at: str | None = None
    updated_at: str | None = None


@dataclass(frozen=True)
class Campaign:
    id: str
    name: str
    state: str | None = None
    created_at: str | None = None


@dataclass(frozen=True)
class StatusEvent:
    """One status update for one gift, from any source. Deduplicated on event_id."""

    event_id: str
    gift_request_id: str
    status: str
    source: EventSource
    email: str = ""
    event_type: str = ""
    occurred_at: str | None = None  # the gift's updated_at, when the source gives one
    received_at: str = field(default_factory=lambda: iso(utcnow()))
    redemption_url: str | None = None
    actor: str = ""  # who caused it, for send/override events
    campaign_id: str | None = None  # the gift's, when the source carries the whole gift object
    created_at: str | None = None  # when &Open created the gift: what matches it to an unknown outcome
