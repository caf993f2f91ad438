"""The store (journal, run locks, status history, lists, audit, outbox) on SQLite or
PostgreSQL; see store.py. Importers use `from lib.store import Store, …`."""

from .database import StoreError, StoreInfo, StoreUnavailable, StoreVersionError, is_database_url
from .records import (
    NO_LOOKBACK,
    STALE_RUN_SECONDS,
    UNKNOWN_AFTER_CRASH,
    Claim,
    GiftRecord,
    JournalEntry,
    Refusal,
    RunInProgress,
    RunRecord,
)
from .store import Store

__all__ = [
    "Store",
    "StoreError",
    "StoreInfo",
    "StoreUnavailable",
    "StoreVersionError",
    "is_database_url",
    "NO_LOOKBACK",
    "STALE_RUN_SECONDS",
    "UNKNOWN_AFTER_CRASH",
    "Claim",
    "GiftRecord",
    "JournalEntry",
    "Refusal",
    "RunInProgress",
    "RunRecord",
]
