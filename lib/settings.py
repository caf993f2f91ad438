"""One typed Settings built from any mapping (st.secrets, os.environ, a dict).

The same names work in `.streamlit/secrets.toml` (top level) and in the environment.
Secrets are held in `Secret`, whose repr and str never show the value. This is the only
module that reads the environment (tests/test_architecture.py checks it): every other
module gets its configuration from a Settings.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .andopen_hosts import is_sandbox
from .errors import GiftrunError
from .plain_numbers import PLAIN_DECIMAL, plain_decimal, plain_whole, shown_value

if TYPE_CHECKING:
    from .smtp_url import Sender, SmtpUrl


class Secret:
    """A string that never prints itself; `.reveal()` is the only way to the value. `shown` is
    what to print instead when even a key's last 4 characters could be a password's (a URL)."""

    __slots__ = ("_value", "_shown")

    def __init__(self, value: str, shown: str | None = None) -> None:
        self._value = value
        self._shown = shown

    def reveal(self) -> str:
        return self._value

    def masked(self) -> str:
        return self._shown if self._shown is not None else mask_token(self._value)

    def __repr__(self) -> str:
        return f"Secret({self.masked()})"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def mask_token(token: str | None) -> str:
    """`ao-v1-production-…1234`: the stage and the last 4 characters, nothing more."""
    if not token:
        return "(not set)"
    parts = token.split("-", 3)
    # Only a real key's version and stage are shown: any other "ao-…" text may be secret throughout.
    andopen_shaped = (
        len(parts) == 4
        and parts[0] == "ao"
        and bool(re.fullmatch(r"v\d{1,3}", parts[1]))
        and parts[2] in ("production", "staging")
    )
    secret = parts[3] if andopen_shaped else token
    tail = secret[-4:] if len(secret) >= 12 else ""  # a short secret would be shown whole
    if andopen_shaped:
        return f"ao-{parts[1]}-{parts[2]}-…{tail}"
    return f"…{tail}" if tail else "…"


DEFAULT_DATA_DIR = ".giftrun"
DEFAULT_SCHEMA = "giftrun"  # the database schema of a shared store (not `public`: see store/database.py)
# The example secrets file's values (`ao-v1-production-REPLACE_ME`), or a doc's `…`: a copied
# example is no key, so it means the demo, said out loud, never a live run with a made-up key.
_PLACEHOLDER = re.compile(r"replace[_ -]?me|your[_ -]?(api[_ -]?)?key|…|\.\.\.", re.IGNORECASE)
PLACEHOLDER_KEY = "ANDOPEN_API_KEY is the example's placeholder"
DEFAULT_POOL_SIZE = 8  # the most database connections one process opens (store/database.py POOL_SIZE)
DEFAULT_RETRY_SECONDS = 60.0  # how long a send run waits for the store to come back (store/store.py)


@dataclass(frozen=True)
class Settings:
    api_key: Secret | None = None
    placeholder_key: bool = False  # ANDOPEN_API_KEY was the example's placeholder: treated as unset
    base_url: str | None = None
    campaign_id: str | None = None
    webhook_secret: Secret | None = None
    data_dir: Path = field(default_factory=lambda: Path(DEFAULT_DATA_DIR))
    data_dir_explicit: bool = False  # GIFTRUN_DATA_DIR was set: use it exactly as given
    history_sheet: str | None = None
    service_account: Mapping[str, Any] | None = field(default=None, repr=False)  # holds a private key
    app_password: Secret | None = None
    allowed_domains: tuple[str, ...] = ()
    database_url: Secret | None = None  # holds a password: shown only as backend and host
    database_schema: str = DEFAULT_SCHEMA
    database_schema_explicit: bool = False  # GIFTRUN_DATABASE_SCHEMA was set: use it exactly as given
    daily_limit: int | None = None  # GIFTRUN_DAILY_LIMIT: gifts in any 24 hours across the team (None: no limit)
    actor: str | None = None  # GIFTRUN_ACTOR: who the CLI records as acting (default "cli")
    demo_speed: float = 1.0  # GIFTRUN_DEMO_SPEED: how much faster the demo's gifts move on their own
    sheets_emulator_host: str | None = None  # SHEETS_EMULATOR_HOST: "host:port" of a fake Sheets API (tests)
    request_timeout: float | None = None  # GIFTRUN_REQUEST_TIMEOUT: seconds for a whole request (None: 30)
    max_connections: int | None = None  # GIFTRUN_MAX_CONNECTIONS (None: from the process's file limit)
    ephemeral_disk: bool = False  # GIFTRUN_EPHEMERAL_DISK: this host's disk is wiped at a restart
    database_pool_size: int = DEFAULT_POOL_SIZE  # GIFTRUN_DATABASE_POOL_SIZE: connections per process
    database_retry_seconds: float = DEFAULT_RETRY_SECONDS  # GIFTRUN_DATABASE_RETRY_SECONDS: a run waits out a blip
    smtp_url: SmtpUrl | None = None  # GIFTRUN_SMTP_URL: the mailbox invitations go from (password a Secret)
    smtp_ca_file: Path | None = (
        None  # GIFTRUN_SMTP_CA_FILE: a private CA the SMTP server's certificate is checked against
    )
    invite_from: Sender | None = None  # GIFTRUN_INVITE_FROM: `Name <address>` on invitations
    email_rate: float = 20.0  # GIFTRUN_EMAIL_RATE: invitations per minute, spread evenly
    email_daily_limit: int | None = None  # GIFTRUN_EMAIL_DAILY_LIMIT: emails in any 24 hours across the team

    @property
    def demo_mode(self) -> bool:
        return not self.api_key

    @classmethod
    def from_mapping(cls, *sources: Mapping[str, Any]) -> Settings:
        """Earlier sources win: `Settings.from_mapping(st.secrets, os.environ)`."""

        src = _Sources(sources)
        get, given, text, secret = src.get, src.given, src.text, src.secret
        database_url, schema = _database(text("GIFTRUN_DATABASE_URL"), get("connections"))
        schema = text("GIFTRUN_DATABASE_SCHEMA") or schema
        from .guardrails import parse_daily_limit

        try:
            daily_limit = parse_daily_limit(given("GIFTRUN_DAILY_LIMIT"))
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        mail = _mail_settings(text, secret)
        domains = get("GIFTRUN_ALLOWED_DOMAINS") or ()
        if isinstance(domains, str):
            domains = [d for d in domains.replace(";", ",").split(",")]
        return cls(
            actor=text("GIFTRUN_ACTOR"),
            demo_speed=_demo_speed(given("GIFTRUN_DEMO_SPEED")),
            sheets_emulator_host=text("SHEETS_EMULATOR_HOST"),
            request_timeout=_lenient_positive("GIFTRUN_REQUEST_TIMEOUT", given, plain_decimal),
            max_connections=_lenient_positive("GIFTRUN_MAX_CONNECTIONS", given, plain_whole),
            ephemeral_disk=(text("GIFTRUN_EPHEMERAL_DISK") or "").lower() in ("1", "true", "yes"),
            database_pool_size=int(
                _bounded("GIFTRUN_DATABASE_POOL_SIZE", given("GIFTRUN_DATABASE_POOL_SIZE"), 1, 1000, DEFAULT_POOL_SIZE)
            ),
            database_retry_seconds=_bounded(
                "GIFTRUN_DATABASE_RETRY_SECONDS",
                given("GIFTRUN_DATABASE_RETRY_SECONDS"),
                0,
                3600,
                DEFAULT_RETRY_SECONDS,
            ),
            api_key=secret("ANDOPEN_API_KEY"),
            placeholder_key=is_placeholder(text("ANDOPEN_API_KEY") or ""),
            base_url=(text("ANDOPEN_BASE_URL") or None),
            campaign_id=text("ANDOPEN_CAMPAIGN_ID"),
            webhook_secret=secret("ANDOPEN_WEBHOOK_SECRET"),
            data_dir=Path(text("GIFTRUN_DATA_DIR") or DEFAULT_DATA_DIR),
            data_dir_explicit=bool(text("GIFTRUN_DATA_DIR")),
            history_sheet=text("GIFTRUN_HISTORY_SHEET"),
            service_account=_service_account(get("gcp_service_account"), get("GOOGLE_SERVICE_ACCOUNT_JSON")),
            app_password=secret("GIFTRUN_APP_PASSWORD"),
            allowed_domains=tuple(d.strip().lower().lstrip("@") for d in domains if str(d).strip()),
            database_url=database_url,
            database_schema=schema or DEFAULT_SCHEMA,
            database_schema_explicit=bool(schema),
            daily_limit=daily_limit,
            **mail,
        )

    @classmethod
    def from_secrets(cls, secrets: Mapping[str, Any]) -> Settings:
        """The app: its secrets (st.secrets as a dict), then the environment."""
        return cls.from_mapping(secrets, os.environ)

    @classmethod
    def from_env(cls, secrets_file: Path | None = None) -> Settings:
        """The environment, then the app's secrets file if there is one (the CLI and the
        app read the same configuration; the environment wins). GIFTRUN_SECRETS_FILE names
        another file; set it empty to read none."""
        if secrets_file is None:
            secrets_file = Path(os.environ.get("GIFTRUN_SECRETS_FILE", ".streamlit/secrets.toml") or "/nonexistent")
        sources: list[Mapping[str, Any]] = [os.environ]
        if secrets_file is not None and secrets_file.is_file():
            import tomllib

            try:
                sources.append(tomllib.loads(secrets_file.read_text(encoding="utf-8")))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise SettingsError(f"{secrets_file} is not valid TOML ({str(exc).splitlines()[0]}).") from None
        return cls.from_mapping(*sources)

    def store_location(self, *, demo: bool = False) -> tuple[str | Path, str | None]:
        """(where, schema) for `Store`: the shared database when one is configured, else the
        folder of the embedded SQLite store. Fake gifts never mix with real history: the
        app's demo and a sandbox host get a store of their own (a folder, or a schema in
        the database) unless GIFTRUN_DATA_DIR / GIFTRUN_DATABASE_SCHEMA say exactly where.
        `demo` is the app running its built-in sandbox; a CLI command that needs no key
        (`status`, `webhooks`) uses the live store."""
        sandbox = is_sandbox(self.base_url)
        if not self.database_url:
            if demo:
                return self.data_dir / "demo", None
            return (self.data_dir / "sandbox" if sandbox and not self.data_dir_explicit else self.data_dir), None
        schema = self.database_schema
        if demo:
            schema += "_demo"
        elif sandbox and not self.database_schema_explicit:
            schema += "_sandbox"
        return self.database_url.reveal(), schema


def _mail_settings(text: Any, secret: Any) -> dict[str, Any]:
    """The invitation mailbox's settings (lib/smtp_url.py parses them; its errors are SettingsErrors)."""
    from . import smtp_url as smtp

    try:
        raw_url = secret("GIFTRUN_SMTP_URL")
        sender = text("GIFTRUN_INVITE_FROM")
        ca_file = text("GIFTRUN_SMTP_CA_FILE")
        return {
            "smtp_url": smtp.parse_smtp_url(raw_url.reveal()) if raw_url else None,
            "smtp_ca_file": Path(ca_file).expanduser() if ca_file else None,
            "invite_from": smtp.parse_sender(sender) if sender else None,
            "email_rate": smtp.parse_email_rate(text("GIFTRUN_EMAIL_RATE")),
            "email_daily_limit": smtp.parse_email_daily_limit(text("GIFTRUN_EMAIL_DAILY_LIMIT")),
        }
    except smtp.MailSettingsError as exc:
        raise SettingsError(exc.message) from None


