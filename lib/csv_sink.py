"""Writing results back into a CSV file that people may edit while a run goes.

The file stays the user's: each write re-reads it just before writing, puts every result on
its person's row by identity (the normalised email and its occurrence, as a sheet's
write-back does: lib/row_identity.py), and changes only those result cells, so a cell
changed, a row added, removed or re-sorted meanwhile survives. A file that changed in a way
results cannot be merged into safely (its header row, its encoding or delimiter, a person
who now has more or fewer rows than when the run read the list, a file that no longer reads)
is not written at all: `CsvMergeError` says why in one line, the run keeps the results
pending (they are in the journal) and the next `status` or `send` writes them.

The replace is atomic (lib/atomic_file.py); the file is read again right before it, so an
edit saved while the results were being merged is merged too, not written over (an editor
that saves its own older copy afterwards still wins: nothing outside can prevent that).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import pandas as pd

from . import csvio
from .csvrecords import split_fields, unquote
from .headers import normalise_header
from .plan import apply_results
from .row_identity import cell_text, identity_keys
from .sources import LoadedList
from .writeback import (
    RESULT_COLUMNS,
    RowResult,
    canonical_of,
    is_own_column,
    merge_results,
    own_column,
    result_columns,
)

MERGE_ATTEMPTS = 3  # the file changed between the merge and the replace this often in a row: give up for now


class CsvMergeError(csvio.CsvError):
    """The file changed during the run in a way results cannot be merged into: nothing was written."""


def header_names(doc: csvio.CsvDocument) -> tuple[str, ...]:
    """The header row's fields as the file holds them (quotes and spaces around them removed)."""
    start, body_end, _end = doc.header
    return tuple(unquote(f).strip() for f in split_fields(doc.text[start:body_end], doc.delimiter))


def _base(key: str) -> str:
    return key.rsplit("#", 1)[0]


def _header_change(was: Sequence[str], now: Sequence[str], limit: int = 4) -> str:
    """What changed in a header row, shortly: columns gone, columns new, or columns moved."""

    def names(found: list[str]) -> str:
        return ", ".join(f"'{n}'" for n in found[:limit]) + (", …" if len(found) > limit else "")

    gone, new = [h for h in was if h not in now], [h for h in now if h not in was]
    parts = ([f"{names(gone)} no longer there"] if gone else []) + ([f"{names(new)} new"] if new else [])
    return "; ".join(parts) or "the same columns in another order"


