"""The row numbers a person sees beside their rows in their spreadsheet (or their CSV opened in
one): the header is row 1, so the first person is row 2 unless lines above or between shift it.
Review & send shows these and its messages name rows by them."""

from __future__ import annotations

from .sources import LoadedList


def spreadsheet_rows(loaded: LoadedList) -> list[int]:
    """Each data row's number in the file or sheet. A CSV knows the line each row starts on
    (title lines above the header and blank lines count); otherwise the header is row 1."""
    n = len(loaded.frame)
    doc = loaded.document
    if doc is not None and len(doc.lines) == n:
        return list(doc.lines)
    return list(range(2, n + 2))
