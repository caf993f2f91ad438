"""The row numbers a person sees beside their rows in their spreadsheet (or their CSV opened in
one): the header is row 1, so the first person is row 2 unless lines above or between shift it.
Every place that names a row — Review & send's grid and messages, the CLI's listings, the
invitation preview, the notes written back onto rows — names it by these, so a row number
means one person everywhere."""

from __future__ import annotations

from .sources import LoadedList


def spreadsheet_rows(loaded: LoadedList) -> list[int]:
    """Each data row's number in the file or sheet. A CSV's, as a spreadsheet opening it shows it:
    a row per record (title lines above the header and blank lines count; a multi-line cell is
    one row); a Google Sheet, each row's number in its tab (blank rows count); otherwise the
    header is row 1."""
    n = len(loaded.frame)
    if len(loaded.row_numbers) == n:
        return list(loaded.row_numbers)
    doc = loaded.document
    if doc is not None and len(doc.sheet_rows) == n:
        return list(doc.sheet_rows)
    return list(range(2, n + 2))
