"""One write-back flush as steps over plain data: the values the flush just read, the results
to write, and what the previous flush wrote. `SheetSink` (sink.py) does the reading and
writing around them; each step is a pure function, tested on its own.

1. `read_layout`: where each column is and which person each row is now (row identity,
   identity.py), from one read of the tab.
2. `place_results`: each result's row. A key no longer present (row deleted, email edited)
   falls back to the result's email when exactly one row has it; otherwise the result is
   kept (`sink.unplaced`), retried at every later flush, and reported in
   `FlushReport.unplaced`.
3. `allocate_columns`: missing result columns (`writeback.RESULT_COLUMNS`, canonical
   order) go after the user's last used column, never reordering the user's own; existing
   ones are matched loosely ("gift_request_id" is "Gift request ID").
4. `repair_cells`: the Sheets API has no conditional write, so an edit that lands between a
   flush's read and its write (a few hundred milliseconds) can still shift a write onto a
   neighbour. The next flush checks the cells written by the previous one, by key: cells
   missing from their person's row are written again, and cells that landed on someone
   else's row are put back as they were.
5. `result_cells` + `changed_cells`: only cells whose value differs from what was read are
   written. `remember` keeps, by key, what was written and what those columns held before,
   for the next flush's step 4.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..models import normalize_email
from ..writeback import RESULT_COLUMNS, RowResult, result_positions
from .errors import NoHeaderRowError, SheetsError
from .identity import cell_text, identity_keys, is_blank_row, loose

Cell = tuple[int, int]  # (row, column), 0-based in the values read: row 0 is the header


@dataclass(frozen=True)
class Layout:
    """The tab as one flush read it."""

    values: list[list[str]]
    columns: dict[str, int]  # loose header → column; a result column → the one result_positions picks
    data_rows: list[int]  # rows that are not blank, in sheet order
    row_of: dict[str, int]  # row key → its row now
    key_of: dict[int, str]
    rows_by_email: dict[str, list[int]]  # normalised email → rows with it

    def cell(self, i: int, j: int) -> str:
        values = self.values
        return values[i][j] if i < len(values) and j < len(values[i]) else ""

    def last_used_column(self) -> int:
        """The rightmost column with anything in it (-1 for none)."""
        return max((j for row in self.values for j, v in enumerate(row) if v.strip()), default=-1)


def read_layout(
    values: list[list[str]],
    email_col: str | None,
    first_col: str | None = None,
    last_col: str | None = None,
    *,
    tab: str = "",
) -> Layout:
    """Columns and row keys of the values just read. Raises NoHeaderRowError when the header
    row is gone, SheetsError when an identity column is (results could not be matched)."""
    if not values or is_blank_row(values[0]):
        raise NoHeaderRowError(f"The header row of the tab '{tab}' is gone.")
    header = [c.strip() for c in values[0]]
    exact = {h: j for j, h in reversed(list(enumerate(header))) if h}
    columns = {loose(h): j for j, h in reversed(list(enumerate(header))) if h}
    columns.update({loose(c): j for c, j in result_positions(header).items()})  # which one is ours

    def position(name: str | None) -> int | None:
        if name is None:
            return None
        j = exact.get(name.strip(), columns.get(loose(name)))
        if j is None:
            raise SheetsError(
                f"The column '{name}' is no longer in the tab '{tab}'. Put it back "
                "(same name) so results can be matched to their rows."
            )
        return j

    ecol, fcol, lcol = position(email_col), position(first_col), position(last_col)

    def at(row: list[str], j: int | None) -> str:
        return row[j] if j is not None and j < len(row) else ""

    data_rows = [i for i in range(1, len(values)) if not is_blank_row(values[i])]
    keys = identity_keys((at(values[i], ecol), at(values[i], fcol), at(values[i], lcol)) for i in data_rows)
    rows_by_email: dict[str, list[int]] = defaultdict(list)
    if ecol is not None:
        for i in data_rows:
            if e := normalize_email(at(values[i], ecol)):
                rows_by_email[e].append(i)
    return Layout(
        values, columns, data_rows, dict(zip(keys, data_rows)), dict(zip(data_rows, keys)), dict(rows_by_email)
    )


@dataclass(frozen=True)
class Placement:
    placed: list[tuple[int, RowResult]]  # (row, result)
    unplaced: dict[str, RowResult]  # row key → result whose person is not in the tab now


def place_results(pending: Sequence[RowResult], layout: Layout) -> Placement:
    """Each result on its key's row now, else on the only row with its email (a row no other
    result of this flush has); otherwise unplaced, never on a guess."""
    claimed = {layout.row_of[r.row_key] for r in pending if r.row_key in layout.row_of}
    placed: list[tuple[int, RowResult]] = []
    unplaced: dict[str, RowResult] = {}
    for r in pending:
        i = layout.row_of.get(r.row_key)
        if i is None:
            candidates = layout.rows_by_email.get(normalize_email(r.email), []) if r.email else []
            if len(candidates) != 1 or candidates[0] in claimed:
                unplaced[r.row_key] = r
                continue
            i = candidates[0]
            claimed.add(i)
        placed.append((i, r))
    return Placement(placed, unplaced)


@dataclass(frozen=True)
class Columns:
    at: dict[str, int]  # loose name → column, for each column this flush writes or checks
    names: dict[str, str]  # loose name → the name shown in the header
    added: list[str] = field(default_factory=list)  # headers of the columns added, left to right


def allocate_columns(placed: Sequence[tuple[int, RowResult]], remembered: Mapping[str, str], layout: Layout) -> Columns:
    """Where each result column is. When a result needs a column the tab lacks, every missing
    result column is added (canonical order, then any other names) after the last used
    column, so the user's own columns never move. `remembered` (loose → name) are the
    columns the previous flush wrote: they are checked even with no new results."""
    names: dict[str, str] = {}
    for _i, r in placed:
        for name in r.values:
            names.setdefault(loose(name), name)
    for lname, name in remembered.items():
        names.setdefault(lname, name)
    at = {ln: layout.columns[ln] for ln in names if ln in layout.columns}
    added: list[str] = []
    if placed and any(ln not in at for ln in names):
        wanted = [c for c in RESULT_COLUMNS if loose(c) not in layout.columns]
        wanted_loose = {loose(c) for c in wanted}
        wanted += [n for ln, n in names.items() if ln not in layout.columns and ln not in wanted_loose]
        for j, n in enumerate(wanted, start=layout.last_used_column() + 1):
            at[loose(n)] = j
            added.append(n)
    return Columns(at, names, added)


@dataclass(frozen=True)
class WriteMemory:
    """What the previous flush wrote, by row key, and what those columns held before it."""

    written: dict[str, dict[str, str]] = field(default_factory=dict)  # key → {loose column: value}
    before: dict[str, dict[str, str]] = field(default_factory=dict)  # key → {loose column: value}
    names: dict[str, str] = field(default_factory=dict)  # loose column → header


def repair_cells(memory: WriteMemory, layout: Layout, columns: Columns) -> dict[Cell, str]:
    """Cells to write so the previous flush's values are on their people's rows and nobody
    else's: ours written again where missing, a neighbour's put back where ours landed."""
    if not memory.written:
        return {}
    ours_by_column: dict[str, set[str]] = defaultdict(set)
    for cells in memory.written.values():
        for ln, v in cells.items():
            ours_by_column[ln].add(v)
    repairs = _missing_writes(memory, layout, columns, ours_by_column)
    repairs.update(_misplaced_writes(memory, layout, ours_by_column, skip=set(repairs)))
    return repairs


def _missing_writes(
    memory: WriteMemory, layout: Layout, columns: Columns, ours_by_column: Mapping[str, set[str]]
) -> dict[Cell, str]:
    """Ours is missing if the cell shows what it held before, or a value we wrote for someone
    else (moved); a newer value written by others (a status refresh, a person) is left alone."""
    out: dict[Cell, str] = {}
    for key, cells in memory.written.items():
        i = layout.row_of.get(key)
        if i is None:
            continue  # the row was deleted after the write
        for ln, v in cells.items():
            j = columns.at.get(ln, layout.columns.get(ln))
            if j is None:
                continue  # the column was deleted
            cur = layout.cell(i, j)
            if cur != v and (cur == memory.before.get(key, {}).get(ln, "") or cur in ours_by_column[ln]):
                out[(i, j)] = v
    return out


def _misplaced_writes(
    memory: WriteMemory, layout: Layout, ours_by_column: Mapping[str, set[str]], *, skip: set[Cell]
) -> dict[Cell, str]:
    """A value we wrote for someone else, on a row whose own value was not ours: put back."""
    out: dict[Cell, str] = {}
    for i in layout.data_rows:
        key = layout.key_of[i]
        mine = memory.written.get(key, {})
        for ln, ours in ours_by_column.items():
            j = layout.columns.get(ln)
            if j is None or ln in mine or (i, j) in skip:
                continue
            cur, before = layout.cell(i, j), memory.before.get(key, {}).get(ln, "")
            if cur != before and cur in ours:
                out[(i, j)] = before
    return out


def result_cells(placed: Sequence[tuple[int, RowResult]], columns: Columns) -> dict[Cell, str]:
    """The cells this flush's results (and the headers of added columns) should hold."""
    cells = {(i, columns.at[loose(name)]): cell_text(v) for i, r in placed for name, v in r.values.items()}
    cells.update({(0, columns.at[loose(n)]): n for n in columns.added})
    return cells


def changed_cells(desired: Mapping[Cell, str], layout: Layout) -> dict[Cell, str]:
    """Only what differs from the tab as read: nothing is rewritten with its own value."""
    return {p: v for p, v in desired.items() if layout.cell(*p) != v}


def remember(changes: Mapping[Cell, str], layout: Layout, columns: Columns) -> WriteMemory:
    """What this flush wrote (data rows only, by key) and, for every row, what the written
    columns held before it: the next flush checks both (repair_cells)."""
    loose_of = {j: ln for ln, j in columns.at.items()}
    written: dict[str, dict[str, str]] = defaultdict(dict)
    for (i, j), v in changes.items():
        if i != 0 and i in layout.key_of and j in loose_of:
            written[layout.key_of[i]][loose_of[j]] = v
    kept = {(ln, j) for ln, j in columns.at.items() if any(ln in c for c in written.values())}
    before = {layout.key_of[i]: {ln: layout.cell(i, j) for ln, j in kept} for i in layout.data_rows}
    return WriteMemory(dict(written), before, {ln: columns.names.get(ln, ln) for ln, _ in kept})
