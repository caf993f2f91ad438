"""A small fake of the Google Sheets API v4 on loopback, for tests and benchmarks.

Real HTTP (ThreadingHTTPServer on 127.0.0.1, a free port), in-memory spreadsheets, and the
subset gspread 6 uses:

    GET  /v4/spreadsheets/{key}                      metadata (sheets[].properties)
    GET  /v4/spreadsheets/{key}/values/{range}       values get
    GET  /v4/spreadsheets/{key}/values:batchGet      values batchGet (ranges=...)
    PUT  /v4/spreadsheets/{key}/values/{range}       values update
    POST /v4/spreadsheets/{key}/values:batchUpdate   values batchUpdate
    POST /v4/spreadsheets/{key}/values/{range}:append
    POST /v4/spreadsheets/{key}/values/{range}:clear
    POST /v4/spreadsheets/{key}:batchUpdate          addSheet, updateSheetProperties,
                                                     insertDimension, appendDimension,
                                                     deleteDimension

Behaviour that matters to a client, as Google does it:
- cells hold what was written: RAW stores text as is; USER_ENTERED turns "=..." into a
  formula (FORMATTED_VALUE shows its result, FORMULA its text), number-looking text into
  a number ("00123" reads back "123") and drops a leading apostrophe;
- a range outside the sheet's grid is refused with 400 "... exceeds grid limits";
- unknown spreadsheet → 404 NOT_FOUND, a spreadsheet marked not shared → 403
  PERMISSION_DENIED, over the write budget (default 60 writes a minute) → 429
  RESOURCE_EXHAUSTED; `force_429(k)` refuses the next k writes;
- each request is applied atomically (one lock), so test threads may mutate sheets with
  the helpers (insert_rows, delete_row, sort_rows, ...) while a client is writing.

Counters: `counts[endpoint]`, `.reads`, `.writes`, `.throttled`, `log` of (endpoint, status).
No authentication is checked: point gspread at it with lib.sheets.make_client(
emulator_host=fake.host).
"""

from __future__ import annotations

import collections
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

READ_ENDPOINTS = frozenset({"get", "values.get", "values.batchGet"})
WRITE_ENDPOINTS = frozenset({"values.update", "values.batchUpdate", "values.append", "values.clear", "batchUpdate"})
DEFAULT_ROWS, DEFAULT_COLS = 1000, 26


class ApiFailure(Exception):
    def __init__(self, code: int, message: str, status: str) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


def _bad(message: str) -> ApiFailure:
    return ApiFailure(400, message, "INVALID_ARGUMENT")


class Formula(str):
    """A formula cell: the str value is the formula text; `.rendered` what the sheet shows."""

    rendered: str

    def __new__(cls, text: str) -> Formula:
        obj = super().__new__(cls, text)
        m = re.match(r'^=HYPERLINK\(\s*"([^"]*)"\s*(?:[,;]\s*"([^"]*)"\s*)?\)$', text, re.I)
        obj.rendered = (m.group(2) or m.group(1)) if m else "#NAME?"
        return obj


def _rendered(cell: str, option: str) -> str:
    if isinstance(cell, Formula):
        return str(cell) if option == "FORMULA" else cell.rendered
    return cell


_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _user_entered(value: str) -> str:
    if value.startswith("'"):
        return value[1:]
    if value.startswith("=") and len(value) > 1:
        return Formula(value)
    if _NUMBER.match(value.strip()):
        num = float(value)
        if num.is_integer() and abs(num) < 1e15:
            return str(int(num))
        return f"{num:.5E}" if abs(num) >= 1e15 else repr(num)
    return value


def _cell_text(value: Any) -> str | None:
    if value is None:
        return None  # Google: null leaves the cell as it is
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# -- A1 notation -----------------------------------------------------------------------
def col_letter(idx: int) -> str:
    """0-based column index → letters."""
    s, n = "", idx + 1
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


def col_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n - 1


_CELL = re.compile(r"^([A-Za-z]*)(\d*)$")


