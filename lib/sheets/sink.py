"""The write-back sink: results go back to the list's own tab, one batched write per flush.

Only cells whose value differs from what the flush read are written (flush.py decides
which), grouped into rectangles, in ONE `values:batchUpdate` with valueInputOption RAW (so
"=HYPERLINK(...)" or "00123" stay text). The grid is widened first when needed (Google
refuses writes outside it). A payload above ~1.8 MB is split into several calls. 429 and
5xx are retried by the caller; a 429 that outlasts the attempts raises `SheetsQuotaError`
and the run keeps the results pending (they live in its journal) and retries them later.

Quota: Google allows 60 write requests a minute per user, and one service account is one
user for everybody. A flush costs one read and at most one write (plus one
`appendDimension` the first time the grid is too narrow).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gspread.utils import absolute_range_name, rowcol_to_a1

from ..writeback import RowResult, merge_results
from .caller import Caller, Counted, SheetsRetry
from .errors import RowsNotFoundError, SheetsError
from .flush import (
    WriteMemory,
    allocate_columns,
    changed_cells,
    place_results,
    read_layout,
    remember,
    repair_cells,
    result_cells,
)

if TYPE_CHECKING:
    from .reader import SheetList

MAX_PAYLOAD_BYTES = 1_800_000  # Google recommends keeping requests under ~2 MB


@dataclass
class FlushReport:
    rows_written: int = 0
    cells_written: int = 0
    columns_added: list[str] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)  # row keys not found in the sheet
    repaired: int = 0  # cells fixed after a concurrent edit moved an earlier write
    read_calls: int = 0
    write_calls: int = 0


class SheetSink(Counted):
    """Writes RowResults back to a SheetList's tab (implements writeback.ResultSink)."""

    def __init__(
        self,
        sheet: SheetList,
        email_col: str | None,
        first_col: str | None = None,
        last_col: str | None = None,
        *,
        retry: SheetsRetry | None = None,
        raise_on_unplaced: bool = False,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
    ) -> None:
        self.sheet = sheet
        self.email_col, self.first_col, self.last_col = email_col, first_col, last_col
        self._caller = Caller(retry or sheet.retry, sheet.key, sheet.service_email)
        self.raise_on_unplaced = raise_on_unplaced
        self.max_payload_bytes = max_payload_bytes
        self._unplaced: dict[str, RowResult] = {}
        self._memory = WriteMemory()  # what the previous flush wrote: to detect and repair moved writes
        self.last_report = FlushReport()

    @property
    def sleeps(self) -> list[float]:
        return list(self._caller.sleeps)

    @property
    def unplaced(self) -> list[RowResult]:
        return list(self._unplaced.values())

    def write(self, results: Sequence[RowResult]) -> FlushReport:
        """One flush: re-read the tab, place each result by its row key, write only the
        changed cells in one call. Raises SheetsError (e.g. SheetsQuotaError) with nothing
        written; the caller retries the same results later."""
        return self._flush(list(results))

    def settle(self) -> FlushReport:
        """End of a run: check once that the last flush's cells are on their people's rows
        (repairing moved ones) and retry unplaced results."""
        return self._flush([])

    # -- the flush (the steps are in flush.py) -------------------------------------------
    def _flush(self, results: list[RowResult]) -> FlushReport:
        pending = merge_results([*self._unplaced.values(), *results])
        if not pending and not self._memory.written:
            self.last_report = FlushReport()
            return self.last_report
        reads0, writes0 = self.read_calls, self.write_calls
        values = self.sheet.values(self._caller)
        layout = read_layout(values, self.email_col, self.first_col, self.last_col, tab=self.sheet.title)
        self._grow_known_grid(values)
        placement = place_results(pending, layout)
        columns = allocate_columns(placement.placed, self._memory.names, layout)
        repairs = repair_cells(self._memory, layout, columns)
        changes = changed_cells({**repairs, **result_cells(placement.placed, columns)}, layout)
        if changes:
            self._write_cells(changes)
        self._memory = remember(changes, layout, columns)
        self._unplaced = placement.unplaced
        self.last_report = FlushReport(
            rows_written=len({i for (i, _j) in changes if i != 0}),
            cells_written=len(changes),
            columns_added=columns.added,
            unplaced=list(placement.unplaced),
            repaired=len(set(repairs) & set(changes)),
            read_calls=self.read_calls - reads0,
            write_calls=self.write_calls - writes0,
        )
        if placement.unplaced and self.raise_on_unplaced:
            raise RowsNotFoundError(
                f"{len(placement.unplaced)} result(s) could not be written: their rows are no longer in the "
                "sheet (deleted, or the email was changed). They are kept and retried."
            )
        return self.last_report

    def _grow_known_grid(self, values: list[list[str]]) -> None:
        """Cells just read exist: the grid is at least that big (users may have grown it)."""
        gp = self.sheet.properties.setdefault("gridProperties", {})
        gp["rowCount"] = max(self.sheet.row_count, len(values))
        gp["columnCount"] = max(self.sheet.col_count, max(len(r) for r in values))

    def _write_cells(self, changes: Mapping[tuple[int, int], str]) -> None:
        need_cols = max(j for _i, j in changes) + 1
        need_rows = max(i for i, _j in changes) + 1
        self._ensure_grid(need_rows, need_cols)
        data = [
            {
                "range": absolute_range_name(
                    self.sheet.title,
                    f"{rowcol_to_a1(r0 + 1, c0 + 1)}:{rowcol_to_a1(r0 + len(block), c0 + len(block[0]))}",
                ),
                "majorDimension": "ROWS",
                "values": block,
            }
            for r0, c0, block in cell_blocks(changes)
        ]
        for chunk in payload_chunks(data, self.max_payload_bytes):
            body = {"valueInputOption": "RAW", "data": chunk}
            try:
                self._caller.write(self.sheet.http.values_batch_update, self.sheet.key, body=body)
            except SheetsError as exc:
                if exc.status != 400 or "grid limits" not in exc.message:
                    raise
                # the grid shrank since we last looked (someone deleted columns or rows)
                self.sheet.refresh(self._caller)
                self._ensure_grid(need_rows, need_cols)
                self._caller.write(self.sheet.http.values_batch_update, self.sheet.key, body=body)

    def _ensure_grid(self, rows: int, cols: int) -> None:
        reqs = []
        if cols > self.sheet.col_count:
            reqs.append(
                {
                    "appendDimension": {
                        "sheetId": self.sheet.sheet_id,
                        "dimension": "COLUMNS",
                        "length": cols - self.sheet.col_count,
                    }
                }
            )
        if rows > self.sheet.row_count:
            reqs.append(
                {
                    "appendDimension": {
                        "sheetId": self.sheet.sheet_id,
                        "dimension": "ROWS",
                        "length": rows - self.sheet.row_count,
                    }
                }
            )
        if not reqs:
            return
        self._caller.write(self.sheet.http.batch_update, self.sheet.key, {"requests": reqs})
        gp = self.sheet.properties.setdefault("gridProperties", {})
        gp["columnCount"] = max(cols, self.sheet.col_count)
        gp["rowCount"] = max(rows, self.sheet.row_count)


