"""CSV in and out, for files as real spreadsheet exports make them.

Reading keeps every value as the text the user typed (no numbers, no dates, no NaN) and
keeps the file itself (`CsvDocument`): its encoding and BOM, delimiter, quoting, line ends,
lines above the header, blank rows, a last line without a line end. Writing results back
(`CsvDocument.render`) changes only the cells of the columns being written: everything
else comes back byte for byte. Only what Giftrun writes is protected against formulas
(`neutralise`); the user's own values are never touched.

Limits (the README states them): a list holds up to MAX_LIST_BYTES of the user's own data
(Giftrun's result columns do not count, so a list Giftrun wrote back is accepted again)
and MAX_ROWS people; a cell holds up to MAX_CELL_CHARS characters.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import csvtext
from .atomic_file import AtomicWriteError, replace_file
from .csvrecords import (
    ANY_DELIMITER,
    SEP_LINE,
    ParseError,
    detect_delimiter,
    filled,
    is_blank,
    quote,
    quote_all,
    records,
    show_delimiter,
    split_fields,
    unquote,
)
from .csvtext import TextCodec
from .errors import GiftrunError
from .writeback import (
    ELIGIBILITY,
    GIFT_REQUEST_ID,
    GIFT_STATUS,
    REDEMPTION_URL,
    SEND_ERROR,
    SENT_AT,
    SKIP_REASON,
    canonical_of,
    is_result_column,
    result_positions,
)

MIB = 1024 * 1024
MAX_LIST_BYTES = 20 * MIB  # the user's own data: the file without Giftrun's result columns
MAX_ROWS = 20_000
MAX_CELL_CHARS = 50_000  # Google Sheets' own limit per cell, so a CSV and a sheet hold the same lists

# What Giftrun writes into one result cell, at most (bytes in the file's encoding, quotes
# included). Longer values are cut with "…"; real ones are far shorter.
RESULT_CELL_BYTES: dict[str, int] = {
    GIFT_REQUEST_ID: 128,
    REDEMPTION_URL: 1024,
    SEND_ERROR: 1024,
    GIFT_STATUS: 64,
    ELIGIBILITY: 32,
    SKIP_REASON: 512,
    SENT_AT: 64,
}
# The most read at all. Every file Giftrun accepts and writes back stays under it: the
# user's data, result cells at their longest (and a delimiter each) on every row, and room
# for short rows padded out to reach their result cells (tests/test_list_limits.py).
MAX_UPLOAD_BYTES = 100 * MIB

LIMITS_TEXT = (
    f"Up to {MAX_LIST_BYTES:,} bytes ({MAX_LIST_BYTES // MIB} MB) of your own data and {MAX_ROWS:,} "
    f"people per list; Giftrun's result columns don't count towards the size."
)

# The app's uploader takes files up to the list limit itself (a file Giftrun wrote back with its
# results counts whole there); .streamlit/config.toml's server.maxUploadSize is the same number.
UPLOAD_LIMIT_MB = MAX_LIST_BYTES // MIB
UPLOAD_LIMITS_TEXT = f"Up to {UPLOAD_LIMIT_MB} MB ({MAX_LIST_BYTES:,} bytes) per file and {MAX_ROWS:,} people per list."

FORMULA_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")

# Attributes set on frames returned by the readers (informational; pandas may drop attrs).
ATTR_DELIMITER = "csv_delimiter"
ATTR_ENCODING = "csv_encoding"

_TITLE_LOOKAHEAD = 20  # non-blank lines looked at to find the header below a title


class CsvError(GiftrunError):
    """Root of CSV problems; `message` is a clear user-facing message (no traceback text)."""


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


# ---------------------------------------------------------------------------- the document


@dataclass(frozen=True, eq=False)
class CsvDocument:
    """A CSV file as read: its frame (text columns) and what is needed to write it back
    with only some columns changed (`render`)."""

    frame: pd.DataFrame
    text: str
    codec: TextCodec
    delimiter: str
    header: tuple[int, int, int]  # start, end of its fields, end with the line end
    width: int  # fields in the header
    rows: list[tuple[int, int, int]]  # the same for each data row, in frame order
    lines: list[int]  # first line number of each data row
    positions: dict[str, int]  # frame column -> field index in the file
    results_at: frozenset[int]  # field indexes of Giftrun's result columns
    notes: tuple[str, ...] = field(default=())  # what was worked around, for the user
    # each data row's number as a spreadsheet opening the file shows it: one per record, blank
    # lines and title lines included, a multi-line cell one row (`lines` counts its line ends)
    sheet_rows: list[int] = field(default_factory=list)

    def render(self, frame: pd.DataFrame, columns: Iterable[str]) -> bytes:
        """The file with `columns` of `frame` (the document's rows, in order) written in:
        existing columns in place, new ones after the last header field. A cell is only
        rewritten when its value changed; everything else keeps its bytes."""
        if len(frame) != len(self.rows):
            raise ValueError(f"frame has {len(frame)} rows, the file {len(self.rows)}")
        d, text = self.delimiter, self.text
        targets: list[tuple[int, bool, int | None, list[str], dict[str, str]]] = []
        new_names: list[str] = []
        for name in columns:
            if name in self.positions:
                pos = self.positions[name]
                result = pos in self.results_at
            else:
                pos = self.width + len(new_names)
                new_names.append(name)
                result = is_result_column(name)
            cap = RESULT_CELL_BYTES.get(canonical_of(name) or "") if result else None
            # each column's cells as text once, and each distinct value written once (a column repeats a few)
            targets.append((pos, result, cap, [_cell(v) for v in frame[name].tolist()], {}))

        pieces: list[str] = []
        cursor = 0
        if new_names:
            start, body_end, _end = self.header
            pieces += [
                text[cursor:start],
                text[start:body_end],
                "".join(d + self._field(n, is_result_column(n), None) for n in new_names),
            ]
            cursor = body_end
        for i, (start, body_end, _end) in enumerate(self.rows):
            raw = split_fields(text[start:body_end], d)
            full = len(raw) >= self.width  # rows as wide as the header get every new column, empty or not
            changes: dict[int, str] = {}
            for pos, result, cap, values, memo in targets:
                value = values[i]
                if pos < len(raw):
                    current = unquote(raw[pos])
                    if (restore(current) if result else current) == value:
                        continue
                elif not value and not full:
                    continue
                if (field_text := memo.get(value)) is None:
                    field_text = memo[value] = self._field(value, result, cap)
                changes[pos] = field_text
            if not changes:
                continue
            raw += [""] * (max(changes) + 1 - len(raw))
            for pos, written in changes.items():
                raw[pos] = written
            pieces += [text[cursor:start], d.join(raw)]
            cursor = body_end
        pieces.append(text[cursor:])
        return self.codec.encode("".join(pieces))

    def _field(self, value: str, result: bool, cap: int | None) -> str:
        """One cell as Giftrun writes it: its own values neutralised and bounded; quoted when
        it holds any delimiter, so what it writes never sways how the file is read next time."""
        text = neutralise(value) if result else value
        if cap is not None:
            text = text[: cap + 1]  # a character takes a byte at least: the rest can never fit
        text = self.codec.fit(text)
        out = quote_all(text)
        if cap is not None and self.codec.size(out) > cap:
            more, size = self.codec.fit("…"), self.codec.size
            special = ANY_DELIMITER.search(text)
            first = special.start() if special else len(text)
            qsize = size('"')

            def written(k: int) -> int:  # bytes of the quoted prefix of k characters with its ellipsis
                extra = 2 * qsize + qsize * text.count('"', 0, k) if k > first else 0
                return size(text[:k] + more) + extra

            lo, hi = 0, len(text)
            while lo < hi:  # the longest prefix that fits with its ellipsis
                mid = (lo + hi + 1) // 2
                if written(mid) <= cap:
                    lo = mid
                else:
                    hi = mid - 1
            out = quote_all(text[:lo] + more)
        return out

    def own_bytes(self) -> int:
        """The file's size without Giftrun's result columns: what MAX_LIST_BYTES limits."""
        return _own_bytes(self.text, self.codec, self.delimiter, [self.header, *self.rows], self.results_at)


def _own_bytes(
    text: str, codec: TextCodec, d: str, bounds: Iterable[tuple[int, int, int]], results_at: frozenset[int]
) -> int:
    """The file's size without the result cells (and the empty cells at the end of a row,
    which padding a short row out to its result cells adds): writing results back never
    changes it."""
    size = codec.size
    total = len(codec.bom) + size(text)
    dsize = size(d)
    for start, body_end, _end in bounds:
        raw = split_fields(text[start:body_end], d)
        dropped = [j for j in range(len(raw)) if j in results_at]
        own = [j for j in range(len(raw)) if j not in results_at]
        while own and not raw[own[-1]]:
            dropped.append(own.pop())
        total -= sum(size(raw[j]) + dsize for j in dropped)
    return max(total, 0)


# ---------------------------------------------------------------------------- reading


def read_csv(data: bytes, *, name: str = "file") -> CsvDocument:
    """Parse an uploaded CSV: the frame is text columns (dtype str, empty cells ""), one row
    per person (blank rows are not people), in file order.

    Accepted: UTF-8 (BOM optional), Windows-1252, UTF-16 and UTF-32 (BOM optional); comma,
    semicolon, tab or pipe; an Excel `sep=` first line; title lines above the header.
    `name` is only used to recognise an Excel workbook uploaded by mistake.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise CsvError(_too_big_message(len(data)))
    try:
        text, codec = csvtext.decode(data, name)
    except csvtext.TextError as exc:
        raise CsvError(str(exc)) from None
    if not text.strip():
        raise CsvError("The file is empty.")
    sep = SEP_LINE.match(text)
    delimiter = sep.group(1) if sep else detect_delimiter(text)
    begin = sep.end() if sep else 0
    try:
        doc = _read(text, codec, delimiter, begin, 2 if sep else 1, check_size=len(data) > MAX_LIST_BYTES)
    except ParseError as exc:
        raise CsvError(f"Line {exc.line} {exc.reason}.") from None
    doc.frame.attrs[ATTR_DELIMITER] = delimiter
    doc.frame.attrs[ATTR_ENCODING] = codec.label
    return doc