def split_sheet(range_name: str) -> tuple[str | None, str]:
    """ "'My sheet'!A1:B2" → ("My sheet", "A1:B2"); "Sheet1" → ("Sheet1", "")."""
    text = range_name.strip()
    if text.startswith("'"):
        i, title = 1, []
        while i < len(text):
            if text[i] == "'":
                if i + 1 < len(text) and text[i + 1] == "'":
                    title.append("'")
                    i += 2
                    continue
                break
            title.append(text[i])
            i += 1
        rest = text[i + 1 :]
        if rest.startswith("!"):
            return "".join(title), rest[1:]
        if rest:
            raise _bad(f"Unable to parse range: {range_name}")
        return "".join(title), ""
    if "!" in text:
        title, _, a1 = text.rpartition("!")
        return title, a1
    return None, text


class Sheet:
    def __init__(self, sheet_id: int, title: str, index: int, rows: int, cols: int) -> None:
        self.sheet_id, self.title, self.index = sheet_id, title, index
        self._cols = cols
        self.grid: list[list[str]] = [[""] * cols for _ in range(rows)]

    @property
    def row_count(self) -> int:
        return len(self.grid)

    @property
    def col_count(self) -> int:
        return len(self.grid[0]) if self.grid else self._cols

    def resize(self, rows: int | None = None, cols: int | None = None) -> None:
        cols = self.col_count if cols is None else cols
        rows = self.row_count if rows is None else rows
        self._cols = cols
        for r in self.grid:
            if len(r) < cols:
                r.extend([""] * (cols - len(r)))
            else:
                del r[cols:]
        if len(self.grid) < rows:
            self.grid.extend([[""] * cols for _ in range(rows - len(self.grid))])
        else:
            del self.grid[rows:]

    def properties(self) -> dict:
        return {
            "sheetId": self.sheet_id,
            "title": self.title,
            "index": self.index,
            "sheetType": "GRID",
            "gridProperties": {"rowCount": self.row_count, "columnCount": self.col_count},
        }

    def bounds(self, a1: str, range_name: str) -> tuple[int, int, int | None, int | None]:
        """0-based (row0, col0, row_end, col_end), ends exclusive; None = open-ended."""
        if not a1:
            return 0, 0, None, None
        parts = a1.split(":")
        if len(parts) > 2:
            raise _bad(f"Unable to parse range: {range_name}")
        m1 = _CELL.match(parts[0])
        m2 = _CELL.match(parts[1]) if len(parts) == 2 else m1
        if not m1 or not m2 or not (m1.group(1) or m1.group(2)) or not (m2.group(1) or m2.group(2)):
            raise _bad(f"Unable to parse range: {range_name}")
        c0 = col_index(m1.group(1)) if m1.group(1) else 0
        r0 = int(m1.group(2)) - 1 if m1.group(2) else 0
        c1 = col_index(m2.group(1)) + 1 if m2.group(1) else None
        r1 = int(m2.group(2)) if m2.group(2) else None
        if len(parts) == 1 and not (m1.group(1) and m1.group(2)):
            raise _bad(f"Unable to parse range: {range_name}")
        if r0 < 0 or (r1 is not None and r1 <= r0) or (c1 is not None and c1 <= c0):
            raise _bad(f"Unable to parse range: {range_name}")
        self.check(range_name, max(r0 + 1, r1 or 0), max(c0 + 1, c1 or 0))
        return r0, c0, r1, c1

    def check(self, range_name: str, rows_needed: int, cols_needed: int) -> None:
        if rows_needed > self.row_count or cols_needed > self.col_count:
            raise _bad(
                f"Range ({range_name}) exceeds grid limits. Max rows: {self.row_count}, max columns: {self.col_count}"
            )


