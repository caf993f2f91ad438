"""Google Sheets through gspread 6: open a list by its link, read it as text, write results
back in one batched call per flush, and keep a shared `Gift history` tab.

One module per concept, as gspread splits its own:

=============  ===========================================================================
errors.py      the one error tree (`SheetsError`, str = a message the user can act on)
caller.py      the retrying caller: backoff on 429/5xx, call counts (`SheetsRetry`)
links.py       sheet references and links: what counts as a sheet (`looks_like_sheet`),
               `parse_sheet_ref`, `SheetRef.url`
client.py      the gspread client, signed in as the service account or on an emulator
identity.py    row identity: which person a row is, whatever its position (`row_keys`)
reader.py      the reader: one tab as a list (`SheetList`)
flush.py       one write-back flush as pure steps (layout, placement, columns, repairs, memory)
sink.py        the write-back sink (`SheetSink`): the reads and writes around those steps
history.py     the shared `Gift history` tab (`HistoryTab`)
=============  ===========================================================================

Importers use `from lib import sheets` / `from lib.sheets import X`: every public name is here.
"""

from __future__ import annotations

from .caller import RETRYABLE_STATUSES, SheetsRetry, sheets_retry_delay
from .client import (
    GOOGLE_HOSTS,
    SCOPES,
    SHEETS_HOST,
    EmulatorAdapter,
    GiftrunClient,
    make_client,
    service_account_email,
)
from .errors import (
    NoHeaderRowError,
    RowsNotFoundError,
    SheetNotFoundError,
    SheetNotSharedError,
    SheetsAuthError,
    SheetsError,
    SheetsQuotaError,
    WorksheetNotFoundError,
    sheets_error,
    status_of,
)
from .history import HISTORY_HEADER, HISTORY_TITLE, HistoryTab, history_target, sync_outbox
from .identity import identity, identity_keys, row_keys
from .links import MAX_SHEET_LINK, NOT_A_SHEET, SheetRef, is_sheet_ref, looks_like_sheet, parse_sheet_ref
from .reader import SheetList
from .sink import MAX_PAYLOAD_BYTES, FlushReport, SheetSink

__all__ = [
    "SheetsError",
    "SheetNotFoundError",
    "SheetNotSharedError",
    "WorksheetNotFoundError",
    "NoHeaderRowError",
    "SheetsQuotaError",
    "SheetsAuthError",
    "RowsNotFoundError",
    "sheets_error",
    "status_of",
    "sheets_retry_delay",
    "SheetsRetry",
    "RETRYABLE_STATUSES",
    "SheetRef",
    "parse_sheet_ref",
    "is_sheet_ref",
    "looks_like_sheet",
    "MAX_SHEET_LINK",
    "NOT_A_SHEET",
    "make_client",
    "service_account_email",
    "GiftrunClient",
    "EmulatorAdapter",
    "SCOPES",
    "SHEETS_HOST",
    "GOOGLE_HOSTS",
    "identity",
    "identity_keys",
    "row_keys",
    "SheetList",
    "SheetSink",
    "FlushReport",
    "MAX_PAYLOAD_BYTES",
    "HistoryTab",
    "HISTORY_TITLE",
    "HISTORY_HEADER",
    "history_target",
    "sync_outbox",
]
