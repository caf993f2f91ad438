"""The store's database: one SQLAlchemy engine over SQLite (a file in GIFTRUN_DATA_DIR) or
PostgreSQL (shared by several hosts), with the few places where the two must differ.

Everything above this module writes one SQL dialect: named parameters, `ON CONFLICT`,
`RETURNING`, ISO-8601 text timestamps. What differs lives here: how a write transaction
takes its locks (SQLite `BEGIN IMMEDIATE` serialises all writers; Postgres runs READ
COMMITTED, so a check-then-insert takes a transaction-scoped advisory lock on what it
checks), where the tables live (a Postgres schema), and the column types of migrations.
"""

from __future__ import annotations

import hashlib
import logging
import re
import struct
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection

from ..errors import EXIT_STOPPED, GiftrunError
from .faults import is_transient

log = logging.getLogger(__name__)

SQLITE_FILE = "giftrun.sqlite3"
DEFAULT_SCHEMA = "giftrun"  # not `public`: on Supabase, `public` is served by its REST API
POOL_SIZE = 8  # connections one process may open (GIFTRUN_DATABASE_POOL_SIZE): managed poolers allow few
POOL_KEPT = 3  # of those, kept open between uses
CONNECT_TIMEOUT_S = 10
BUSY_TIMEOUT_MS = 10_000  # SQLite: well under a run's 30 s liveness window
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class StoreError(GiftrunError):
    """Root of the store's errors; `message` is for people (never a password). The CLI exits 1:
    nothing was sent."""

    exit_code = EXIT_STOPPED