class Spreadsheet:
    def __init__(self, key: str, title: str) -> None:
        self.key, self.title = key, title
        self.sheets: list[Sheet] = []
        self.shared = True
        self._next_id = 0

    def add_sheet(
        self, title: str, rows: int, cols: int, sheet_id: int | None = None, index: int | None = None
    ) -> Sheet:
        if any(s.title == title for s in self.sheets):
            raise _bad(f'A sheet with the name "{title}" already exists. Please enter another name.')
        if sheet_id is None:
            sheet_id = 0 if not self.sheets else 1_000_000 + self._next_id * 7919
            self._next_id += 1
        sheet = Sheet(sheet_id, title, len(self.sheets), rows, cols)
        if index is None or index >= len(self.sheets):
            self.sheets.append(sheet)
        else:
            self.sheets.insert(index, sheet)
        for i, s in enumerate(self.sheets):
            s.index = i
        return sheet

    def sheet(self, title: str | None, range_name: str) -> Sheet:
        if title is None:
            return self.sheets[0]
        for s in self.sheets:
            if s.title == title:
                return s
        raise _bad(f"Unable to parse range: {range_name}")

    def by_id(self, sheet_id: int) -> Sheet:
        for s in self.sheets:
            if s.sheet_id == sheet_id:
                return s
        raise _bad(f"No grid with id: {sheet_id}")

    def resolve(self, range_name: str) -> tuple[Sheet, tuple[int, int, int | None, int | None]]:
        title, a1 = split_sheet(range_name)
        if title is None:
            # no "!": a sheet title if there is one, else an A1 range on the first sheet
            if any(s.title == a1 for s in self.sheets):
                return self.sheet(a1, range_name), (0, 0, None, None)
            if not self.sheets:
                raise _bad(f"Unable to parse range: {range_name}")
            return self.sheets[0], self.sheets[0].bounds(a1, range_name)
        sheet = self.sheet(title, range_name)
        return sheet, sheet.bounds(a1, range_name)

    def metadata(self) -> dict:
        return {
            "spreadsheetId": self.key,
            "properties": {"title": self.title, "locale": "en_US", "timeZone": "Etc/GMT", "autoRecalc": "ON_CHANGE"},
            "sheets": [{"properties": s.properties()} for s in self.sheets],
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{self.key}/edit",
        }


def _trim(values: list[list[str]]) -> list[list[str]]:
    out = [list(r) for r in values]
    for r in out:
        while r and r[-1] == "":
            r.pop()
    while out and not out[-1]:
        out.pop()
    return out


def _a1(title: str, r0: int, c0: int, r1: int, c1: int) -> str:
    quoted = "'" + title.replace("'", "''") + "'"
    return f"{quoted}!{col_letter(c0)}{r0 + 1}:{col_letter(c1 - 1)}{r1}"


