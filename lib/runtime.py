"""Wiring shared by the app and the CLI: the store, the &Open client, the demo sandbox."""

from __future__ import annotations

import secrets as _secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import requests

from .andopen import AndOpenClient
from .sandbox import DEFAULT_TOKEN, Lifecycle, Sandbox
from .settings import Secret, Settings
from .store import Store
from .store_pause import StorePause

if TYPE_CHECKING:
    from .mail_catcher import MailCatcher
    from .mailer import SmtpMailer
    from .runs import RunRegistry
    from .smtp_url import Sender
    from .webhooks import WebhookIntake

DEMO_SENDER = "Giftrun demo <demo@giftrun.invalid>"  # the demo's From when GIFTRUN_INVITE_FROM is not set

HTTP_POOL = 64  # connections kept per host: at least sending.MAX_CONCURRENCY, so the pool never caps a run


def http_session() -> requests.Session:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=HTTP_POOL, pool_maxsize=HTTP_POOL, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = "Giftrun/1.0"
    return session


def open_store(settings: Settings, *, demo: bool = False, notify: Callable[[str], None] | None = None) -> Store:
    """The store this configuration uses: the shared database, or the embedded SQLite file
    (`demo`: the app's built-in sandbox, whose fake gifts are kept apart). With `notify` (a
    command about to send), a database that is restarting is waited for as a run waits for
    it, saying so once, instead of failing the command."""
    location, schema = settings.store_location(demo=demo)

    def opened() -> Store:
        return Store(
            location,
            schema=schema,
            pool_size=settings.database_pool_size,
            retry_seconds=settings.database_retry_seconds,
            # a shared database's runs keep what it missed in this host's folder; SQLite in its own
            local_dir=settings.data_dir if schema is not None else None,
        )

    if notify is None:
        return opened()
    pause = StorePause(settings.database_retry_seconds)
    pause.notify = notify
    return pause.call(opened)


@dataclass
class Demo:
    """The built-in fake &Open of demo mode, with statuses that move and signed webhooks."""

    sandbox: Sandbox
    webhook_secret: str

    @classmethod
    def start(cls, webhook_url: str | None = None, *, speed: float = 1.0) -> Demo:
        secret = "whsec_demo_" + _secrets.token_hex(16)
        sandbox = Sandbox(
            DEFAULT_TOKEN,
            webhook_url=webhook_url,
            webhook_secret=secret if webhook_url else None,
            lifecycle=Lifecycle(speed=speed),
        ).start()
        return cls(sandbox, secret)

    def client(self, session: requests.Session | None = None) -> AndOpenClient:
        return AndOpenClient(session or http_session(), Secret(self.sandbox.token), self.sandbox.url)


def make_client(settings: Settings, session: requests.Session | None = None) -> AndOpenClient:
    """The real client; raises andopen.ConfigError for a key aimed at the wrong host."""
    if not settings.api_key:
        raise ValueError("make_client needs ANDOPEN_API_KEY; demo mode uses Demo.client()")
    return AndOpenClient(session or http_session(), settings.api_key, settings.base_url)


@dataclass
class Services:
    """Everything one process shares across users, reruns and tabs."""

    settings: Settings
    store: Store
    demo: Demo | None
    registry: RunRegistry
    mail_catcher: MailCatcher | None = None  # demo mode without GIFTRUN_SMTP_URL: the built-in outbox

    @property
    def demo_mode(self) -> bool:
        return self.demo is not None

    def mailer(self) -> SmtpMailer | None:
        """The mailbox invitations go from: GIFTRUN_SMTP_URL, else the demo's catcher, else None."""
        from .mailer import SmtpMailer
        from .smtp_url import parse_smtp_url

        if self.settings.smtp_url is not None:
            return SmtpMailer(self.settings.smtp_url, ca_file=self.settings.smtp_ca_file)
        if self.mail_catcher is not None:
            return SmtpMailer(parse_smtp_url(self.mail_catcher.url), timeout=10)
        return None

    def sender(self) -> Sender | None:
        from .smtp_url import parse_sender

        if self.settings.invite_from is not None:
            return self.settings.invite_from
        return parse_sender(DEMO_SENDER) if self.mail_catcher is not None else None

    def client(self) -> AndOpenClient:
        """A client over the process's shared connection pool."""
        if self._session is None:
            self._session = http_session()
        return self.demo.client(self._session) if self.demo else make_client(self.settings, self._session)

    @property
    def webhook_secret(self) -> str | None:
        if self.demo:
            return self.demo.webhook_secret
        return self.settings.webhook_secret.reveal() if self.settings.webhook_secret else None

    def intake(self) -> WebhookIntake:
        from .webhooks import WebhookIntake

        if self._intake is None:
            self._intake = WebhookIntake(self.store, self.webhook_secret)
        return self._intake

    _intake: WebhookIntake | None = None
    _session: requests.Session | None = None


_services: Services | None = None
_services_lock = threading.Lock()


def get_services(settings_factory, *, port: int | None = None) -> Services:
    """Build the process's services once (not per rerun): the demo sandbox starts here,
    delivering signed webhooks to this same server's endpoint."""
    global _services
    with _services_lock:
        if _services is None:
            from .runs import RunRegistry

            settings: Settings = settings_factory()
            store = open_store(settings, demo=settings.demo_mode)  # first: an unreachable database starts nothing
            demo, catcher = None, None
            if settings.demo_mode:
                hook = f"http://127.0.0.1:{port}/webhooks/andopen" if port else None
                demo = Demo.start(hook, speed=settings.demo_speed)
                if settings.smtp_url is None:  # invitations stay on this machine
                    from .mail_catcher import MailCatcher

                    catcher = MailCatcher().start()
            _services = Services(settings, store, demo, RunRegistry(), catcher)
        return _services
