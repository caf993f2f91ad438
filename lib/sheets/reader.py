"""The reader: one tab of a spreadsheet used as a gift list, read as text.

Opening costs one metadata read; reading the tab is one values batchGet with the values as
displayed (so "00123" and dates stay what the user sees). The tab is found by title, else
by the link's gid, else it is the first tab, and a renamed tab is followed by its id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gspread
import pandas as pd
from gspread.utils import absolute_range_name, rowcol_to_a1

from .caller import Caller, Counted, SheetsRetry
from .errors import NoHeaderRowError, SheetsError, WorksheetNotFoundError
from .history import HistoryTab
from .identity import cell_text, is_blank_row
from .links import SheetRef, parse_sheet_ref
from .sink import SheetSink


class SheetList(Counted):
    """One tab of a spreadsheet used as a gift list."""

    def __init__(
        self,
        client: gspread.Client,
        ref: SheetRef,
        metadata: Mapping[str, Any],
        properties: Mapping[str, Any],
        caller: Caller,
        retry: SheetsRetry,
    ) -> None:
        self.client = client
        self.http = client.http_client
        self.ref = ref
        self.key = ref.key
        self._metadata = metadata
        self.properties = dict(properties)
        self._caller = caller
        self.retry = retry
        self.row_numbers: list[int] = []  # sheet row number of each row of the last read()

    @classmethod
    def open(
        cls,
        client: gspread.Client,
        ref: SheetRef | str,
        worksheet: str | None = None,
        *,
        retry: SheetsRetry | None = None,
    ) -> SheetList:
        """Open by key (one metadata read); the tab by title, else by the link's gid, else
        the first tab."""
        ref = ref if isinstance(ref, SheetRef) else parse_sheet_ref(ref)
        retry = retry or SheetsRetry()
        caller = Caller(retry, ref.key, getattr(client, "service_account_email", None))
        meta = caller.read(client.http_client.fetch_sheet_metadata, ref.key)
        sheets = [s.get("properties", {}) for s in meta.get("sheets", [])]
        titles = [p.get("title", "") for p in sheets]
        chosen = None
        if worksheet:
            chosen = next((p for p in sheets if p.get("title") == worksheet), None) or next(
                (p for p in sheets if p.get("title", "").strip().casefold() == worksheet.strip().casefold()), None
            )
            if chosen is None:
                raise WorksheetNotFoundError(
                    f"There is no tab called '{worksheet}' in this spreadsheet. Tabs: "
                    + ", ".join(f"'{t}'" for t in titles)
                    + "."
                )
        elif ref.gid is not None:
            chosen = next((p for p in sheets if p.get("sheetId") == ref.gid), None)
            if chosen is None:
                raise WorksheetNotFoundError(
                    f"The tab in that link (gid={ref.gid}) no longer exists. Tabs: "
                    + ", ".join(f"'{t}'" for t in titles)
                    + "."
                )
        elif sheets:
            chosen = sheets[0]
        if chosen is None:
            raise WorksheetNotFoundError("This spreadsheet has no tabs.")
        return cls(client, ref, meta, chosen, caller, retry)

    # -- facts -------------------------------------------------------------------------
    @property
    def title(self) -> str:
        return self.properties["title"]

    @property
    def sheet_id(self) -> int:
        return int(self.properties.get("sheetId", 0))

    @property
    def spreadsheet_title(self) -> str:
        return self._metadata.get("properties", {}).get("title", "")

    @property
    def url(self) -> str:
        """The link to this tab (the one way a tab's link is written: SheetRef.url)."""
        return SheetRef(self.key, self.sheet_id).url

    @property
    def list_key(self) -> str:
        return f"sheet:{self.key}:{self.sheet_id}"

    @property
    def col_count(self) -> int:
        return int(self.properties.get("gridProperties", {}).get("columnCount", 26))

    @property
    def row_count(self) -> int:
        return int(self.properties.get("gridProperties", {}).get("rowCount", 1000))

    @property
    def service_email(self) -> str | None:
        return self._caller.service_email

    def worksheet_titles(self) -> list[str]:
        return [s.get("properties", {}).get("title", "") for s in self._metadata.get("sheets", [])]

    def refresh(self, caller: Caller | None = None) -> None:
        """Re-read the spreadsheet's metadata (this tab's title and grid size)."""
        meta = (caller or self._caller).read(self.http.fetch_sheet_metadata, self.key)
        for s in meta.get("sheets", []):
            p = s.get("properties", {})
            if p.get("sheetId") == self.sheet_id:
                self._metadata = meta
                self.properties = dict(p)
                return
        raise WorksheetNotFoundError(f"The tab '{self.title}' was deleted from the spreadsheet.")

    # -- reading -----------------------------------------------------------------------
    def values(self, caller: Caller | None = None) -> list[list[str]]:
        """All values of the tab as displayed text (one values batchGet). Follows a
        renamed tab once."""
        caller = caller or self._caller
        params = {"valueRenderOption": "FORMATTED_VALUE", "majorDimension": "ROWS"}
        for tries in (1, 2):
            try:
                res = caller.read(
                    self.http.values_batch_get, self.key, [absolute_range_name(self.title)], params=params
                )
                break
            except SheetsError as exc:
                if tries == 2 or exc.status != 400:
                    raise
                self.refresh(caller)  # the tab was renamed: find it by its id
        ranges = res.get("valueRanges") or [{}]
        return [[cell_text(c) for c in row] for row in ranges[0].get("values", [])]

    def read(self) -> pd.DataFrame:
        """The tab as a frame of text: header = first row (trimmed), ragged rows padded,
        fully blank rows dropped, RangeIndex (set `row_keys(...)` as the index)."""
        values = self.values()
        if not values or is_blank_row(values[0]):
            raise NoHeaderRowError(
                f"The tab '{self.title}' has no header row. Put the column names (First Name, "
                "Last Name, Email, …) in row 1, with one person per row below."
            )
        width = max(len(r) for r in values)
        rows, numbers = [], []
        for i, row in enumerate(values[1:], start=2):
            if is_blank_row(row):
                continue
            rows.append(row + [""] * (width - len(row)))
            numbers.append(i)
        header = [c.strip() for c in values[0]] + [""] * (width - len(values[0]))
        names: list[str] = []
        keep: list[int] = []
        for j, h in enumerate(header):
            if not h:
                if not any(r[j] for r in rows):
                    continue  # a blank spacer column
                h = f"Column {rowcol_to_a1(1, j + 1)[:-1]}"
            base, n = h, 2
            while h in names:
                h, n = f"{base} ({n})", n + 1
            names.append(h)
            keep.append(j)
        data = [[r[j] for j in keep] for r in rows]
        self.row_numbers = numbers
        return pd.DataFrame(data, columns=names, dtype=str)

    def sink(
        self, email_col: str | None, first_col: str | None = None, last_col: str | None = None, **kwargs: Any
    ) -> SheetSink:
        return SheetSink(self, email_col, first_col, last_col, **kwargs)

    def history_tab(self, *, create: bool = False) -> HistoryTab:
        """The `Gift history` tab of this spreadsheet (no extra metadata read)."""
        tab = HistoryTab(self.client, self.ref, self._metadata, self._caller, self.retry)
        if create:
            tab.ensure()
        return tab
