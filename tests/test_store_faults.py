"""Which store failures are a blip a run waits out, and which stop it at once: one table."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import errors as pg

from lib.settings import Settings, SettingsError
from lib.store.faults import is_transient


def wrapped(exc: Exception, kind=sa.exc.OperationalError) -> Exception:
    return kind("SELECT 1", {}, exc)


@pytest.mark.parametrize(
    "exc, transient",
    [
        (wrapped(psycopg.OperationalError("connection failed: Connection refused")), True),
        (wrapped(psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly")), True),
        (wrapped(pg.AdminShutdown("terminating connection due to administrator command")), True),
        (wrapped(pg.CannotConnectNow("the database system is starting up")), True),
        (wrapped(pg.TooManyConnections("sorry, too many clients already")), True),
        (
            wrapped(
                pg.ReadOnlySqlTransaction("cannot execute INSERT in a read-only transaction"), sa.exc.InternalError
            ),
            True,
        ),
        (wrapped(pg.SerializationFailure("could not serialize access")), True),
        (wrapped(sqlite3.OperationalError("database is locked")), True),
        (sqlite3.OperationalError("database is locked"), True),
        (sa.exc.TimeoutError("QueuePool limit of size 3 overflow 5 reached"), True),
        (
            wrapped(psycopg.OperationalError('connection failed: FATAL:  password authentication failed for user "x"')),
            False,
        ),
        (wrapped(psycopg.OperationalError('connection failed: FATAL:  database "team" does not exist')), False),
        (wrapped(pg.InvalidPassword("password authentication failed")), False),
        (wrapped(pg.UndefinedTable('relation "sends" does not exist'), sa.exc.ProgrammingError), False),
        (wrapped(sqlite3.OperationalError("unable to open database file")), False),
        (wrapped(sqlite3.DatabaseError("file is not a database"), sa.exc.DatabaseError), False),
        (ValueError("a bug"), False),
    ],
)
def test_store_failures_are_sorted_into_blips_and_the_rest(exc, transient):
    assert is_transient(exc) is transient


@pytest.mark.parametrize(
    "env, pool, retry",
    [
        ({}, 8, 60.0),
        ({"GIFTRUN_DATABASE_POOL_SIZE": "3", "GIFTRUN_DATABASE_RETRY_SECONDS": "5"}, 3, 5.0),
        ({"GIFTRUN_DATABASE_RETRY_SECONDS": "0.5"}, 8, 0.5),
    ],
)
def test_pool_size_and_retry_window_are_settings_with_defaults(env, pool, retry):
    s = Settings.from_mapping(env)
    assert (s.database_pool_size, s.database_retry_seconds) == (pool, retry)


@pytest.mark.parametrize(
    "name, value",
    [
        ("GIFTRUN_DATABASE_POOL_SIZE", "0"),
        ("GIFTRUN_DATABASE_POOL_SIZE", "1_0"),
        ("GIFTRUN_DATABASE_POOL_SIZE", "eight"),
        ("GIFTRUN_DATABASE_RETRY_SECONDS", "-1"),
        ("GIFTRUN_DATABASE_RETRY_SECONDS", "1e3"),
        ("GIFTRUN_DATABASE_RETRY_SECONDS", "9999"),
    ],
)
def test_a_bad_pool_size_or_retry_window_is_refused_by_name(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_mapping({name: value})