class StoreUnavailable(StoreError):
    """The database cannot be reached or refused us; nothing was written. `transient`: a blip
    that may pass by itself (see faults.py), so a run waits for it rather than stopping."""

    def __init__(self, message: str = "", *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class StoreVersionError(StoreError):
    """The store was written by a newer Giftrun than this one."""


@dataclass(frozen=True)
class StoreInfo:
    """What Settings shows: the backend and where it is, never credentials."""

    backend: str  # "SQLite" / "PostgreSQL"
    where: str  # a file path, or host:port/database (schema)
    local_file: bool


def is_database_url(text: str) -> bool:
    return bool(re.match(r"(postgres|postgresql)(\+\w+)?://", str(text).strip(), re.I))


def normalise_url(text: str) -> URL:
    """`postgresql://` and `postgres://` (as providers print them) mean psycopg 3. Read by the
    one rule of db_url, so no part of a password is ever taken for the host that messages show."""
    from .db_url import parse_database_url

    return parse_database_url(text)


def describe_url(url: URL) -> str:
    from .db_url import describe_url as where

    return where(url)


def _lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a name (the same on every host)."""
    return struct.unpack(">q", hashlib.blake2b(name.encode(), digest_size=8).digest())[0]


@lru_cache(maxsize=1024)
def _text(sql: str) -> sa.TextClause:
    """Parsed once per statement: building a TextClause costs as much as running it."""
    clause = sa.text(sql)
    if " IN :" in sql:  # `x IN :name` takes a list
        names = re.findall(r" IN :(\w+)", sql)
        clause = clause.bindparams(*(sa.bindparam(n, expanding=True) for n in names))
    return clause


_WRITE_LOCKS: dict[Path, threading.RLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _sqlite_write_lock(path: Path) -> threading.RLock:
    """One queue per SQLite file in this process, however many Store objects open it."""
    key = path.resolve()
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(key, threading.RLock())


def _clean(value: Any) -> Any:
    """Postgres text cannot hold NUL: both backends store the same replacement."""
    return value.replace("\x00", "\ufffd") if isinstance(value, str) and "\x00" in value else value


class Database:
    """The engine and its dialect-specific parts. Thread-safe: every call checks a
    connection out of a small pool."""

    def __init__(self, location: str | Path, *, schema: str | None = None, pool_size: int = POOL_SIZE) -> None:
        if isinstance(location, str) and is_database_url(location):
            self._init_postgres(location, schema or DEFAULT_SCHEMA, max(1, pool_size))
        else:
            self._init_sqlite(Path(location))

    # -- construction -----------------------------------------------------------------
    def _init_sqlite(self, data_dir: Path) -> None:
        self.is_postgres = False
        self.data_dir: Path | None = data_dir
        self.schema: str | None = None
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path: Path | None = data_dir / SQLITE_FILE
        self._write_lock: threading.RLock | None = _sqlite_write_lock(self.path)
        self.info = StoreInfo("SQLite", str(self.path.resolve()), local_file=True)
        self.engine = sa.create_engine(
            f"sqlite:///{self.path}",
            poolclass=sa.pool.QueuePool,
            pool_size=POOL_KEPT,
            max_overflow=20,
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )

        @event.listens_for(self.engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (pysqlite's own is too late)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")  # a journal line survives a power cut, not only a kill
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cur.close()

        @event.listens_for(self.engine, "begin")
        def _begin(conn: Connection) -> None:
            # Writers take the lock at BEGIN, so a check and its insert are one atomic step.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("giftrun_write") else "BEGIN")

    def _init_postgres(self, text: str, schema: str, pool_size: int) -> None:
        if not _SCHEMA_NAME.fullmatch(schema):
            raise StoreError(f"Database schema name '{schema}' is not valid: use lowercase letters, digits and _.")
        self.is_postgres = True
        self.data_dir = None
        self.path = None
        self.schema = schema
        self._write_lock = None  # READ COMMITTED and advisory locks: writers need no queue here
        url = normalise_url(text)
        self.info = StoreInfo("PostgreSQL", f"{describe_url(url)} (schema {schema})", local_file=False)
        self.engine = sa.create_engine(
            url,
            pool_size=min(POOL_KEPT, pool_size),
            max_overflow=pool_size - min(POOL_KEPT, pool_size),
            pool_pre_ping=True,
            pool_recycle=1800,
            pool_timeout=30,
            # prepare_threshold=None: no server-side prepared statements, which a transaction-mode
            # pooler (PgBouncer, Supabase's pooler) cannot keep; TLS comes from the URL (sslmode).
            connect_args={
                "prepare_threshold": None,
                "connect_timeout": CONNECT_TIMEOUT_S,
                "application_name": "giftrun",
            },
        )

    # -- SQL text -----------------------------------------------------------------------
    def table(self, name: str) -> str:
        return f'"{self.schema}".{name}' if self.schema else name

    @property
    def seq(self) -> str:
        """The column that orders rows by insertion (SQLite's rowid, a Postgres identity)."""
        return "seq" if self.is_postgres else "rowid"

    # -- transactions -------------------------------------------------------------------
    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: serialised with every writer on SQLite; on Postgres,
        callers take `lock()` on whatever they check before they insert. On SQLite this
        process's writers queue for the file's lock here first, so a lone process never
        times out on its own busy lock (SQLite's busy handler polls, it does not queue:
        with many threads one can lose every poll for longer than the busy timeout)."""
        with self._errors(), self.engine.connect() as conn, self._queued():
            conn.execution_options(giftrun_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _queued(self) -> Iterator[None]:
        if self._write_lock is None:
            yield
            return
        with self._write_lock:
            yield

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self._errors(), self.engine.connect() as conn:
            with conn.begin():
                yield conn

    def lock(self, conn: Connection, *names: str) -> None:
        """Transaction-scoped locks on names (sorted, so two writers never deadlock).
        SQLite needs none: BEGIN IMMEDIATE already admits one writer at a time."""
        if not self.is_postgres:
            return
        for key in sorted({_lock_key(n) for n in names}):
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%(k)s)", {"k": key})

    def execute(
        self, conn: Connection, sql: str, params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None
    ):
        if params is None or isinstance(params, Mapping):
            return conn.execute(_text(sql), {k: _clean(v) for k, v in (params or {}).items()})
        return conn.execute(_text(sql), [{k: _clean(v) for k, v in p.items()} for p in params])

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise StoreUnavailable(self._unavailable(exc), transient=is_transient(exc)) from exc
        except (sa.exc.DBAPIError, sa.exc.TimeoutError) as exc:
            if not is_transient(exc):  # a statement the database refuses: a bug, not a blip
                raise
            raise StoreUnavailable(self._unavailable(exc), transient=True) from exc

    def _unavailable(self, exc: Exception) -> str:
        reason = (
            str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        )
        if self.is_postgres:
            return f"The Giftrun database at {self.info.where} cannot be used: {reason[:300]}"
        return f"The Giftrun store {self.info.where} cannot be used: {reason[:300]}"

    def dispose(self) -> None:
        self.engine.dispose()
