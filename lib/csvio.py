"""CSV in and out, for files as real spreadsheet exports make them.

Reading keeps every value as the text the user typed (no numbers, no dates, no NaN), so a
list that goes through Giftrun comes back unchanged apart from the result columns.
Writing neutralises spreadsheet formulas, and reading undoes exactly that, so our own files
round-trip to the original values.
"""
from __future__ import annotations

import csv
import io
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Iterable

import pandas as pd

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_ROWS = 20_000

DELIMITERS: tuple[str, ...] = (",", ";", "\t")  # preference order when counts tie
FORMULA_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")

# Attributes set on frames returned by the readers (informational; pandas may drop attrs).
ATTR_DELIMITER = "csv_delimiter"
ATTR_ENCODING = "csv_encoding"

_UTF8_BOM = b"\xef\xbb\xbf"
_MB = 1024 * 1024


class CsvError(Exception):
    """Root of CSV problems; str(exc) is a clear user-facing message (no traceback text)."""


# ---------------------------------------------------------------------------- formulas

def neutralise(value: str) -> str:
    """Stop spreadsheets running a cell as a formula (CSV injection) by prefixing `'`.

    Values that already look neutralised (`'` runs before a trigger) get one more `'`, so
    `restore` can always strip exactly one and give the original back.
    """
    if value.lstrip("'").startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def restore(value: str) -> str:
    """Undo `neutralise`: restore(neutralise(v)) == v for every string v."""
    if value.startswith("'") and value.lstrip("'").startswith(FORMULA_TRIGGERS):
        return value[1:]
    return value


# ---------------------------------------------------------------------------- reading

def read_csv_path(path: str | Path) -> pd.DataFrame:
    """Read a CSV file from disk; see `read_csv_bytes` for what is accepted."""
    p = Path(path)
    if not p.exists():
        raise CsvError(f"File not found: {p}")
    if p.is_dir():
        raise CsvError(f"File not found: {p} is a folder, not a file.")
    try:
        size = p.stat().st_size
        if size > MAX_UPLOAD_BYTES:  # refuse before reading it all into memory
            raise CsvError(_too_big_message(size))
        data = p.read_bytes()
    except PermissionError:
        raise CsvError(f"Cannot read {p}: permission denied.") from None
    except OSError as exc:
        raise CsvError(f"Cannot read {p}: {exc.strerror or exc}.") from None
    return read_csv_bytes(data, name=p.name)


def read_csv_bytes(data: bytes, *, name: str = "file") -> pd.DataFrame:
    """Parse an uploaded CSV into a frame of text columns (dtype str, empty cells "").

    `name` is only used to recognise an Excel workbook uploaded by mistake.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise CsvError(_too_big_message(len(data)))
    text, encoding = _decode(data, name)
    if not text.strip():
        raise CsvError("The file is empty.")
    delimiter = detect_delimiter(text)
    header, rows = _parse(text, delimiter)
    df = _build_frame(header, rows)
    df.attrs[ATTR_DELIMITER] = delimiter
    df.attrs[ATTR_ENCODING] = encoding
    return df


def _too_big_message(size: int) -> str:
    return f"The file is {size / _MB:.1f} MB; the limit is {MAX_UPLOAD_BYTES / _MB:g} MB."


def _not_csv_message(data: bytes, name: str) -> str:
    base = "This does not look like a CSV file."
    looks_excel = data[:4] == b"PK\x03\x04" or data[:4] == b"\xd0\xcf\x11\xe0"
    if looks_excel or name.lower().endswith((".xlsx", ".xls", ".xlsm")):
        return base + " It looks like an Excel workbook: in Excel choose File > Save As > CSV UTF-8, then upload that file."
    return base


# cp1252 for 0x80-0x9F, latin-1 (same code point) for the five bytes cp1252 leaves undefined.
_CP1252_FIX = {}
for _b in range(0x80, 0xA0):
    try:
        _CP1252_FIX[_b] = bytes([_b]).decode("cp1252")
    except UnicodeDecodeError:
        pass


def _decode(data: bytes, name: str) -> tuple[str, str]:
    """UTF-8 (BOM optional), else Windows-1252 as older Excel exports; UTF-16 by its BOM."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel "Unicode text" export
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise CsvError(_not_csv_message(data, name)) from None
    if b"\x00" in data:
        raise CsvError(_not_csv_message(data, name))
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM):]
        encoding = "utf-8-sig"
    else:
        encoding = "utf-8"
    try:
        return data.decode("utf-8"), encoding
    except UnicodeDecodeError:
        # latin-1 maps every byte; fixing 0x80-0x9F makes it cp1252 with a latin-1 fallback.
        return data.decode("latin-1").translate(_CP1252_FIX), "cp1252"


def detect_delimiter(text: str) -> str:
    """Pick the delimiter that occurs most often, outside quotes, in the header line.

    The header line is the first line with something besides whitespace, quotes and
    delimiters. Ties and single-column files fall back to the order of DELIMITERS.
    """
    for line in io.StringIO(text, newline=""):
        if not line.strip(" \t\r\n\"" + "".join(DELIMITERS)):
            continue
        counts = dict.fromkeys(DELIMITERS, 0)
        in_quotes = False
        for ch in line:
            if ch == '"':
                in_quotes = not in_quotes
            elif not in_quotes and ch in counts:
                counts[ch] += 1
        best = max(DELIMITERS, key=lambda d: counts[d])  # max keeps the first on ties
        return best if counts[best] else DELIMITERS[0]
    return DELIMITERS[0]


def _is_blank(row: list[str]) -> bool:
    return all(not cell.strip() for cell in row)


