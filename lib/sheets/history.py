"""The shared `Gift history` tab: one row per status event, appended, never rewritten.

On a deployment whose disk does not last (and whose webhook receiver runs on another host)
this tab is the history the app, the CLI and the receiver share; see lib/sheet_source.py.
Rows are written under the tab's own headers, so a user may move or add columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gspread
from gspread.utils import absolute_range_name

from ..models import EventSource, StatusEvent
from .caller import Caller, Counted, SheetsRetry
from .errors import SheetsError
from .identity import loose
from .links import SheetRef, parse_sheet_ref

HISTORY_TITLE = "Gift history"
HISTORY_HEADER: tuple[str, ...] = (
    "Received at",
    "Event id",
    "Type",
    "Gift request ID",
    "Email",
    "Status",
    "Source",
    "Occurred at",
    "Redemption URL",
    "Actor",
    "Campaign ID",
    "Created at",
)


def history_target(ref: SheetRef | str) -> str:
    """The store outbox target name for a spreadsheet's history tab."""
    key = ref.key if isinstance(ref, SheetRef) else parse_sheet_ref(ref).key
    return f"history:{key}"


class HistoryTab(Counted):
    """The `Gift history` tab: one row per status event, appended, never rewritten."""

    def __init__(
        self, client: gspread.Client, ref: SheetRef, metadata: Mapping[str, Any], caller: Caller, retry: SheetsRetry
    ) -> None:
        self.client = client
        self.http = client.http_client
        self.ref = ref
        self.key = ref.key
        self.retry = retry
        self._caller = Caller(retry, ref.key, caller.service_email)
        self.properties: dict | None = None
        self._header: list[str] | None = None  # the tab's header as it is: rows are written to match it
        self._load(metadata)

    def _load(self, metadata: Mapping[str, Any]) -> None:
        for s in metadata.get("sheets", []):
            p = s.get("properties", {})
            if p.get("title", "").strip().casefold() == HISTORY_TITLE.casefold():
                self.properties = dict(p)
                return

    @classmethod
    def open(
        cls, client: gspread.Client, ref: SheetRef | str, *, create: bool = True, retry: SheetsRetry | None = None
    ) -> HistoryTab:
        ref = ref if isinstance(ref, SheetRef) else parse_sheet_ref(ref)
        retry = retry or SheetsRetry()
        caller = Caller(retry, ref.key, getattr(client, "service_account_email", None))
        meta = caller.read(client.http_client.fetch_sheet_metadata, ref.key)
        tab = cls(client, ref, meta, caller, retry)
        tab._caller = caller  # count the metadata read as the tab's own
        if create:
            tab.ensure()
        return tab

    @property
    def exists(self) -> bool:
        return self.properties is not None

    @property
    def title(self) -> str:
        return (self.properties or {}).get("title", HISTORY_TITLE)

    def ensure(self) -> None:
        """Create the tab with its header when missing (two writes, once)."""
        if self.properties is not None:
            return
        body = {
            "requests": [
                {
                    "addSheet": {
                        "properties": {
                            "title": HISTORY_TITLE,
                            "gridProperties": {"rowCount": 1000, "columnCount": len(HISTORY_HEADER)},
                        }
                    }
                }
            ]
        }
        try:
            res = self._caller.write(self.http.batch_update, self.key, body)
            self.properties = dict(res["replies"][0]["addSheet"]["properties"])
        except SheetsError as exc:
            if exc.status != 400 or "already exists" not in exc.message:
                raise
            # someone else created it meanwhile
            self._load(self._caller.read(self.http.fetch_sheet_metadata, self.key))
            return
        self._caller.write(
            self.http.values_update,
            self.key,
            absolute_range_name(HISTORY_TITLE, "A1"),
            params={"valueInputOption": "RAW"},
            body={"values": [list(HISTORY_HEADER)]},
        )
        self._header = list(HISTORY_HEADER)

    def append(self, events: Sequence[StatusEvent]) -> int:
        """Append events in one values.append call (RAW). Not retried on a network failure
        (it may have been applied); read_events() drops the duplicates a retry may leave."""
        if not events:
            return 0
        self.ensure()
        header = self._layout()
        rows = []
        for e in events:
            by_name = {loose(h): v for h, v in zip(HISTORY_HEADER, _event_row(e))}
            rows.append([by_name.get(loose(h), "") for h in header])
        self._caller.write(
            self.http.values_append,
            self.key,
            absolute_range_name(self.title, "A1"),
            {"valueInputOption": "RAW", "insertDataOption": "INSERT_ROWS"},
            {"values": rows},
            idempotent=False,
        )
        return len(events)

    def _layout(self) -> list[str]:
        """The tab's header (read once). Someone may have added or moved columns: rows are
        written under the tab's own headers, and our missing columns are added at its end."""
        if self._header is None:
            first = self._caller.read(self.http.values_get, self.key, absolute_range_name(self.title, "1:1"))
            header = [str(h) for h in (first.get("values") or [[]])[0]]
            known = {loose(h) for h in header if str(h).strip()}
            missing = [h for h in HISTORY_HEADER if loose(h) not in known]
            if missing:
                header = (header if known else []) + missing
                self._widen(len(header))
                self._caller.write(
                    self.http.values_update,
                    self.key,
                    absolute_range_name(self.title, "A1"),
                    params={"valueInputOption": "RAW"},
                    body={"values": [header]},
                )
            self._header = header
        return self._header

    def _widen(self, cols: int) -> None:
        """A tab made by an older Giftrun is narrower than today's header: Sheets refuses a
        write outside the grid, so add the columns first."""
        grid = (self.properties or {}).setdefault("gridProperties", {})
        have = int(grid.get("columnCount") or 0)
        if self.properties is None or cols <= have:
            return
        self._caller.write(
            self.http.batch_update,
            self.key,
            {
                "requests": [
                    {
                        "appendDimension": {
                            "sheetId": self.properties.get("sheetId"),
                            "dimension": "COLUMNS",
                            "length": cols - have,
                        }
                    }
                ]
            },
        )
        grid["columnCount"] = cols

    def read_events(self) -> list[StatusEvent]:
        """Every event on the tab (first copy of each event id), [] when there is no tab."""
        if self.properties is None:
            return []
        res = self._caller.read(
            self.http.values_get,
            self.key,
            absolute_range_name(self.title),
            params={"valueRenderOption": "FORMATTED_VALUE"},
        )
        values = res.get("values", [])
        if not values:
            return []
        col = {loose(h): j for j, h in reversed(list(enumerate(values[0])))}

        def get(row: list, name: str) -> str:
            j = col.get(loose(name))
            return str(row[j]).strip() if j is not None and j < len(row) else ""

        out: list[StatusEvent] = []
        seen: set[str] = set()
        for row in values[1:]:
            event_id, gift_id = get(row, "Event id"), get(row, "Gift request ID")
            if not event_id or not gift_id or event_id in seen:
                continue
            seen.add(event_id)
            try:
                source = EventSource(get(row, "Source"))
            except ValueError:
                source = EventSource.SHEET
            received = get(row, "Received at") or get(row, "Occurred at")
            kw = {"received_at": received} if received else {}
            out.append(
                StatusEvent(
                    event_id=event_id,
                    gift_request_id=gift_id,
                    status=get(row, "Status"),
                    source=source,
                    email=get(row, "Email"),
                    event_type=get(row, "Type"),
                    occurred_at=get(row, "Occurred at") or None,
                    redemption_url=get(row, "Redemption URL") or None,
                    actor=get(row, "Actor"),
                    campaign_id=get(row, "Campaign ID") or None,
                    created_at=get(row, "Created at") or None,
                    **kw,
                )
            )
        return out


def _event_row(e: StatusEvent) -> list[str]:
    return [
        e.received_at or "",
        e.event_id,
        e.event_type or "",
        e.gift_request_id,
        e.email or "",
        e.status or "",
        str(e.source),
        e.occurred_at or "",
        e.redemption_url or "",
        e.actor or "",
        e.campaign_id or "",
        e.created_at or "",
    ]


def sync_outbox(store: Any, target: str, tab: HistoryTab) -> int:
    """Append the store's pending events for `target` to the tab in one call and mark them
    done. On SheetsError they stay pending (retried next time) and the error is raised."""
    events = store.pending(target)
    if not events:
        return 0
    tab.append(events)
    store.done(target, [e.event_id for e in events])
    return len(events)