def read_csv_bytes(data: bytes, *, name: str = "file") -> pd.DataFrame:
    """The frame of `read_csv`."""
    return read_csv(data, name=name).frame


def _header_at(head: list[tuple[int, int, int, int, list[str]]]) -> tuple[int, list[int]]:
    """The header's place among the first records, and the title lines above it (one filled
    field each) that a report export puts there."""
    non_blank = [k for k, r in enumerate(head) if not is_blank(r[4])]
    if not non_blank:
        raise CsvError("The file is empty.")
    wide = next((k for k in non_blank if filled(head[k][4]) >= 2), None)
    if wide is not None and all(filled(head[k][4]) == 1 for k in non_blank if k < wide):
        return wide, [k for k in non_blank if k < wide]
    return non_blank[0], []


def _read(text: str, codec: TextCodec, d: str, begin: int, first_line: int, *, check_size: bool) -> CsvDocument:
    stream = records(text, d, begin, first_line)
    head: list[tuple[int, int, int, int, list[str]]] = []
    for rec in stream:  # enough lines to tell a title from the header
        head.append(rec)
        if sum(1 for r in head if not is_blank(r[4])) >= _TITLE_LOOKAHEAD:
            break
    at, titles = _header_at(head)
    header_rec = head[at]
    header_values = header_rec[4]
    width = len(header_values)
    names = [h.strip() for h in header_values]

    rows: list[tuple[int, int, int]] = []
    lines: list[int] = []
    sheet_rows: list[int] = []
    values: list[list[str]] = []
    ordinal = [at + 1]  # the header's row in a spreadsheet: one row per record above it

    def take(rec: tuple[int, int, int, int, list[str]]) -> None:
        start, body_end, end, line, fields = rec
        ordinal[0] += 1
        if is_blank(fields):
            return
        if len(fields) > width:
            if not is_blank(fields[width:]):
                raise CsvError(_too_many_fields(line, len(fields), header_rec[3], width, d, bool(values)))
            fields = fields[:width]
        elif len(fields) < width:
            fields = fields + [""] * (width - len(fields))
        if len(values) >= MAX_ROWS:
            raise CsvError(
                f"The file has more than {MAX_ROWS:,} people; the limit is {MAX_ROWS:,} rows. "
                "Split it into smaller files."
            )
        rows.append((start, body_end, end))
        lines.append(line)
        sheet_rows.append(ordinal[0])
        values.append(fields)

    try:
        for rec in head[at + 1 :]:
            take(rec)
        for rec in stream:
            take(rec)
    except ParseError as exc:
        column = names[exc.field] if exc.field < len(names) and names[exc.field] else None
        where = f"Line {exc.line}" + (f" (column '{column}')" if column else "")
        raise CsvError(f"{where} {exc.reason}.") from None
    if not values:
        raise CsvError("The file has a header row but no people in it.")

    results_at = frozenset(result_positions(names).values())
    if check_size:
        own = _own_bytes(text, codec, d, [header_rec[:3], *rows], results_at)
        if own > MAX_LIST_BYTES:
            raise CsvError(_too_big_message(own, besides_results=own < len(codec.bom) + codec.size(text)))
    frame, positions = _build_frame(names, values, results_at, lines, header_rec[3])
    notes = _title_notes(head, titles, header_rec[3])
    return CsvDocument(
        frame=frame,
        text=text,
        codec=codec,
        delimiter=d,
        header=header_rec[:3],
        width=width,
        rows=rows,
        lines=lines,
        positions=positions,
        results_at=results_at,
        notes=notes,
        sheet_rows=sheet_rows,
    )


