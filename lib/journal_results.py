"""What a journal line means for its row's result cells: how a run writes a sent row, and how a
later run, a status refresh or a resolved unknown writes it again from the journal alone."""

from __future__ import annotations

from .models import SendState
from .store import JournalEntry
from .timefmt import shown
from .writeback import GIFT_REQUEST_ID, REDEMPTION_URL, SEND_ERROR, SENT_AT, RowResult

UNKNOWN_MESSAGE = "Unknown outcome — check in &Open before sending again"


def result_for_entry(row_key: str, entry: JournalEntry) -> RowResult:
    """The result columns a journal entry means for its row: also how lost cells are restored."""
    if entry.state == SendState.SENT:
        values = {
            GIFT_REQUEST_ID: entry.gift_request_id or "",
            REDEMPTION_URL: entry.redemption_url or "",
            SEND_ERROR: "",
            SENT_AT: shown(entry.finished_at or entry.attempted_at),
        }
    elif entry.state in (SendState.UNKNOWN, SendState.ATTEMPTING):
        values = {
            SEND_ERROR: UNKNOWN_MESSAGE
            + (f" ({entry.error})" if entry.error and not entry.error.startswith("Unknown outcome") else "")
        }
    else:
        values = {SEND_ERROR: entry.error or ""}
    return RowResult(row_key, entry.email, values)
