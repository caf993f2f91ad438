"""Google Sheets on the Build list page, and the sink and history that go with a sheet list."""
from __future__ import annotations

import logging
import os
import time
from typing import Callable

import pandas as pd
import streamlit as st

from lib import sheets
from lib.runtime import Services
from lib.sending import SendRun
from lib.settings import Settings
from lib.sheet_source import SHEET_FLUSH_INTERVAL, import_shared_history, load_sheet, mirror_events
from lib.review import status_results
from lib.sources import LoadedList

from . import state

log = logging.getLogger(__name__)
LINKS = state.SHEET_LINKS


def _available(settings: Settings) -> bool:
    return bool(settings.service_account or os.environ.get("SHEETS_EMULATOR_HOST"))


def open_sheet_form(svc: Services) -> None:
    settings = svc.settings
    if not _available(settings):
        st.info("To open Google Sheets, the operator adds a Google service account to the secrets "
                "(`[gcp_service_account]`, or `GOOGLE_SERVICE_ACCOUNT_JSON`). See the README, *Going live*.")
        return
    email = sheets.service_account_email(settings.service_account)
    if email:
        st.write(f"Share your sheet with **{email}** (as an Editor), then paste its link.")
    link = st.text_input("Google Sheet link", placeholder="https://docs.google.com/spreadsheets/d/…/edit",
                         key="sheet_link")
    tabs = st.session_state.get("giftrun_sheet_tabs", {}).get(link) if link else None
    worksheet = st.selectbox("Tab", tabs, key="sheet_tab") if tabs else None
    if st.button("Open sheet", type="primary", key="open_sheet", disabled=not link):
        try:
            loaded, sink = load_sheet(link, settings, None, worksheet)
        except sheets.SheetsError as exc:
            st.error(str(exc))
            return
        st.session_state.setdefault(LINKS, {})[loaded.list_key] = (link, worksheet)
        state.set_list(loaded)
        names = [t for t in sink.sheet.worksheet_titles() if t != sheets.HISTORY_TITLE]
        st.session_state.setdefault("giftrun_sheet_tabs", {})[link] = names
        st.success(f"Opened {loaded.name}: {len(loaded.frame)} people."
                   + (" Pick another tab above and open again to use it." if len(names) > 1 else ""))


def sink_for(svc: Services, loaded: LoadedList):
    """A fresh sink on the list's sheet (rows are found again by identity at each flush),
    or None for lists that live only in the app."""
    link = st.session_state.get(LINKS, {}).get(loaded.list_key)
    if link is None:
        return None
    _, sink = load_sheet(link[0], svc.settings, vars(loaded.cmap), link[1])
    return sink


def after_run(svc: Services, sink) -> Callable[[SendRun], None] | None:
    """For a sheet list: once the run ends, settle moved writes and append the list's
    status events to the sheet's `Gift history` tab."""
    if sink is None:
        return None

    def finish(run: SendRun) -> None:
        sink.settle()
        ids = sorted({e.gift_request_id for e in svc.store.journal(run.list_key).values() if e.gift_request_id})
        events = [e for gid in ids for e in svc.store.events(gift_request_id=gid)]
        if events:
            mirror_events(svc.store, sheets.history_target(sink.sheet.ref), sink.sheet.history_tab(create=True),
                          events)

    return finish


def write_statuses(svc: Services, loaded: LoadedList | None) -> str | None:
    """For a list from a sheet: write each row's latest `Gift status` (and late redemption
    links) back to the sheet, and append new status events to its `Gift history` tab."""
    link = st.session_state.get(LINKS, {}).get(loaded.list_key) if loaded is not None else None
    if link is None:
        return None
    try:  # the sheet as it is now: ids written by runs, rows people moved
        current, sink = load_sheet(link[0], svc.settings, vars(loaded.cmap), link[1])
    except sheets.SheetsError as exc:
        return f"Could not read the sheet: {exc}"
    results = status_results(current.frame, svc.store)
    ids = sorted({e.gift_request_id for e in svc.store.journal(loaded.list_key).values() if e.gift_request_id})
    events = [e for gid in ids for e in svc.store.events(gift_request_id=gid)]
    try:
        sink.write(results)
        if events:
            mirror_events(svc.store, sheets.history_target(sink.sheet.ref), sink.sheet.history_tab(create=True),
                          events)
    except sheets.SheetsError as exc:
        return f"Could not write statuses to the sheet: {exc}"
    return f"Wrote Gift status for {len(results)} rows to {loaded.name}."


_last_import: dict[str, float] = {}


def shared_history(svc: Services) -> pd.DataFrame | None:
    """Bring the shared `Gift history` tab (GIFTRUN_HISTORY_SHEET) into the local store at
    most every 30 s, so statuses and the look-back check include the receiver's events."""
    if not svc.settings.history_sheet or time.monotonic() - _last_import.get("at", -1e9) < 30:
        return None
    _last_import["at"] = time.monotonic()
    try:
        import_shared_history(svc.settings, svc.store)
    except Exception as exc:
        st.warning(f"Could not read the shared Gift history sheet ({exc}); showing the local history only.")
    return None