def _secret(name: str, value: str | None) -> Secret | None:
    """A secret as given; none for an example's placeholder (`REPLACE_ME`)."""
    if not value or is_placeholder(value):
        return None
    if not (value.isascii() and value.isprintable()):
        raise SettingsError(
            f"{name} contains a character that is not plain ASCII (a typographic quote "
            "or a space pasted with it?). Copy the value again."
        )
    return Secret(value)


def is_placeholder(value: str) -> bool:
    """A value copied from an example (`REPLACE_ME`, `…`), not a secret anyone was given."""
    return bool(_PLACEHOLDER.search(value))


def _demo_speed(raw: object) -> float:
    if raw is None:
        return 1.0
    speed = plain_decimal(raw)
    if speed is None or not 0 < speed <= 10_000:
        raise SettingsError(
            f"GIFTRUN_DEMO_SPEED {shown_value(raw)}: give a number above 0 in {PLAIN_DECIMAL} "
            "(20: the demo's gifts move 20 times faster)."
        )
    return speed


class _Sources:
    """The setting sources in order (earlier ones win), read four ways."""

    def __init__(self, sources: tuple[Mapping[str, Any], ...]) -> None:
        self.sources = sources

    def get(self, name: str) -> Any:
        """The first source that sets `name` to something (an empty value is skipped)."""
        return self._first(name, lambda value: value not in (None, ""))

    def given(self, name: str) -> Any:
        """The first source that sets `name` at all, even to "" (a number setting that is
        set but empty is refused, not skipped: it fails closed)."""
        return self._first(name, lambda value: value is not None)

    def _first(self, name: str, counts: Callable[[Any], bool]) -> Any:
        for src in self.sources:
            try:
                value = src.get(name)
            except Exception:  # st.secrets raises when no secrets file exists
                value = None
            if counts(value):
                return value
        return None

    def text(self, name: str) -> str | None:
        value = self.get(name)
        return str(value).strip() if value not in (None, "") else None

    def secret(self, name: str) -> Secret | None:
        return _secret(name, self.text(name))