# -- the server ------------------------------------------------------------------------
class FakeSheets:
    """The fake Sheets API. Use as a context manager or call start()/stop()."""

    def __init__(
        self,
        *,
        writes_per_minute: int | None = 60,
        reads_per_minute: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.writes_per_minute = writes_per_minute
        self.reads_per_minute = reads_per_minute
        self.clock = clock
        self.lock = threading.RLock()
        self.spreadsheets: dict[str, Spreadsheet] = {}
        self.counts: collections.Counter[str] = collections.Counter()
        self.throttled = 0
        self.log: list[tuple[str, int]] = []
        self.requests: list[tuple[str, str, dict | None]] = []  # (endpoint, path, body)
        self.on_before_write: Callable[[str, dict | None], None] | None = None
        self._forced_429 = 0
        self._write_times: collections.deque[float] = collections.deque()
        self._read_times: collections.deque[float] = collections.deque()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> FakeSheets:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True, name="fake-sheets"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeSheets:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        """ "127.0.0.1:PORT": the value for SHEETS_EMULATOR_HOST / make_client(emulator_host=)."""
        assert self._server is not None, "start() the fake first"
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    # -- counters and quota ------------------------------------------------------------
    @property
    def reads(self) -> int:
        return sum(n for e, n in self.counts.items() if e in READ_ENDPOINTS)

    @property
    def writes(self) -> int:
        return sum(n for e, n in self.counts.items() if e in WRITE_ENDPOINTS)

    def reset_counts(self) -> None:
        with self.lock:
            self.counts.clear()
            self.log.clear()
            self.requests.clear()
            self.throttled = 0

    def force_429(self, k: int) -> None:
        """Refuse the next k write requests with 429 RESOURCE_EXHAUSTED."""
        with self.lock:
            self._forced_429 = k

    def _admit(self, endpoint: str) -> None:
        is_write = endpoint in WRITE_ENDPOINTS
        if is_write and self._forced_429 > 0:
            self._forced_429 -= 1
            raise self._quota("Write requests")
        budget = self.writes_per_minute if is_write else self.reads_per_minute
        times = self._write_times if is_write else self._read_times
        if budget is None:
            return
        now = self.clock()
        while times and times[0] <= now - 60.0:
            times.popleft()
        if len(times) >= budget:
            raise self._quota("Write requests" if is_write else "Read requests")
        times.append(now)

    def _quota(self, what: str) -> ApiFailure:
        self.throttled += 1
        return ApiFailure(
            429,
            f"Quota exceeded for quota metric '{what}' and limit '{what} per minute per user' "
            "of service 'sheets.googleapis.com' for consumer 'project_number:000000000000'.",
            "RESOURCE_EXHAUSTED",
        )

    # -- test helpers (thread-safe) ----------------------------------------------------
    def create_spreadsheet(
        self,
        key: str,
        tabs: Mapping[str, Sequence[Sequence[Any]]],
        *,
        title: str | None = None,
        grid: Mapping[str, tuple[int, int]] | None = None,
        shared: bool = True,
    ) -> None:
        """Tabs in order, each a list of rows of text. Grid: Google's default 1000×26, or
        bigger to fit the rows; `grid={title: (rows, cols)}` sets it exactly."""
        with self.lock:
            ss = Spreadsheet(key, title or f"Spreadsheet {key[:8]}")
            ss.shared = shared
            for name, rows in tabs.items():
                width = max((len(r) for r in rows), default=0)
                nrows, ncols = (grid or {}).get(name, (max(DEFAULT_ROWS, len(rows)), max(DEFAULT_COLS, width)))
                sheet = ss.add_sheet(name, nrows, ncols)
                for r, row in enumerate(rows):
                    for c, v in enumerate(row):
                        sheet.grid[r][c] = "" if v is None else str(v)
            self.spreadsheets[key] = ss

    def set_shared(self, key: str, shared: bool) -> None:
        with self.lock:
            self.spreadsheets[key].shared = shared

    def _sheet(self, key: str, title: str) -> Sheet:
        return self.spreadsheets[key].sheet(title, title)

    def rows(self, key: str, title: str, render: str = "FORMATTED_VALUE") -> list[list[str]]:
        """The tab's values as the API returns them (trailing blanks trimmed)."""
        with self.lock:
            sheet = self._sheet(key, title)
            return _trim([[_rendered(c, render) for c in r] for r in sheet.grid])

    def table(self, key: str, title: str) -> list[dict[str, str]]:
        """Data rows as dicts keyed by the header row (blank rows skipped)."""
        values = self.rows(key, title)
        if not values:
            return []
        header = values[0]
        return [{h: (r[i] if i < len(r) else "") for i, h in enumerate(header)} for r in values[1:] if any(r)]

    def grid_size(self, key: str, title: str) -> tuple[int, int]:
        with self.lock:
            sheet = self._sheet(key, title)
            return sheet.row_count, sheet.col_count

    def sheet_titles(self, key: str) -> list[str]:
        with self.lock:
            return [s.title for s in self.spreadsheets[key].sheets]

    def sheet_id(self, key: str, title: str) -> int:
        with self.lock:
            return self._sheet(key, title).sheet_id

    def set_cell(self, key: str, title: str, row: int, col: int, value: str) -> None:
        """1-based row and column."""
        with self.lock:
            self._sheet(key, title).grid[row - 1][col - 1] = value

    def insert_rows(self, key: str, title: str, at: int, rows: Iterable[Sequence[Any]]) -> None:
        """Insert rows so that the first new one becomes sheet row `at` (1-based)."""
        with self.lock:
            sheet = self._sheet(key, title)
            width = sheet.col_count
            new = []
            for row in rows:
                cells = ["" if v is None else str(v) for v in row][:width]
                new.append(cells + [""] * (width - len(cells)))
            sheet.grid[at - 1 : at - 1] = new

    def delete_row(self, key: str, title: str, row: int) -> None:
        """Delete sheet row `row` (1-based); the grid shrinks by one row like Google."""
        with self.lock:
            del self._sheet(key, title).grid[row - 1]

    def rename_sheet(self, key: str, title: str, new_title: str) -> None:
        with self.lock:
            self._sheet(key, title).title = new_title

    def sort_rows(
        self,
        key: str,
        title: str,
        column: str | int,
        *,
        reverse: bool = False,
        header: bool = True,
        key_fn: Callable[[str], Any] | None = None,
    ) -> None:
        """Sort the non-blank data rows by a column (header name, or 1-based index), like a
        user's Data → Sort range. Blank rows go last."""
        with self.lock:
            sheet = self._sheet(key, title)
            start = 1 if header else 0
            if isinstance(column, str):
                idx = [_rendered(c, "FORMATTED_VALUE") for c in sheet.grid[0]].index(column)
            else:
                idx = column - 1
            body = sheet.grid[start:]
            filled = [r for r in body if any(c != "" for c in r)]
            blank = [r for r in body if not any(c != "" for c in r)]
            fn = key_fn or (lambda v: v)
            filled.sort(key=lambda r: fn(_rendered(r[idx], "FORMATTED_VALUE")), reverse=reverse)
            sheet.grid[start:] = filled + blank

    def mutate(self, fn: Callable[[FakeSheets], None]) -> None:
        """Run several helper calls as one atomic edit."""
        with self.lock:
            fn(self)

    # -- request handling --------------------------------------------------------------
    def handle(self, method: str, raw_path: str, query: dict[str, list[str]], body: dict | None) -> tuple[int, dict]:
        try:
            endpoint, key, rest = _route(method, raw_path)
        except ApiFailure as e:
            return e.code, e.body()
        with self.lock:
            self.requests.append((endpoint, raw_path, body))
            try:
                ss = self.spreadsheets.get(key)
                if ss is None:
                    raise ApiFailure(404, "Requested entity was not found.", "NOT_FOUND")
                if not ss.shared:
                    raise ApiFailure(403, "The caller does not have permission", "PERMISSION_DENIED")
                self._admit(endpoint)
                if endpoint in WRITE_ENDPOINTS and self.on_before_write is not None:
                    self.on_before_write(endpoint, body)
                result = getattr(self, "_" + endpoint.replace(".", "_"))(ss, rest, query, body or {})
            except ApiFailure as e:
                self.log.append((endpoint, e.code))
                return e.code, e.body()
            self.counts[endpoint] += 1
            self.log.append((endpoint, 200))
            return 200, result

    # endpoints
    def _get(self, ss: Spreadsheet, rest: str, q: dict, body: dict) -> dict:
        return ss.metadata()

    def _read_range(self, ss: Spreadsheet, range_name: str, q: dict) -> dict:
        sheet, (r0, c0, r1, c1) = ss.resolve(range_name)
        render = (q.get("valueRenderOption") or ["FORMATTED_VALUE"])[0]
        major = (q.get("majorDimension") or ["ROWS"])[0]
        r1 = sheet.row_count if r1 is None else r1
        c1 = sheet.col_count if c1 is None else c1
        block = [[_rendered(c, render) for c in row[c0:c1]] for row in sheet.grid[r0:r1]]
        if major == "COLUMNS":
            block = [list(col) for col in zip(*block)] if block else []
        out = {"range": _a1(sheet.title, r0, c0, r1, c1), "majorDimension": major}
        values = _trim(block)
        if values:
            out["values"] = values
        return out

    def _values_get(self, ss: Spreadsheet, rest: str, q: dict, body: dict) -> dict:
        return self._read_range(ss, rest, q)

    def _values_batchGet(self, ss: Spreadsheet, rest: str, q: dict, body: dict) -> dict:
        return {"spreadsheetId": ss.key, "valueRanges": [self._read_range(ss, r, q) for r in q.get("ranges", [])]}

    def _write_range(
        self,
        ss: Spreadsheet,
        range_name: str,
        values: list,
        option: str,
        major: str = "ROWS",
        *,
        grow: bool = False,
        at: tuple[Sheet, int, int] | None = None,
    ) -> dict:
        if option not in ("RAW", "USER_ENTERED"):
            raise _bad("Invalid valueInputOption: " + str(option))
        if at is not None:
            sheet, r0, c0 = at
            r1 = c1 = None
        else:
            sheet, (r0, c0, r1, c1) = ss.resolve(range_name)
            if ":" not in split_sheet(range_name)[1]:
                r1 = c1 = None  # a single cell (or a whole sheet) anchors the values
        if major == "COLUMNS":
            width = max((len(c) for c in values), default=0)
            values = [[col[i] if i < len(col) else None for col in values] for i in range(width)]
        nrows = len(values)
        ncols = max((len(r) for r in values), default=0)
        if (r1 is not None and r0 + nrows > r1) or (c1 is not None and c0 + ncols > c1):
            raise _bad(f"Requested writing within range [{range_name}], but tried writing to row [{r0 + nrows}]")
        if grow:
            sheet.resize(max(sheet.row_count, r0 + nrows), max(sheet.col_count, c0 + ncols))
        sheet.check(range_name, r0 + nrows, c0 + ncols)
        cells = 0
        for i, row in enumerate(values):
            for j, v in enumerate(row):
                text = _cell_text(v)
                if text is None:
                    continue
                sheet.grid[r0 + i][c0 + j] = _user_entered(text) if option == "USER_ENTERED" else text
                cells += 1
        return {
            "spreadsheetId": ss.key,
            "updatedRange": _a1(sheet.title, r0, c0, r0 + max(nrows, 1), c0 + max(ncols, 1)),
            "updatedRows": nrows,
            "updatedColumns": ncols,
            "updatedCells": cells,
        }

    def _values_update(self, ss: Spreadsheet, rest: str, q: dict, body: dict) -> dict:
        option = (q.get("valueInputOption") or [None])[0]
        return self._write_range(ss, rest, body.get("values", []), option, body.get("majorDimension", "ROWS"))

    def _values_batchUpdate(self, ss: Spreadsheet, rest: str, q: dict, body: dict) -> dict:
        option = body.get("valueInputOption")
        data = body.get("data", [])
        # validate everything first: a batch is all or nothing
        for d in data:
            sheet, _ = ss.resolve(d["range"])
        snapshot = {s.sheet_id: [list(r) for r in s.grid] for s in ss.sheets}
        responses = []
        try:
            for d in data:
                responses.append(
                    self._write_range(ss, d["range"], d.get("values", []), option, d.get("majorDimension", "ROWS"))
                )
        except ApiFailure:
            for s in ss.sheets:
                s.grid = snapshot[s.sheet_id]
            raise
        return {
            "spreadsheetId": ss.key,
            "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
            "totalUpdatedColumns": sum(r["updatedColumns"] for r in responses),
            "totalUpdatedCells": sum(r["updatedCells"] for r in responses),
            "totalUpdatedSheets": len({r["updatedRange"].rpartition("!")[0] for r in responses}),
            "responses": responses,
        }

    def _values_append(self, ss: Spreadsheet, rest: str, q: dict, body: dict) -> dict:
        option = (q.get("valueInputOption") or [None])[0]
        insert = (q.get("insertDataOption") or ["OVERWRITE"])[0]
        sheet, (r0, c0, r1, c1) = ss.resolve(rest)
        values = body.get("values", [])
        last = -1
        for i, row in enumerate(sheet.grid):
            if any(c != "" for c in row[c0:]):
                last = i
        start = max(last + 1, r0)
        if insert == "INSERT_ROWS":
            width = sheet.col_count
            sheet.grid[start:start] = [[""] * width for _ in values]
        upd = self._write_range(
            ss, rest, values, option, body.get("majorDimension", "ROWS"), grow=True, at=(sheet, start, c0)
        )
        table = _a1(sheet.title, r0, c0, max(last + 1, r0 + 1), max(c0 + 1, sheet.col_count))
        return {"spreadsheetId": ss.key, "tableRange": table, "updates": upd}

    def _values_clear(self, ss: Spreadsheet, rest: str, q: dict, body: dict) -> dict:
        sheet, (r0, c0, r1, c1) = ss.resolve(rest)
        for row in sheet.grid[r0:r1]:
            for j in range(c0, sheet.col_count if c1 is None else c1):
                row[j] = ""
        return {"spreadsheetId": ss.key, "clearedRange": rest}

    def _batchUpdate(self, ss: Spreadsheet, rest: str, q: dict, body: dict) -> dict:
        replies = []
        for req in body.get("requests", []):
            ((kind, spec),) = req.items()
            if kind == "addSheet":
                props = spec.get("properties", {})
                gp = props.get("gridProperties", {})
                sheet = ss.add_sheet(
                    props.get("title") or f"Sheet{len(ss.sheets) + 1}",
                    gp.get("rowCount", DEFAULT_ROWS),
                    gp.get("columnCount", DEFAULT_COLS),
                    props.get("sheetId"),
                    props.get("index"),
                )
                replies.append({"addSheet": {"properties": sheet.properties()}})
            elif kind == "updateSheetProperties":
                props = spec["properties"]
                sheet = ss.by_id(props["sheetId"])
                fields = spec.get("fields", "*")
                gp = props.get("gridProperties", {})
                if "title" in props and (fields == "*" or "title" in fields):
                    sheet.title = props["title"]
                rows = gp.get("rowCount") if fields == "*" or "rowCount" in fields else None
                cols = gp.get("columnCount") if fields == "*" or "columnCount" in fields else None
                sheet.resize(rows, cols)
                replies.append({})
            elif kind in ("insertDimension", "deleteDimension"):
                rng = spec["range"]
                sheet = ss.by_id(rng["sheetId"])
                a, b = rng["startIndex"], rng["endIndex"]
                if rng["dimension"] == "ROWS":
                    if kind == "insertDimension":
                        sheet.grid[a:a] = [[""] * sheet.col_count for _ in range(b - a)]
                    else:
                        del sheet.grid[a:b]
                else:
                    for row in sheet.grid:
                        if kind == "insertDimension":
                            row[a:a] = [""] * (b - a)
                        else:
                            del row[a:b]
                    sheet._cols = len(sheet.grid[0]) if sheet.grid else sheet._cols
                replies.append({})
            elif kind == "appendDimension":
                sheet = ss.by_id(spec["sheetId"])
                if spec["dimension"] == "ROWS":
                    sheet.resize(rows=sheet.row_count + spec["length"])
                else:
                    sheet.resize(cols=sheet.col_count + spec["length"])
                replies.append({})
            else:
                raise _bad(f"Unsupported request in the fake: {kind}")
        return {"spreadsheetId": ss.key, "replies": replies}


def _route(method: str, raw_path: str) -> tuple[str, str, str]:
    """→ (endpoint, spreadsheet key, unquoted range or '')."""
    prefix = "/v4/spreadsheets/"
    if not raw_path.startswith(prefix):
        raise ApiFailure(404, "Requested entity was not found.", "NOT_FOUND")
    parts = raw_path[len(prefix) :].split("/")
    head = unquote(parts[0])
    if len(parts) == 1:
        if method == "GET":
            return "get", head, ""
        if method == "POST" and head.endswith(":batchUpdate"):
            return "batchUpdate", head[: -len(":batchUpdate")], ""
    elif len(parts) == 2:
        if method == "GET" and parts[1] == "values:batchGet":
            return "values.batchGet", head, ""
        if method == "POST" and parts[1] == "values:batchUpdate":
            return "values.batchUpdate", head, ""
    elif len(parts) >= 3 and parts[1] == "values":
        seg = "/".join(parts[2:])
        if method == "POST" and seg.endswith(":append"):
            return "values.append", head, unquote(seg[: -len(":append")])
        if method == "POST" and seg.endswith(":clear"):
            return "values.clear", head, unquote(seg[: -len(":clear")])
        if method == "GET":
            return "values.get", head, unquote(seg)
        if method == "PUT":
            return "values.update", head, unquote(seg)
    raise ApiFailure(404, f"Method not found in the fake: {method} {raw_path}", "NOT_FOUND")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_fake: FakeSheets

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                status, payload = 400, _bad("Invalid JSON payload received.").body()
                return self._send(status, payload)
        status, payload = self.server_fake.handle(method, parts.path, query, body)
        self._send(status, payload)

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")


__all__ = ["FakeSheets", "Formula", "col_letter", "col_index", "split_sheet"]
