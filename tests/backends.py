"""The store backend a test runs on: the embedded SQLite file, or a real PostgreSQL server
(GIFTRUN_TEST_DATABASE_URL; `.ci/run` starts a throw-away cluster and sets it).

Every test that may touch a store runs once per backend (see conftest.py). A test names a
store by its folder, as a user names GIFTRUN_DATA_DIR; on Postgres that folder maps to a
schema of its own, so two folders are still two independent stores, and a subprocess given
`env(folder)` opens the same store as `store(folder)` here.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from lib.store import Store
from lib.store.database import SQLITE_FILE as SQLITE_FILE

URL_VAR = "GIFTRUN_TEST_DATABASE_URL"
BACKEND_VAR = "GIFTRUN_TEST_STORE_BACKEND"  # set by the fixture, so child processes agree
PREFIX_VAR = "GIFTRUN_TEST_SCHEMA_PREFIX"  # one per pytest session: two sessions on one server never meet


def database_url() -> str | None:
    return os.environ.get(URL_VAR) or None


def current() -> str:
    return os.environ.get(BACKEND_VAR) or "sqlite"


def prefix() -> str:
    return os.environ.setdefault(PREFIX_VAR, f"gt{os.getpid()}_")


def schema_for(folder: Path | str) -> str:
    return prefix() + hashlib.sha1(str(Path(folder).resolve()).encode()).hexdigest()[:20]


def env(folder: Path | str) -> dict[str, str]:
    """What GIFTRUN_DATA_DIR=folder means on the current backend, as environment variables."""
    out = {"GIFTRUN_DATA_DIR": str(folder)}
    if current() == "postgres":
        out.update(
            GIFTRUN_DATABASE_URL=database_url() or "",
            GIFTRUN_DATABASE_SCHEMA=schema_for(folder),
            **{BACKEND_VAR: "postgres", URL_VAR: database_url() or "", PREFIX_VAR: prefix()},
        )
    return out


def store(folder: Path | str) -> Store:
    """The store a Giftrun configured with GIFTRUN_DATA_DIR=folder opens (live mode)."""
    if current() == "postgres":
        return Store(database_url() or "", schema=schema_for(folder), local_dir=Path(folder))
    return Store(folder)


def settings_kwargs(folder: Path | str) -> dict:
    """Settings(...) arguments for a store in `folder` on the current backend."""
    from lib.settings import Secret

    out: dict = {"data_dir": Path(folder)}
    if current() == "postgres":
        out.update(
            database_url=Secret(database_url() or ""), database_schema=schema_for(folder), database_schema_explicit=True
        )
    return out


def store_dump(folder: Path | str) -> str:
    """Everything a PostgreSQL store for `folder` holds (its demo and sandbox schemas too), as
    text, for tests that search a store for what must never be in it. "" on SQLite (its files
    are searched instead)."""
    if current() != "postgres":
        return ""
    import sqlalchemy as sa

    from lib.store.database import normalise_url

    engine = sa.create_engine(normalise_url(database_url() or ""), poolclass=sa.pool.NullPool)
    parts: list[str] = []
    try:
        with engine.connect() as conn:
            tables = conn.execute(
                sa.text(
                    "SELECT table_schema, table_name FROM information_schema.tables WHERE starts_with(table_schema, :s)"
                ),
                {"s": schema_for(folder)},
            ).all()
            for schema, table in tables:
                for row in conn.execute(sa.text(f'SELECT * FROM "{schema}".{table}')):
                    parts.append(
                        " ".join(
                            bytes(v).decode("utf-8", "replace") if isinstance(v, (bytes, memoryview)) else str(v)
                            for v in row
                        )
                    )
    finally:
        engine.dispose()
    return "\n".join(parts)


_KEPT: set[str] = set()


def keep(folder: Path | str) -> None:
    """The store for `folder` outlives the test that made it (a session-wide server's)."""
    _KEPT.add(schema_for(folder))


def drop_test_schemas(url: str | None = None, *, kept_too: bool = False) -> None:
    """Remove every schema this test session made (stores a test never closed are collected
    first, so their idle connections go too)."""
    import gc

    import sqlalchemy as sa

    gc.collect()
    from lib.store.database import normalise_url

    engine = sa.create_engine(normalise_url(url or database_url() or ""), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            names = [
                r[0]
                for r in conn.execute(
                    sa.text("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, :p)"), {"p": prefix()}
                )
            ]
            for name in names:
                if not kept_too and any(name.startswith(k) for k in _KEPT):
                    continue
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
            conn.commit()
    finally:
        engine.dispose()