def cell_blocks(changes: Mapping[tuple[int, int], str]) -> list[tuple[int, int, list[list[str]]]]:
    """Changed cells → rectangles: runs of adjacent changed cells in a row, then runs of
    consecutive rows with the same column span. Only changed cells are covered."""
    by_row: dict[int, list[int]] = defaultdict(list)
    for i, j in changes:
        by_row[i].append(j)
    runs: list[tuple[int, int, int]] = []  # (row, c0, c1 exclusive)
    for i, cols in by_row.items():
        cols.sort()
        start = prev = cols[0]
        for j in cols[1:]:
            if j != prev + 1:
                runs.append((i, start, prev + 1))
                start = j
            prev = j
        runs.append((i, start, prev + 1))
    runs.sort(key=lambda t: (t[1], t[2], t[0]))
    out: list[tuple[int, int, list[list[str]]]] = []
    cur: tuple[int, int, int, int] | None = None  # r0, r1 exclusive, c0, c1
    for i, c0, c1 in runs:
        if cur and cur[2] == c0 and cur[3] == c1 and cur[1] == i:
            cur = (cur[0], i + 1, c0, c1)
            continue
        if cur:
            out.append(_block(cur, changes))
        cur = (i, i + 1, c0, c1)
    if cur:
        out.append(_block(cur, changes))
    return out


def _block(span: tuple[int, int, int, int], changes: Mapping[tuple[int, int], str]) -> tuple[int, int, list[list[str]]]:
    r0, r1, c0, c1 = span
    return r0, c0, [[changes[(i, j)] for j in range(c0, c1)] for i in range(r0, r1)]


def payload_chunks(data: list[dict], limit: int) -> Iterable[list[dict]]:
    chunk: list[dict] = []
    size = 0
    for d in data:
        n = len(json.dumps(d, ensure_ascii=False).encode()) + 2
        if chunk and size + n > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append(d)
        size += n
    if chunk:
        yield chunk
