"""Which store failures are a blip and which need a person: the one place that decides.

A blip (the database restarting, stopped for a moment, its backends killed, a failover that
left it read-only, every connection slot taken, SQLite's write lock busy) passes by itself:
the send engine waits for it (`lib/store_pause.py`). Anything else (a wrong password, a
database or schema that does not exist, a bug in a statement) will not pass by waiting, so
the caller stops at once with the message.
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa

# SQLSTATE classes that pass by themselves: 08 connection exception, 40 transaction rollback
# (serialization failure, deadlock), 53 insufficient resources (too many connections, disk
# full, out of memory), 57 operator intervention (admin/crash shutdown, cannot connect now).
TRANSIENT_CLASSES = ("08", "40", "53", "57")
TRANSIENT_CODES = frozenset({"25006"})  # read-only transaction: a standby, or a failover under way
PERMANENT_CODES = frozenset({"57P04"})  # the database was dropped
# A connection refused at start-up carries no SQLSTATE; these words say waiting will not help.
PERMANENT_WORDS = (
    "password authentication failed",
    "no pg_hba.conf entry",
    "does not exist",
    "authentication failed",
    "certificate",
    "invalid dsn",
    "invalid connection option",
)
SQLITE_TRANSIENT_WORDS = ("database is locked", "database table is locked", "database is busy")


def is_transient(exc: BaseException) -> bool:
    """True when waiting and trying again may succeed (see the module docstring)."""
    if isinstance(exc, sa.exc.TimeoutError):  # every pooled connection busy: one frees up soon
        return True
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).lower()
    if isinstance(orig, sqlite3.Error):
        return any(word in text for word in SQLITE_TRANSIENT_WORDS)
    code = getattr(orig, "sqlstate", None)
    if code:
        return code not in PERMANENT_CODES and (code in TRANSIENT_CODES or code[:2] in TRANSIENT_CLASSES)
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    connection_level = isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError))
    return connection_level and not any(word in text for word in PERMANENT_WORDS)