def _bounded(name: str, raw: object, least: float, most: float, default: float) -> float:
    """A number from `least` to `most` in plain digits (a whole one when `least` is 1); unset:
    `default`. Set but empty, blank or spelled any other way: refused (it fails closed)."""
    if raw is None:
        return default
    value = plain_whole(raw) if least == 1 else plain_decimal(raw)
    if value is None or not least <= value <= most:
        kind = "a whole number" if least == 1 else "a number of seconds"
        raise SettingsError(f"{name} {shown_value(raw)}: give {kind} from {least:g} to {most:g} in plain digits.")
    return float(value)


def _lenient_positive(name: str, given: Callable[[str], Any], parse: Callable[[object], Any]) -> Any:
    """A server limit: nonsense (a blank value too, and anything but plain digits) is logged and
    ignored, so the documented default applies and a typo never keeps the webhook receiver from
    starting."""
    raw = given(name)
    if raw is None:
        return None
    value = parse(raw)
    if value is None or not 0 < value < 1e9:
        logging.getLogger("giftrun.http").warning(
            "ignoring %s: it %s, not a positive number in plain digits; the default applies",
            name,
            shown_value(raw),
        )
        return None
    return value


def _database(env_url: str | None, connections: Any) -> tuple[Secret | None, str | None]:
    """GIFTRUN_DATABASE_URL, else Streamlit's `[connections.giftrun]` (`url = …`, or the
    fields `st.connection("sql")` takes: dialect, host, port, database, username, password)."""
    section: Mapping[str, Any] = {}
    try:
        section = dict((connections or {}).get("giftrun") or {})
    except (AttributeError, TypeError):
        section = {}
    raw = env_url or (str(section["url"]).strip() if section.get("url") else None)
    if raw is None and section.get("host"):
        from sqlalchemy.engine import URL

        if section.get("port") and plain_whole(section["port"]) is None:
            raise SettingsError("[connections.giftrun] port must be a number in plain digits, such as 5432.")
        raw = URL.create(
            f"{section.get('dialect', 'postgresql')}+psycopg",
            username=section.get("username"),
            password=section.get("password"),
            host=section.get("host"),
            port=plain_whole(section["port"]) if section.get("port") else None,
            database=section.get("database"),
            query=dict(section.get("query") or {}),
        ).render_as_string(hide_password=False)
    schema = str(section["schema"]).strip() if section.get("schema") else None
    if not raw:
        return None, schema
    from .store.db_url import DatabaseUrlError, describe_url, parse_database_url

    name = "GIFTRUN_DATABASE_URL" if env_url else "[connections.giftrun] url"
    try:
        url = parse_database_url(raw, name)
    except DatabaseUrlError as exc:
        raise SettingsError(str(exc)) from None
    return Secret(raw, shown=describe_url(url)), schema


class SettingsError(GiftrunError):
    """A configuration value is unusable; the message says which and why."""


def _service_account(section: Any, env_value: Any) -> Mapping[str, Any] | None:
    if section:
        return dict(section)
    if not env_value:
        return None
    raw = str(env_value).strip()
    if not raw.startswith("{"):
        path = Path(raw).expanduser()
        try:
            exists = path.is_file()
        except (OSError, ValueError):  # "File name too long" would quote the whole value
            exists = False
        if not exists:
            if _looks_like_path(raw):
                raise SettingsError(f"GOOGLE_SERVICE_ACCOUNT_JSON points to {path}, which does not exist.")
            # Not a path: probably mangled JSON (quoted, cut) holding a private key; never echo it.
            raise SettingsError(
                "GOOGLE_SERVICE_ACCOUNT_JSON is neither JSON text (it must start with '{') nor the "
                "path of an existing file. Its value is not shown, as it may hold a private key."
            )
        raw = path.read_text(encoding="utf-8")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"GOOGLE_SERVICE_ACCOUNT_JSON is not valid JSON ({exc.msg}).") from None


def _looks_like_path(value: str) -> bool:
    return len(value) <= 255 and not any(c in value for c in "{}\"'\n\r") and "PRIVATE" not in value.upper()
