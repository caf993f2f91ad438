"""A Google Sheet as a list (source and destination) and as the shared history store.

On Streamlit Community Cloud the app's disk does not last and the webhook receiver runs
on another host, so the `Gift history` tab of GIFTRUN_HISTORY_SHEET is what they share:
the receiver appends every accepted event there (through the store's outbox, so nothing
is lost while Google refuses), and the app and the CLI import that tab's events into
their local store before they compute statuses and the look-back check.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Mapping

import gspread

from . import sheets
from .csvio import MAX_ROWS
from .models import StatusEvent
from .recipients import ColumnMappingError, match_columns
from .settings import Settings
from .sources import LoadedList, prepare
from .store import Store

log = logging.getLogger(__name__)
MIRROR_INTERVAL = 5.0  # seconds between appends to the shared tab: ≤ 12 writes a minute


def sheets_client(settings: Settings) -> gspread.Client:
    return sheets.make_client(settings.service_account, emulator_host=settings.sheets_emulator_host)


class SheetColumnsError(sheets.SheetsError):
    """A column mapping names a column the tab no longer has (or one column for two fields):
    never read the list from another column. `columns` and `stale` as ColumnMappingError's."""

    def __init__(self, message: str, *, columns: tuple[str, ...], stale: dict[str, str]) -> None:
        super().__init__(message)
        self.columns, self.stale = columns, stale


def load_sheet(
    text: str,
    settings: Settings,
    overrides: Mapping[str, str] | None = None,
    worksheet: str | None = None,
    client: gspread.Client | None = None,
    absent_ok: Collection[str] = (),
) -> tuple[LoadedList, sheets.SheetSink]:
    """Open the sheet, read it as text, key its rows by identity (not position). An override
    naming a column the tab does not have raises SheetColumnsError (see match_columns)."""
    sheet = sheets.SheetList.open(client or sheets_client(settings), sheets.parse_sheet_ref(text), worksheet)
    frame = sheet.read()
    if len(frame) > MAX_ROWS:
        raise sheets.SheetsError(
            f"The tab '{sheet.title}' has {len(frame):,} people; the limit is {MAX_ROWS:,} rows. "
            "Split it into smaller tabs."
        )
    try:
        cmap = match_columns(list(frame.columns), overrides, absent_ok=absent_ok)
    except ColumnMappingError as exc:
        raise SheetColumnsError(f"In the tab '{sheet.title}': {exc}", columns=exc.columns, stale=exc.stale) from None
    keys = sheets.row_keys(frame, cmap.email, cmap.first_name, cmap.last_name)
    loaded = prepare(
        frame,
        list_key=sheet.list_key,
        name=f"{sheet.spreadsheet_title} / {sheet.title}",
        overrides={**vars(cmap)},
        row_keys=keys,
        row_numbers=sheet.row_numbers,  # the tab's own numbers: blank rows between people count
    )
    return loaded, sheet.sink(cmap.email, cmap.first_name, cmap.last_name)


_sync_locks: dict[str, threading.Lock] = {}
_sync_guard = threading.Lock()


def sync(store: Store, target: str, tab: sheets.HistoryTab) -> int:
    """sync_outbox, one caller per target at a time in this process: two sessions pressing
    Refresh (or a run ending during one) must not append the same events twice."""
    with _sync_guard:
        lock = _sync_locks.setdefault(target, threading.Lock())
    with lock:
        return sheets.sync_outbox(store, target, tab)


def mirror_events(
    store: Store, target: str, tab: sheets.HistoryTab | Callable[[], sheets.HistoryTab], events: list[StatusEvent]
) -> int:
    """Queue events for a sheet's history tab, then try to append them now; on a Google
    refusal (even while creating the tab) they stay queued in the store for the next call."""
    store.enqueue(target, [e.event_id for e in events])
    try:
        return sync(store, target, tab() if callable(tab) else tab)
    except sheets.SheetsError as exc:
        log.warning("history tab append postponed: %s", exc)
        return 0


def history_mirror(
    settings: Settings, store: Store, client: gspread.Client | None = None
) -> Callable[[list[StatusEvent]], None]:
    """The receiver's on_accepted hook: queue each accepted event for the shared tab; a
    background thread appends the queue in batches every few seconds."""
    link = settings.history_sheet
    if not link:
        raise sheets.SheetsError("No shared history sheet is configured (GIFTRUN_HISTORY_SHEET).")
    target = sheets.history_target(link)
    state: dict[str, sheets.HistoryTab] = {}
    wake = threading.Event()

    def tab() -> sheets.HistoryTab:
        if "tab" not in state:
            state["tab"] = sheets.HistoryTab.open(client or sheets_client(settings), link)
        return state["tab"]

    def loop() -> None:
        while True:
            wake.wait(MIRROR_INTERVAL)
            wake.clear()
            try:
                sync(store, target, tab())
            except Exception as exc:  # kept in the outbox, retried next round
                state.pop("tab", None)  # renamed or deleted meanwhile: open (and create) it afresh
                log.warning("history tab append postponed: %s", exc)

    threading.Thread(target=loop, daemon=True, name="history-mirror").start()

    def on_accepted(events: list[StatusEvent]) -> None:
        store.enqueue(target, [e.event_id for e in events])

    return on_accepted


def import_shared_history(settings: Settings, store: Store, client: gspread.Client | None = None) -> int:
    """Copy the shared tab's events into the local store (deduplicated by event id)."""
    if not settings.history_sheet:
        return 0
    tab = sheets.HistoryTab.open(client or sheets_client(settings), settings.history_sheet, create=False)
    if not tab.exists:
        return 0
    return len(store.add_events(tab.read_events()))
