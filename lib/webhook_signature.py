"""&Open's webhook signature, shared by the receiver that checks it (webhooks) and the
sandbox that signs its deliveries: one definition, so the two cannot drift apart. A module
of its own because the sandbox (a fake &Open) must not import the receiver and its store."""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """Hex HMAC-SHA256 of "{timestamp}." + the raw body (never re-serialised JSON), keyed
    by the webhook secret."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
