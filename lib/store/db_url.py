"""Reading a PostgreSQL URL so that no part of its password can ever be taken for its host.

Providers print `postgresql://user:password@host:5432/db?sslmode=require`, and people paste
passwords into it as they are. A lenient parser reads `p@ss` as password `p`, host
`ss@host`, and the host is then printed in every message: a fragment of the password on the
screen and in CI logs. So the URL is split here, once, by one rule, and only its host, port and
database are ever shown:

- the user name and password end at the **last** `@`; the password is everything after the
  first `:` of what comes before it, so `# / : % ?` and `@` may stand in it as they are;
- what follows that `@` must be a host (`[::1]` too), an optional port, `/database` and
  `?key=value` options, with no `@` or `#`;
- the reading must be the only one: if an earlier `@` could also begin a host (`p@ss/x@host`,
  `p@ss#@host`, or an `@` in the options), the URL is refused, asking for percent-encoding
  (`@` is `%40`), and the message never quotes the value.

Percent-escapes are decoded in every part (`%40` is `@`); a `%` not followed by two hex digits
stays a `%`.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote

from sqlalchemy.engine import URL

from ..errors import EXIT_INPUT
from .database import StoreError, is_database_url

_SCHEME = re.compile(r"(postgres|postgresql)(\+\w+)?://", re.IGNORECASE)
_HOST = r"\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%-]"
_TAIL = re.compile(
    rf"(?P<host>{_HOST}*)(?::(?P<port>[0-9]{{1,5}}))?(?:/(?P<database>[^/?#@]*))?(?:\?(?P<query>[^#@]*))?"
)
# What a standard URL parser would take for a host after an `@`: then the reading is not the only one.
_ALSO_A_HOST = re.compile(rf"(?:{_HOST}+)(?::[0-9]{{1,5}})?(?:[/?#]|$)")
ENCODE_HINT = (
    "percent-encode the special characters of the user name and password (@ as %40, # as %23, / as %2F, "
    "? as %3F, : as %3A, % as %25), as in postgresql://user:p%40ss@host:5432/dbname?sslmode=require"
)


class DatabaseUrlError(StoreError):
    """The URL cannot be read one way only; the message never quotes it. Exit 2: configuration."""

    exit_code = EXIT_INPUT


def parse_database_url(text: str, name: str = "The database URL") -> URL:
    """The URL for psycopg 3 (`postgresql+psycopg`), with every part decoded; see the module
    docstring for the one rule. `name` says where the value came from, for the message."""
    raw = str(text).strip()
    scheme = _SCHEME.match(raw)
    if scheme is None or not is_database_url(raw):
        raise DatabaseUrlError(
            f"{name} must be a PostgreSQL URL such as postgresql://user:password@host:5432/dbname"
            "?sslmode=require. The value is not shown: it may hold a password."
        )
    rest = raw[scheme.end() :]
    userinfo, at, tail = rest.rpartition("@")
    parts = _TAIL.fullmatch(tail)
    user, _, password = userinfo.partition(":")
    earlier = [i for i, ch in enumerate(userinfo) if ch == "@"]
    if (
        parts is None
        or (at and not user)
        or any(c in user for c in "/?#")
        or any(_ALSO_A_HOST.match(userinfo + "@" + tail, i + 1) for i in earlier)
        or not _valid_port(parts["port"])
    ):
        raise DatabaseUrlError(
            f"{name} cannot be read one way only: {ENCODE_HINT}. The value is not shown: it may hold a password."
        )
    return URL.create(
        "postgresql+psycopg",
        username=unquote(user) if at else None,
        password=unquote(password) if at and ":" in userinfo else None,
        host=unquote(parts["host"].strip("[]")) or None,
        port=int(parts["port"]) if parts["port"] else None,
        database=unquote(parts["database"]) if parts["database"] else None,
        query=_query(parts["query"] or ""),
    )


def _valid_port(port: str | None) -> bool:
    return port is None or 1 <= int(port) <= 65535


def _query(text: str) -> dict[str, str | tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        out.setdefault(key, []).append(value)
    return {k: v[0] if len(v) == 1 else tuple(v) for k, v in out.items()}


def describe_url(url: URL) -> str:
    """Where the database is, for people: `host:port/database`, never a user name or password."""
    host = url.host or "localhost"
    host = f"[{host}]" if ":" in host else host
    port = f":{url.port}" if url.port else ""
    return f"{host}{port}/{url.database or ''}"
