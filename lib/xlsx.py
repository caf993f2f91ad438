"""Excel workbooks (.xlsx) as lists: the first sheet, every value as text.

The workbook is turned into CSV text and read by `csvio.read_csv`, so a workbook meets the
same rules as a CSV file (header row, limits, duplicate columns) and the same messages. What
Giftrun hands back is a CSV: the download is "CSV with results"; the workbook is never written.
Values read as a person sees them in the cell where that is unambiguous: whole numbers
without ".0", dates as 2026-03-01, TRUE/FALSE for checkboxes.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime, time
from typing import Any

from .csvio import MAX_ROWS, MAX_UPLOAD_BYTES, CsvDocument, CsvError, read_csv

try:  # openpyxl is in requirements.txt; without it the app does not offer .xlsx
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException
except ImportError:  # pragma: no cover - exercised only where openpyxl is not installed
    openpyxl = None
    InvalidFileException = ValueError

XLSX_TYPES = ("xlsx",) if openpyxl is not None else ()
_SPARE_ROWS = 50  # rows read past MAX_ROWS, so blank rows at the end do not refuse a full list


def is_xlsx(data: bytes, name: str) -> bool:
    """A zip file named .xlsx/.xlsm (an .xls or a CSV is not)."""
    return data[:4] == b"PK\x03\x04" and name.lower().endswith((".xlsx", ".xlsm"))


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)


def read_xlsx(data: bytes, *, name: str = "file.xlsx") -> CsvDocument:
    """The workbook's first sheet as a list; a workbook that cannot be read is one CsvError."""
    if openpyxl is None:
        raise CsvError("Excel workbooks cannot be read here: save it as CSV UTF-8 and upload that.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise CsvError(f"The workbook is {len(data):,} bytes: save it as CSV UTF-8 and upload that.")
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError) as exc:
        raise CsvError(
            f"This Excel workbook cannot be read ({type(exc).__name__}): in Excel choose File > Save As > "
            "CSV UTF-8, then upload that file."
        ) from None
    try:
        sheet = book.worksheets[0]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for i, row in enumerate(sheet.iter_rows(values_only=True)):
            if i > MAX_ROWS + _SPARE_ROWS:
                break  # read_csv refuses the list with its usual message
            writer.writerow([cell_text(v) for v in row])
    finally:
        book.close()
    stem = name.rsplit(".", 1)[0]
    return read_csv(out.getvalue().encode("utf-8"), name=f"{stem}.csv")


def read_list(data: bytes, *, name: str) -> CsvDocument:
    """An uploaded list: a workbook's first sheet, or a CSV."""
    if XLSX_TYPES and is_xlsx(data, name):
        return read_xlsx(data, name=name)
    return read_csv(data, name=name)
