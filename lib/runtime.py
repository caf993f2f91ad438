"""Wiring shared by the app and the CLI: the store, the &Open client, the demo sandbox."""
from __future__ import annotations

import secrets as _secrets
from dataclasses import dataclass

import requests

from .andopen import AndOpenClient
from .sandbox import DEFAULT_TOKEN, Lifecycle, Sandbox
from .settings import Secret, Settings
from .store import Store

HTTP_POOL = 16  # connections kept to &Open: above the send engine's default concurrency


def http_session() -> requests.Session:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=HTTP_POOL, pool_maxsize=HTTP_POOL, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = "Giftrun/1.0"
    return session


def open_store(settings: Settings) -> Store:
    return Store(settings.data_dir)


@dataclass
class Demo:
    """The built-in fake &Open of demo mode, with statuses that move and signed webhooks."""

    sandbox: Sandbox
    webhook_secret: str

    @classmethod
    def start(cls, webhook_url: str | None = None, *, speed: float = 1.0) -> "Demo":
        secret = "whsec_demo_" + _secrets.token_hex(16)
        sandbox = Sandbox(DEFAULT_TOKEN, webhook_url=webhook_url, webhook_secret=secret if webhook_url else None,
                          lifecycle=Lifecycle(speed=speed)).start()
        return cls(sandbox, secret)

    def client(self, session: requests.Session | None = None) -> AndOpenClient:
        return AndOpenClient(session or http_session(), Secret(self.sandbox.token), self.sandbox.url)


def make_client(settings: Settings, session: requests.Session | None = None) -> AndOpenClient:
    """The real client; raises andopen.ConfigError for a key aimed at the wrong host."""
    if not settings.api_key:
        raise ValueError("make_client needs ANDOPEN_API_KEY; demo mode uses Demo.client()")
    return AndOpenClient(session or http_session(), settings.api_key, settings.base_url)