class CsvFileSink:
    """Writes results into the CSV file a list was read from (implements writeback.ResultSink).
    `unplaced` holds results whose person has no row in the file now (removed, or the email
    edited); they are tried again at every write and stay in the journal whatever happens."""

    def __init__(self, path: str | Path, loaded: LoadedList) -> None:
        if loaded.document is None:
            raise ValueError("a CSV file sink needs the document the list was read from")
        self.path = Path(path)
        self.loaded = loaded
        self.writes = 0
        self.refusal = ""  # why the last write wrote nothing, "" after a write that went through
        doc = loaded.document
        cmap = loaded.cmap
        self._identity = (cmap.email, cmap.first_name, cmap.last_name)
        keys = self._keys(doc.frame)
        self._key_of = dict(zip((str(k) for k in loaded.frame.index), keys))  # row key -> identity as read
        self._counts = Counter(_base(k) for k in keys)
        self._doc: csvio.CsvDocument | None = doc
        self._bytes = doc.codec.encode(doc.text)
        self._header = header_names(doc)
        self._codec, self._delimiter = doc.codec, doc.delimiter
        self._unplaced: dict[str, RowResult] = {}

    @property
    def unplaced(self) -> list[RowResult]:
        return list(self._unplaced.values())

    def write(self, results: Sequence[RowResult]) -> None:
        pending = merge_results([*self._unplaced.values(), *results])
        if not pending:
            return
        for _ in range(MERGE_ATTEMPTS):
            data = self._read()
            doc = self._current(data)
            placed, unplaced = self._place(doc, pending)
            out, header = self._render(doc, placed)
            if self._read() != data:
                continue  # saved again while merging: merge into that
            if out != data:
                csvio.write_bytes_atomic(out, self.path)
                self._bytes, self._doc, self._header = out, None, header
            self._unplaced = unplaced
            self.loaded.frame = apply_results(self.loaded.frame, [r for _i, r in placed])
            self.writes += 1
            self.refusal = ""
            return
        self._refuse("it kept changing while Giftrun was writing to it")

    # -- the steps --------------------------------------------------------------------------
    def _read(self) -> bytes:
        if not self.path.is_file():
            self._refuse("it is no longer there (moved, renamed or deleted)")
        try:
            return csvio.read_file_bytes(self.path)
        except csvio.CsvError as exc:
            self._refuse(f"it cannot be read ({exc})")

    def _current(self, data: bytes) -> csvio.CsvDocument:
        """The file as it is now: the one Giftrun last read or wrote, or a changed one that
        is still the same list (same header row, encoding and delimiter)."""
        if data == self._bytes and self._doc is not None:
            return self._doc
        try:
            doc = csvio.read_csv(data, name=self.path.name)
        except csvio.CsvError as exc:
            self._refuse(f"it no longer reads as a list ({exc})")
        if data == self._bytes:  # what Giftrun itself wrote last
            self._doc = doc
            return doc
        if not _same_text(doc.codec, self._codec):
            self._refuse(f"it was saved in another encoding ({self._codec.label}, now {doc.codec.label})")
        if doc.delimiter != self._delimiter:
            self._refuse(f"its fields are now separated by {doc.delimiter!r} instead of {self._delimiter!r}")
        header = header_names(doc)
        if header != self._header:
            self._refuse(f"its header row changed ({_header_change(self._header, header)})")
        self._codec = doc.codec  # an ASCII file that now holds an accent is UTF-8: the same text
        return doc

    def _place(
        self, doc: csvio.CsvDocument, pending: Sequence[RowResult]
    ) -> tuple[list[tuple[int, RowResult]], dict[str, RowResult]]:
        keys = self._keys(doc.frame)
        row_of = {k: i for i, k in enumerate(keys)}
        counts = Counter(_base(k) for k in keys)
        placed: list[tuple[int, RowResult]] = []
        unplaced: dict[str, RowResult] = {}
        for r in pending:
            key = self._key_of.get(r.row_key)
            if key is None:
                unplaced[r.row_key] = r
                continue
            base = _base(key)
            was, now = self._counts[base], counts[base]
            if now and now != was and max(now, was) > 1:
                who = r.email.strip() or "a row without an email"
                self._refuse(
                    f"{who} is now on {now} rows (it was on {was}), so which row holds which result is not certain"
                )
            i = row_of.get(key)
            if i is None:
                unplaced[r.row_key] = r
            else:
                placed.append((i, r))
        return placed, unplaced

    def _render(self, doc: csvio.CsvDocument, placed: Sequence[tuple[int, RowResult]]) -> tuple[bytes, tuple[str, ...]]:
        """The file with the placed results written in, and its header row; result columns it
        lacks are added after the user's last column, in the contract's order."""
        frame = doc.frame.copy()
        targets = _targets(list(frame.columns), {name for _i, r in placed for name in r.values})
        for column in targets.values():
            if column not in frame.columns:
                frame[column] = pd.Series([""] * len(frame), index=frame.index, dtype="str")
        by_column: dict[str, dict[int, str]] = {}
        for i, r in placed:
            for name, value in r.values.items():
                by_column.setdefault(targets[name], {})[i] = cell_text(value)
        for column, cells in by_column.items():
            values = frame[column].astype(object).tolist()
            for i, value in cells.items():
                values[i] = value
            frame[column] = pd.Series(values, index=frame.index, dtype=object)
        written = list(dict.fromkeys(targets.values()))
        added = tuple(c for c in written if c not in doc.positions)
        return doc.render(frame, written), header_names(doc) + added

    def _keys(self, frame: pd.DataFrame) -> list[str]:
        n = len(frame)

        def col(name: str | None) -> list:
            return frame[name].tolist() if name is not None and name in frame.columns else [""] * n

        email, first, last = self._identity
        return identity_keys(zip(col(email), col(first), col(last)))

    def _refuse(self, why: str) -> NoReturn:
        self.refusal = f"{self.path.name} changed during the run and {why}: nothing was written to it."
        raise CsvMergeError(self.refusal)


def _same_text(now: csvio.TextCodec, was: csvio.TextCodec) -> bool:
    """An ASCII file is UTF-8 without a BOM as well: one that gained an accent is the same file."""
    plain = {("ascii", b""), ("utf-8", b"")}
    return now == was or {(now.name, now.bom), (was.name, was.bom)} <= plain


def _targets(columns: list[str], names: set[str]) -> dict[str, str]:
    """Result name (canonical, or Giftrun's own `X (Giftrun)`) -> the column it goes to: every
    result column once, the list's own where it has one, Giftrun's own where it made one."""
    found = result_columns(columns)
    own = {canonical_of(n) for n in names if is_own_column(n)} | {
        c for c, column in found.items() if is_own_column(column)
    }
    by_key = {normalise_header(c): c for c in columns}
    out: dict[str, str] = {}
    for canonical in RESULT_COLUMNS:
        if canonical in own:
            name = own_column(canonical)
            out[name] = by_key.get(normalise_header(name), name)
            out[canonical] = out[name]
        else:
            out[canonical] = found.get(canonical, canonical)
    for name in names - set(out):
        out[name] = name
    return out