def _title_notes(head: list, titles: list[int], header_line: int) -> tuple[str, ...]:
    """What reading the file worked around: title lines above the header, kept as they are."""
    if not titles:
        return ()
    first = head[titles[0]]
    shown = next(v.strip() for v in first[4] if v.strip())
    where = f"line {first[3]}" if len(titles) == 1 else f"lines {first[3]}–{head[titles[-1]][3]}"
    return (
        f"The column names are on line {header_line}; {where} above them "
        f"({_shorten(shown)!r}{', …' if len(titles) > 1 else ''}) was read as a title and is kept as it is.",
    )


def _too_many_fields(line: int, count: int, header_line: int, width: int, d: str, after_rows: bool) -> str:
    shown = show_delimiter(d)
    if not after_rows and width <= 2:  # the first row is wider than a short "header": a title above it?
        return (
            f"Line {line} has {count} fields but line {header_line}, read as the column names, has {width}. "
            f"If line {header_line} is a title or a note above the column names, delete it and upload again; "
            f"otherwise check line {line} for an extra '{shown}' or a missing quote."
        )
    return (
        f"Line {line} has {count} fields but the header has {width}; there are too many fields on that "
        f"line. Check for an extra '{shown}' or a missing quote."
    )


def _shorten(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


_EMAIL_LIKE = re.compile(r"^[^@\s\"',;<>]+@[^@\s\"',;<>]+\.[^@\s\"',;<>]{2,}$")


def _build_frame(
    names: list[str], rows: list[list[str]], results_at: frozenset[int], lines: list[int], header_line: int
) -> tuple[pd.DataFrame, dict[str, int]]:
    columns = [list(col) for col in zip(*rows)]
    for j in results_at:  # only Giftrun's own cells were neutralised when written
        columns[j] = [restore(v) for v in columns[j]]

    person = next((h for h in names if _EMAIL_LIKE.match(h)), None)
    if person is not None:
        raise CsvError(
            f"Line {header_line} should hold the column names, but it holds an email address ({person!r}): "
            "add a first line with the column names (First name, Last name, Email, …) and upload again."
        )

    kept: list[tuple[str, int]] = []
    for position, (name, values) in enumerate(zip(names, columns), start=1):
        if not name:
            if all(not v.strip() for v in values):
                continue  # a stray delimiter in the header: nothing to keep (the file keeps it as it is)
            name = f"Unnamed {position}"
        kept.append((name, position - 1))

    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if not name:
            continue
        if name in seen:
            raise CsvError(
                f"Column '{name}' appears twice (columns {seen[name]} and {position}). Rename one and upload again."
            )
        seen[name] = position
    kept_names = [n for n, _ in kept]
    if len(set(kept_names)) != len(kept_names):  # an "Unnamed N" clashing with a real name
        dup = next(n for n in kept_names if kept_names.count(n) > 1)
        raise CsvError(f"Column '{dup}' appears twice. Rename one and upload again.")

    for name, j in kept:
        values = columns[j]
        longest = max(range(len(values)), key=lambda i: len(values[i]))
        if len(values[longest]) > MAX_CELL_CHARS:
            value = values[longest]
            extra = (
                ' It runs over several lines: check that line for a quote (") that closes much later than it should.'
                if "\n" in value or "\r" in value
                else ""
            )
            raise CsvError(
                f"Line {lines[longest]}, column '{name}': the value is {len(value):,} characters long; "
                f"the limit is {MAX_CELL_CHARS:,} characters per cell.{extra}"
            )
    long_name = next((h for h in names if len(h) > MAX_CELL_CHARS), None)
    if long_name is not None:
        raise CsvError(
            f"Line {header_line}, the column names: one is {len(long_name):,} characters long; the limit "
            f"is {MAX_CELL_CHARS:,} characters per cell. Check the first lines of the file for a misplaced "
            'quote (").'
        )
    if any("\x00" in h for h in names):
        raise CsvError(_nul_message(header_line, next(h for h in names if "\x00" in h).replace("\x00", "")))
    for name, j in kept:
        hit = next((i for i, v in enumerate(columns[j]) if "\x00" in v), None)
        if hit is not None:
            raise CsvError(_nul_message(lines[hit], name))

    frame = pd.DataFrame(
        {n: pd.array(columns[j], dtype="str") for n, j in kept}, columns=pd.Index(kept_names, dtype="str")
    )
    return frame, {n: j for n, j in kept}


def _nul_message(line: int, column: str) -> str:
    return (
        f"Line {line}, column '{column}' contains a NUL character (an invisible zero byte), which usually "
        "means the file was damaged or saved in an unusual way. Remove it (or save the file again as CSV "
        "UTF-8) and upload again."
    )


def _too_big_message(size: int, *, besides_results: bool = False) -> str:
    """In bytes: programs disagree on what a MB is (Streamlit's uploader shows 1,000,000)."""
    what = (
        f"The file holds {size:,} bytes of your own data besides Giftrun's result columns"
        if besides_results
        else f"The file is {size:,} bytes"
    )
    return (
        f"{what}; a list can hold up to {MAX_LIST_BYTES:,} bytes ({MAX_LIST_BYTES // MIB} MB) of your own data. "
        "Split it into smaller files."
    )


def read_file_bytes(path: str | Path) -> bytes:
    """A CSV file's bytes, refused with a clear message before anything large is read."""
    p = Path(path)
    if not p.exists():
        raise CsvError(f"File not found: {p}")
    if p.is_dir():
        raise CsvError(f"File not found: {p} is a folder, not a file.")
    try:
        size = p.stat().st_size
        if size > MAX_UPLOAD_BYTES:  # refuse before reading it all into memory
            raise CsvError(_too_big_message(size))
        return p.read_bytes()
    except PermissionError:
        raise CsvError(f"Cannot read {p}: permission denied.") from None
    except OSError as exc:
        raise CsvError(f"Cannot read {p}: {exc.strerror or exc}.") from None


def read_csv_file(path: str | Path) -> CsvDocument:
    """Read a CSV file from disk; see `read_csv` for what is accepted."""
    return read_csv(read_file_bytes(path), name=Path(path).name)


def read_csv_path(path: str | Path) -> pd.DataFrame:
    """The frame of `read_csv_file`."""
    return read_csv_file(path).frame


# ---------------------------------------------------------------------------- writing


def to_csv_bytes(df: pd.DataFrame, *, delimiter: str = ",", protect: Iterable[str] | None = None) -> bytes:
    """A new CSV of a frame, for people: UTF-8 with BOM (Excel reads accents right), `\\n`
    line ends, columns in the frame's order. Cells of the `protect` columns (all of them
    when None: data from outside, like &Open's) are neutralised against formulas; the
    others are written as they are. A list read from a CSV file is written back with
    `CsvDocument.render` instead, which keeps the file's own bytes.

    Missing values (None, NaN, NA) become empty cells; other values are written as str().
    """
    guarded = None if protect is None else set(protect)
    safe = [guarded is None or name in guarded for name in df.columns]
    buf = io.StringIO()
    buf.write(_join([neutralise(str(c)) if s else str(c) for c, s in zip(df.columns, safe)], delimiter))
    columns = [
        [neutralise(_cell(v)) if safe[i] else _cell(v) for v in df.iloc[:, i].tolist()] for i in range(df.shape[1])
    ]
    for row in zip(*columns):
        buf.write(_join(row, delimiter))
    return buf.getvalue().encode("utf-8-sig")


def _cell(value: object) -> str:
    if type(value) is str:  # nearly every cell: text as read
        return value
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    try:
        if pd.isna(value):  # NaT and friends
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def _join(values: Iterable[str], delimiter: str) -> str:
    """One CSV line. Our own quoting because csv.writer leaves a lone \\r unquoted."""
    return delimiter.join(quote(v, delimiter) for v in values) + "\n"


def write_csv_atomic(df: pd.DataFrame, path: str | Path, *, delimiter: str = ",") -> None:
    """Write a frame as a new CSV (`to_csv_bytes`) with `write_bytes_atomic`."""
    write_bytes_atomic(to_csv_bytes(df, delimiter=delimiter), path)  # fail before touching the disk


def write_bytes_atomic(data: bytes, path: str | Path) -> None:
    """`atomic_file.replace_file`, its refusals as a CsvError (what the CSV paths report)."""
    try:
        replace_file(data, path)
    except AtomicWriteError as exc:
        raise CsvError(exc.message) from None
