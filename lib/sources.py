"""A list as the run engine sees it, whatever it came from: a CSV file, an upload, a sheet."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from . import csvio
from .plan import apply_results
from .recipients import ColumnMap, ensure_columns, match_columns
from .writeback import APPROVED, RESULT_COLUMNS, RowResult


class SourceError(Exception):
    """The list cannot be used as it is; the message says what to change."""


@dataclass
class LoadedList:
    list_key: str
    name: str
    frame: pd.DataFrame  # index = row keys (text); user's columns first, then result columns
    cmap: ColumnMap
    user_columns: tuple[str, ...] = field(default=())
    delimiter: str = ","  # a semicolon export is written back with semicolons, so Excel still opens it

    def require_columns(self, *, approval: bool) -> None:
        missing = self.cmap.missing()
        if approval and not self.cmap.approved:
            missing.append(f"'{APPROVED}' (true/yes/y/1/x/✓ marks a row for sending)")
        if missing:
            raise SourceError(
                f"{self.name}: no column found for {', '.join(missing)}. Columns in the list: "
                f"{', '.join(self.user_columns) or '(none)'}. Rename a column, or map it with "
                "--map FIELD=COLUMN (fields: first_name, last_name, email, approved).")


def positional_keys(n: int) -> list[str]:
    return [str(i) for i in range(n)]


def prepare(frame: pd.DataFrame, *, list_key: str, name: str, overrides: Mapping[str, str] | None = None,
            row_keys: Sequence[str] | None = None) -> LoadedList:
    user_columns = tuple(str(c) for c in frame.columns)
    df = ensure_columns(frame, RESULT_COLUMNS).reset_index(drop=True)
    df.index = pd.Index(list(row_keys) if row_keys is not None else positional_keys(len(df)), dtype=object)
    return LoadedList(list_key, name, df, match_columns(user_columns, overrides), user_columns)


def csv_list_key(path: Path) -> str:
    return f"csv:{path.resolve()}"


def upload_list_key(name: str, owner: str = "local") -> str:
    """One person's uploads of the same list name share a journal, so a re-uploaded,
    corrected file never re-sends the people already sent from it; another user's file
    of the same name is another list (the look-back and gift ids on rows guard across lists)."""
    ident = f"{owner.strip().lower()}\n{name.strip().lower()}"
    return "list:" + hashlib.sha256(ident.encode()).hexdigest()[:16]


def load_csv_path(path: str | Path, overrides: Mapping[str, str] | None = None) -> LoadedList:
    p = Path(path)
    try:
        frame = csvio.read_csv_path(p)
    except csvio.CsvError as exc:
        raise SourceError(str(exc)) from None
    loaded = prepare(frame, list_key=csv_list_key(p), name=p.name, overrides=overrides)
    loaded.delimiter = frame.attrs.get(csvio.ATTR_DELIMITER, ",")
    return loaded


class CsvFileSink:
    """Writes the whole list back atomically on each flush: a kill leaves the old file or
    the new one, never a torn one."""

    def __init__(self, path: str | Path, loaded: LoadedList) -> None:
        self.path = Path(path)
        self.loaded = loaded
        self.writes = 0

    def write(self, results: Sequence[RowResult]) -> None:
        self.loaded.frame = apply_results(self.loaded.frame, results)
        csvio.write_csv_atomic(self.loaded.frame, self.path, delimiter=self.loaded.delimiter)
        self.writes += 1



