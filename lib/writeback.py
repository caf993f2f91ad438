"""Result columns and the one interface every destination (CSV, sheet, app table) implements.

The run engine batches results and hands them to a sink every few seconds and at the end:
never one write per row.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Protocol, Sequence

GIFT_REQUEST_ID = "Gift request ID"
REDEMPTION_URL = "Redemption URL"
SEND_ERROR = "Send error"
GIFT_STATUS = "Gift status"
ELIGIBILITY = "Eligibility"
SKIP_REASON = "Skip reason"
SENT_AT = "Sent at"
APPROVED = "Approved"

# Created if missing, after the user's own columns, in this order (DESIGN.md contract).
RESULT_COLUMNS: tuple[str, ...] = (
    GIFT_REQUEST_ID, REDEMPTION_URL, SEND_ERROR, GIFT_STATUS, ELIGIBILITY, SKIP_REASON, SENT_AT,
)


@dataclass(frozen=True)
class RowResult:
    """New values for some result columns of one row. `row_key` finds the row; `email`
    is the fallback identity when the row key is gone (rows edited in between)."""

    row_key: str
    email: str
    values: Mapping[str, str] = field(default_factory=dict)


class ResultSink(Protocol):
    def write(self, results: Sequence[RowResult]) -> None:
        """Apply a batch of results durably. Raise to have the batch retried later."""
        ...


def merge_results(batch: Sequence[RowResult]) -> list[RowResult]:
    """Collapse several results for one row into one (later values win), keeping order."""
    merged: dict[str, RowResult] = {}
    for r in batch:
        prev = merged.get(r.row_key)
        merged[r.row_key] = RowResult(r.row_key, r.email, {**(prev.values if prev else {}), **r.values})
    return list(merged.values())
