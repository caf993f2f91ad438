"""Whether a Giftrun store is already where a configuration points, found without making one.

Opening a store creates it (the folder and file, or the schema and its tables). A command that
only reads what earlier sends recorded (`status`) must not: pointed at the wrong place (another
schema, database or folder, or a sandbox's store instead of the live one) it would report an
empty store as if nothing had been sent and leave an empty one behind.
"""

from __future__ import annotations

from pathlib import Path

from .database import SQLITE_FILE, Database, describe_url, is_database_url, normalise_url


def store_exists(location: str | Path, schema: str | None = None) -> bool:
    """True when a store was created there before; creates nothing (no folder, no schema)."""
    if not (isinstance(location, str) and is_database_url(location)):
        return (Path(location) / SQLITE_FILE).is_file()
    db = Database(location, schema=schema)  # an engine only: nothing is created until a write
    try:
        with db.read() as conn:
            found = db.execute(
                conn,
                "SELECT 1 FROM information_schema.tables WHERE table_schema=:s AND table_name='schema_version'",
                {"s": db.schema},
            ).first()
        return found is not None
    finally:
        db.dispose()


def where(location: str | Path, schema: str | None = None) -> str:
    """The store's place for people, as `StoreInfo.where` says it (never a password)."""
    if isinstance(location, str) and is_database_url(location):
        return f"{describe_url(normalise_url(location))} (schema {schema})"
    return str((Path(location) / SQLITE_FILE).resolve())
