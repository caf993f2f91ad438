"""Which hosts are &Open's (production or staging) and which are a sandbox: the one rule
the client (refusing a staging key aimed at production), the connection check and the
settings (a sandbox gets a store of its own) all apply. Kept apart from the client so
settings can use it without importing the HTTP client."""

from __future__ import annotations

from urllib.parse import urlsplit

PRODUCTION_HOSTS = ("https://api.andopen.co", "https://api.eu.andopen.co")
STAGING_HOSTS = ("https://api.staging.andopen.co",)
DEFAULT_HOST = {"production": PRODUCTION_HOSTS[0], "staging": STAGING_HOSTS[0]}


def host_stage(base_url: str) -> str | None:
    """ "production" or "staging" for an &Open host (any *.andopen.co, in any case, with a
    port, a path or the DNS root's trailing dot), None for any other host: a sandbox."""
    root = base_url.strip().rstrip("/").lower()
    if root in PRODUCTION_HOSTS:
        return "production"
    if root in STAGING_HOSTS:
        return "staging"
    try:
        host = (urlsplit(root).hostname or "").rstrip(".")
    except ValueError:  # a malformed address (an unclosed "[") is no &Open host
        return None
    if host == "andopen.co" or host.endswith(".andopen.co"):
        return "staging" if ".staging." in f".{host}" else "production"
    return None


def is_sandbox(base_url: str | None) -> bool:
    """Whether ANDOPEN_BASE_URL names a host that is not &Open's (the built-in sandbox or
    another fake). No base URL is not a sandbox: the key then picks an &Open host."""
    return bool(base_url and base_url.strip()) and host_stage(base_url or "") is None
