"""A list as the run engine sees it, whatever it came from: a CSV file, an upload, a sheet."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from . import csvio
from .errors import GiftrunError
from .name_split import NameSplit, full_name_column, with_split
from .recipients import YES_TEXT, ColumnMap, ensure_columns, match_columns
from .writeback import ALL_RESULT_COLUMNS, APPROVED, RESULT_COLUMNS, result_columns


class SourceError(GiftrunError):
    """The list cannot be used as it is; the message says what to change."""


@dataclass
class LoadedList:
    list_key: str
    name: str
    frame: pd.DataFrame  # index = row keys (text); user's columns first, then result columns
    cmap: ColumnMap
    user_columns: tuple[str, ...] = field(default=())
    document: csvio.CsvDocument | None = None  # the CSV file as read: results are written back into it
    split: NameSplit | None = None  # a full-name column split into Giftrun's first/last name columns
    # Each row's number as the user's spreadsheet shows it (a CSV's line, a sheet's row); kept when
    # the document is set aside, so every message names a row as the app's grid does (lib/sheet_rows.py)
    row_numbers: tuple[int, ...] = ()

    def require_columns(self, *, approval: bool) -> None:
        missing = self.cmap.missing()
        if approval and not self.cmap.approved:
            missing.append(f"'{APPROVED}' ({YES_TEXT} marks a row for sending)")
        if missing:
            raise SourceError(
                f"{self.name}: no column found for {', '.join(missing)}. Columns in the list: "
                f"{', '.join(self.user_columns) or '(none)'}. Rename a column, or map it with "
                "--map FIELD=COLUMN (fields: first_name, last_name, email, approved)."
            )


def positional_keys(n: int) -> list[str]:
    return [str(i) for i in range(n)]


def prepare(
    frame: pd.DataFrame,
    *,
    list_key: str,
    name: str,
    overrides: Mapping[str, str] | None = None,
    row_keys: Sequence[str] | None = None,
    document: csvio.CsvDocument | None = None,
    split: NameSplit | None = None,
    row_numbers: Sequence[int] | None = None,
) -> LoadedList:
    """The list with every result column: the user's own where the list has one (matched
    loosely, `writeback.result_columns`), the missing ones added after the user's columns.
    With `split`, the full-name column's two halves are added beside it and used as the names.
    `row_numbers`: a sheet's own row number of each row (a CSV's come from its `document`)."""
    if split is not None:
        frame = with_split(frame, split)
        overrides = {"first_name": split.columns[0], "last_name": split.columns[1], **(overrides or {})}
    user_columns = tuple(str(c) for c in frame.columns)
    present = result_columns(user_columns)
    df = ensure_columns(frame, [c for c in RESULT_COLUMNS if c not in present]).reset_index(drop=True)
    df.index = pd.Index(list(row_keys) if row_keys is not None else positional_keys(len(df)), dtype=object)
    numbers = tuple(document.sheet_rows) if document is not None else tuple(row_numbers or ())
    cmap = match_columns(user_columns, overrides)
    return LoadedList(list_key, name, df, cmap, user_columns, document, split, numbers)


def suggested_split(frame: pd.DataFrame) -> NameSplit | None:
    """A split of the list's full-name column, when it has one and no first or last name column."""
    columns = [str(c) for c in frame.columns]
    cmap = match_columns(columns)
    if cmap.first_name or cmap.last_name:
        return None
    column = full_name_column(columns, [cmap.email, cmap.approved])
    return NameSplit(column) if column else None


def with_name_split(loaded: LoadedList, split: NameSplit | None) -> LoadedList:
    """`loaded` split another way (or not at all: then the names have no column until picked);
    approvals and every other cell as they were."""
    old = loaded.split.columns if loaded.split else ()
    frame = loaded.frame.drop(columns=[c for c in old if c in loaded.frame.columns])
    user_columns = tuple(c for c in loaded.user_columns if c not in old)
    names: dict[str, str | None] = {"first_name": None, "last_name": None}
    if split is not None:
        frame = with_split(frame, split)
        at = user_columns.index(split.column) + 1
        user_columns = (*user_columns[:at], *split.columns, *user_columns[at:])
        names = {"first_name": split.columns[0], "last_name": split.columns[1]}
    cmap = type(loaded.cmap)(**{**vars(loaded.cmap), **names})
    return replace(loaded, frame=frame, cmap=cmap, user_columns=user_columns, split=split)


def results_in(frame: pd.DataFrame) -> list[str]:
    """The frame's columns that hold Giftrun's results, in the contract's order."""
    found = result_columns(frame.columns)
    return [found[c] for c in ALL_RESULT_COLUMNS if c in found]


def csv_bytes(loaded: LoadedList, frame: pd.DataFrame, columns: Sequence[str]) -> bytes:
    """The list as a CSV file with `columns` of `frame` written in: the user's own file
    with only those cells changed when it came from one, else a new file (user columns as
    they are, Giftrun's result columns protected against formulas)."""
    if loaded.document is not None:
        return loaded.document.render(frame, columns)
    derived = loaded.split.columns if loaded.split else ()  # Giftrun's name halves are not the user's data
    keep = [c for c in loaded.user_columns if c not in derived] + [c for c in columns if c not in loaded.user_columns]
    return csvio.to_csv_bytes(frame[keep], protect=results_in(frame))


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
        document = csvio.read_csv_file(p)
    except csvio.CsvError as exc:
        raise SourceError(str(exc)) from None
    return prepare(document.frame, list_key=csv_list_key(p), name=p.name, overrides=overrides, document=document)
