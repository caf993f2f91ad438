"""Row identity: which person a sheet row is, whatever its position.

Results must land on the right person's row even when people insert, delete or sort
rows while a run is going, so a row is never addressed by its position alone.

* A row's key is its normalised email plus its occurrence number among rows with that
  email, in sheet order: ``alice@x.com#1``. A row without an email is keyed by its
  normalised first and last name: ``#name:alice|smith#1``; a row with neither is
  ``#blank#N``. Fully blank rows have no key (and are not in `SheetList.read()`'s frame).
  `row_keys()` computes them; the caller sets them as the frame's index right after
  `read()` (before any edits in the app, since they must describe the sheet's content).
* Duplicate emails share one identity (the send journal is keyed by email too), so which
  of two duplicates gets `#1` may change when they are sorted; both are the same person.

How the write-back finds each key's row at every flush is in lib/sheets/flush.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..headers import normalise_header
from ..row_identity import cell_text, identity, identity_keys

__all__ = ["cell_text", "identity", "identity_keys", "row_keys", "loose", "is_blank_row"]


def row_keys(
    df: pd.DataFrame,
    email_col: str | None,
    first_col: str | None = None,
    last_col: str | None = None,
) -> list[str]:
    """Row keys for a frame read from a sheet, in its row order (set them as its index)."""
    n = len(df)

    def col(name: str | None) -> list[Any]:
        return list(df[name]) if name is not None and name in df.columns else [""] * n

    return identity_keys(zip(col(email_col), col(first_col), col(last_col)))


loose = normalise_header  # headers are matched as everywhere else (lib/headers.py)


def is_blank_row(row: Sequence[str]) -> bool:
    return not any(str(c).strip() for c in row)