_CSV_ERRORS = {
    "unexpected end of data": "has a quote (\") that is never closed",
    "expected after": "has text right after a closing quote (\")",
    "field larger than field limit": "has a value that is too long",
}


def _parse(text: str, delimiter: str) -> tuple[list[str], list[list[str]]]:
    """Header and data rows; blank rows dropped, short rows padded, long rows refused."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"',
                        doublequote=True, skipinitialspace=False, strict=True)
    header: list[str] | None = None
    rows: list[list[str]] = []
    line_before = 0  # physical lines consumed before the current record
    try:
        for record in reader:
            start_line = line_before + 1
            line_before = reader.line_num
            if _is_blank(record):
                continue
            if header is None:
                header = record
                continue
            if len(record) > len(header):
                extra = record[len(header):]
                if not _is_blank(extra):
                    raise CsvError(
                        f"Line {start_line} has {len(record)} fields but the header has "
                        f"{len(header)}; there are too many fields on that line. Check for an "
                        f"extra '{_show_delimiter(delimiter)}' or a missing quote."
                    )
                record = record[: len(header)]  # trailing empty cells: harmless
            elif len(record) < len(header):
                record = record + [""] * (len(header) - len(record))
            if len(rows) >= MAX_ROWS:
                raise CsvError(
                    f"The file has more than {MAX_ROWS:,} people; the limit is {MAX_ROWS:,} rows. "
                    "Split it into smaller files."
                )
            rows.append(record)
    except csv.Error as exc:
        reason = next((msg for key, msg in _CSV_ERRORS.items() if key in str(exc)), None)
        where = f"Line {line_before + 1}"
        raise CsvError(f"{where} {reason}." if reason else f"{where} could not be read ({exc}).") from None
    if header is None:
        raise CsvError("The file is empty.")
    if not rows:
        raise CsvError("The file has a header row but no people in it.")
    return header, rows


def _show_delimiter(delimiter: str) -> str:
    return "tab" if delimiter == "\t" else delimiter


def _build_frame(header: list[str], rows: list[list[str]]) -> pd.DataFrame:
    columns = [list(col) for col in zip(*rows)]
    for col in columns:
        col[:] = [restore(v) for v in col]
    names = [restore(h.strip()).strip() for h in header]

    kept_names: list[str] = []
    kept_columns: list[list[str]] = []
    for position, (name, values) in enumerate(zip(names, columns), start=1):
        if not name:
            if all(not v.strip() for v in values):
                continue  # stray trailing delimiter in the header: nothing to keep
            name = f"Unnamed {position}"
        kept_names.append(name)
        kept_columns.append(values)

    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if not name or name not in kept_names:
            continue
        if name in seen:
            raise CsvError(
                f"Column '{name}' appears twice (columns {seen[name]} and {position}). "
                "Rename one and upload again."
            )
        seen[name] = position
    if len(set(kept_names)) != len(kept_names):  # an "Unnamed N" clashing with a real name
        dup = next(n for n in kept_names if kept_names.count(n) > 1)
        raise CsvError(f"Column '{dup}' appears twice. Rename one and upload again.")

    return pd.DataFrame({n: pd.array(v, dtype="str") for n, v in zip(kept_names, kept_columns)},
                        columns=pd.Index(kept_names, dtype="str"))


# ---------------------------------------------------------------------------- writing

def to_csv_bytes(df: pd.DataFrame, *, delimiter: str = ",") -> bytes:
    """Serialise for people: UTF-8 with BOM (Excel reads accents right), `\\n` line ends,
    columns in the frame's order, every cell and header neutralised against formulas.

    Missing values (None, NaN, NA) become empty cells; other values are written as str().
    """
    buf = io.StringIO()
    buf.write(_join((str(c) for c in df.columns), delimiter))
    columns = [[_cell(v) for v in df.iloc[:, i].tolist()] for i in range(df.shape[1])]
    for row in zip(*columns):
        buf.write(_join(row, delimiter))
    return buf.getvalue().encode("utf-8-sig")


def _cell(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    try:
        if pd.isna(value):  # NaT and friends
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


_NEEDS_QUOTES = re.compile(r'["\r\n]')


def _join(values: Iterable[str], delimiter: str) -> str:
    """One CSV line. Our own quoting because csv.writer leaves a lone \\r unquoted."""
    out = []
    for raw in values:
        v = neutralise(raw)
        if delimiter in v or _NEEDS_QUOTES.search(v):
            v = '"' + v.replace('"', '""') + '"'
        out.append(v)
    return delimiter.join(out) + "\n"


def write_csv_atomic(df: pd.DataFrame, path: str | Path, *, delimiter: str = ",") -> None:
    """Replace `path` so that a crash at any moment leaves the old or the new file, never
    a torn one: temp file in the same folder, fsync, os.replace, fsync the folder.

    Keeps an existing file's permission bits; writes through a symlink to its target.
    """
    data = to_csv_bytes(df, delimiter=delimiter)  # fail before touching the disk
    target = Path(os.path.realpath(path))
    folder = target.parent
    if target.is_dir():
        raise CsvError(f"Cannot save {path}: it is a folder.")
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_current_umask()
    except OSError as exc:
        raise CsvError(f"Cannot save {path}: {exc.strerror or exc}.") from None

    tmp_name: str | None = None
    try:
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
        tmp_name = None
    except OSError as exc:
        raise CsvError(f"Cannot save {path}: {exc.strerror or exc}.") from None
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable; some platforms cannot open folders, which is fine."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _current_umask() -> int:
    """Read the umask without os.umask()'s set-and-restore, which races with other threads."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022
