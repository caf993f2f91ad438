"""Settings' "Check connection": one call, and a plain answer about what is wrong."""

from __future__ import annotations

from dataclasses import dataclass

import requests

from .andopen import AndOpenClient, AndOpenError, AuthenticationError, ConfigError, PermissionDeniedError, token_stage
from .andopen_hosts import DEFAULT_HOST, host_stage
from .settings import Settings


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    message: str


def check_connection(
    settings: Settings, session: requests.Session, client: AndOpenClient | None = None
) -> ConnectionCheck:
    """GET /campaigns with the configured key; explain a failure as wrong key, wrong region
    or wrong environment, naming the masked key and the host, never the key."""
    if client is None:
        if not settings.api_key:
            return ConnectionCheck(False, "No ANDOPEN_API_KEY is set: the app runs in demo mode.")
        try:
            client = AndOpenClient(session, settings.api_key, settings.base_url)
        except ConfigError as exc:
            return ConnectionCheck(False, str(exc))
    try:
        campaigns = client.list_campaigns()
    except AuthenticationError:
        return ConnectionCheck(False, _auth_hint(client, settings))
    except PermissionDeniedError:
        return ConnectionCheck(
            False,
            f"The key {client.masked_token} is valid but may not list campaigns: ask "
            "your &Open contact for a key with gifting access.",
        )
    except AndOpenError as exc:
        return ConnectionCheck(False, f"&Open at {client.base_url} could not be reached or failed: {exc}")
    return ConnectionCheck(
        True, f"Connected to {client.base_url} with {client.masked_token}: {len(campaigns)} campaigns visible."
    )


def _auth_hint(client: AndOpenClient, settings: Settings) -> str:
    token = settings.api_key.reveal() if settings.api_key else ""
    stage, hstage = token_stage(token), host_stage(client.base_url)
    base = f"&Open at {client.base_url} rejected the key {client.masked_token}."
    if hstage is None:
        return base + " This host is not &Open's (a sandbox?): check ANDOPEN_BASE_URL and the key it expects."
    if stage == "production" and client.base_url.rstrip("/") == DEFAULT_HOST["production"]:
        return (
            base + " Wrong key, or wrong region: if your &Open account is in the EU, set "
            "ANDOPEN_BASE_URL=https://api.eu.andopen.co. If the key was revoked, ask for a new one."
        )
    if stage == "production":
        return (
            base + " Wrong key, or wrong region: if your &Open account is in the US, remove "
            "ANDOPEN_BASE_URL (the default is https://api.andopen.co)."
        )
    return base + " Wrong key or expired: staging keys only work on https://api.staging.andopen.co."
