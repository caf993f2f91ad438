"""Result columns and the one interface every destination (CSV, sheet, app table) implements.

The run engine batches results and hands them to a sink every few seconds and at the end:
never one write per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd

from .headers import normalise_header

GIFT_REQUEST_ID = "Gift request ID"
REDEMPTION_URL = "Redemption URL"
SEND_ERROR = "Send error"
GIFT_STATUS = "Gift status"
ELIGIBILITY = "Eligibility"
SKIP_REASON = "Skip reason"
SENT_AT = "Sent at"
APPROVED = "Approved"
INVITATION_SENT_AT = "Invitation sent at"
INVITATION_ERROR = "Invitation error"

# Created if missing, after the user's own columns, in this order (docs/architecture.md, Contracts).
RESULT_COLUMNS: tuple[str, ...] = (
    GIFT_REQUEST_ID,
    REDEMPTION_URL,
    SEND_ERROR,
    GIFT_STATUS,
    ELIGIBILITY,
    SKIP_REASON,
    SENT_AT,
)

# Written only by invitations (lib/invitations.py): added to a list the first time one is emailed.
INVITATION_COLUMNS: tuple[str, ...] = (INVITATION_SENT_AT, INVITATION_ERROR)
ALL_RESULT_COLUMNS = RESULT_COLUMNS + INVITATION_COLUMNS

# Giftrun's own column for a result, made when the list has a column of that name holding values
# Giftrun did not write (lib/own_columns.py): `Eligibility (Giftrun)`. Found again by its name.
OWN_SUFFIX = " (Giftrun)"


def own_column(canonical: str) -> str:
    return canonical + OWN_SUFFIX


_BY_KEY = {normalise_header(c): c for c in ALL_RESULT_COLUMNS}
_OWN_BY_KEY = {normalise_header(own_column(c)): c for c in RESULT_COLUMNS}


def canonical_of(name: object) -> str | None:
    """The result a header holds (`gift_request_id` and `Eligibility (Giftrun)` alike), else None."""
    key = normalise_header(name)
    return _BY_KEY.get(key) or _OWN_BY_KEY.get(key)


def is_own_column(name: object) -> bool:
    """A column Giftrun made for itself beside a user's column of the same name."""
    return normalise_header(name) in _OWN_BY_KEY


def result_positions(headers: Sequence[object]) -> dict[str, int]:
    """Which of the list's columns is each result column, by position: Giftrun's own column
    (`Eligibility (Giftrun)`) when the list has one, else the one whose header is ours exactly
    (spaces around it aside), else the first whose header matches loosely (`Gift Request ID`,
    `gift_request_id`, `GiftRequestID`). The one definition every reader and writer (CSV
    file, Google Sheet, the app's table and download) uses, so a result column is found, and
    written, wherever the list has it."""
    own: dict[str, int] = {}
    exact: dict[str, int] = {}
    loose: dict[str, int] = {}
    for j, header in enumerate(headers):
        text = str(header).strip()
        key = normalise_header(text)
        if key in _OWN_BY_KEY:
            own.setdefault(_OWN_BY_KEY[key], j)
            continue
        canonical = _BY_KEY.get(key)
        if canonical is None:
            continue
        loose.setdefault(canonical, j)
        if text == canonical:
            exact.setdefault(canonical, j)
    found = {**loose, **exact, **own}
    return {c: found[c] for c in ALL_RESULT_COLUMNS if c in found}


def result_columns(columns: Iterable[object]) -> dict[str, str]:
    """Result column -> the name of the column that holds it (see `result_positions`)."""
    names = [str(c) for c in columns]
    return {c: names[j] for c, j in result_positions(names).items()}


def result_column(columns: Iterable[object], canonical: str) -> str | None:
    return result_columns(columns).get(canonical)


def is_result_column(name: object) -> bool:
    return canonical_of(name) is not None


def result_values(frame: pd.DataFrame, canonical: str) -> pd.Series | None:
    """A result column's values as text ("" when empty), None when the list has no such
    column. When several columns match loosely (a list an older version wrote twice), a
    value in any of them counts: the chosen column first, then the others in order."""
    chosen = result_column(frame.columns, canonical)
    if chosen is None:
        return None
    key = normalise_header(canonical)
    others = [c for c in frame.columns if c != chosen and normalise_header(str(c).strip()) == key]
    out = _text(frame[chosen])
    for column in others:
        out = out.where(out.str.strip() != "", _text(frame[column]))
    return out


def _text(series: pd.Series) -> pd.Series:
    return series.astype(object).where(series.notna(), "").astype(str)


@dataclass(frozen=True)
class RowResult:
    """New values for some result columns of one row. `row_key` finds the row; `email`
    is the fallback identity when the row key is gone (rows edited in between)."""

    row_key: str
    email: str
    values: Mapping[str, str] = field(default_factory=dict)


class ResultSink(Protocol):
    def write(self, results: Sequence[RowResult]) -> object:
        """Apply a batch of results durably (what it returns, e.g. a sheet's flush report, is the
        sink's own business). Raise to have the batch retried later."""
        ...


def merge_results(batch: Sequence[RowResult]) -> list[RowResult]:
    """Collapse several results for one row into one (later values win), keeping order."""
    merged: dict[str, RowResult] = {}
    for r in batch:
        prev = merged.get(r.row_key)
        merged[r.row_key] = RowResult(r.row_key, r.email, {**(prev.values if prev else {}), **r.values})
    return list(merged.values())
