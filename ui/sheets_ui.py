"""Google Sheets on the Build list page, and the sink and history that go with a sheet list."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pandas as pd
import streamlit as st

from lib import sheets
from lib.review import review, status_results
from lib.runtime import Services
from lib.sending import SendRun
from lib.settings import Settings
from lib.sheet_source import import_shared_history, load_sheet, mirror_events
from lib.sources import LoadedList

from . import state
from .text import md

log = logging.getLogger(__name__)
LINKS = state.SHEET_LINKS


def _available(settings: Settings) -> bool:
    return bool(settings.service_account or settings.sheets_emulator_host)


def open_sheet_form(svc: Services) -> None:
    settings = svc.settings
    if not _available(settings):
        st.info(
            "To open Google Sheets, the operator adds a Google service account to the secrets "
            "(`[gcp_service_account]`, or `GOOGLE_SERVICE_ACCOUNT_JSON`). See the README, *Going live*."
        )
        return
    email = sheets.service_account_email(settings.service_account)
    if email:
        st.write(f"Share your sheet with **{md(email)}** (as an Editor), then paste its link.")
    link = st.text_input(
        "Google Sheet link", placeholder="https://docs.google.com/spreadsheets/d/…/edit", key="sheet_link"
    )
    is_sheet = bool(link) and sheets.looks_like_sheet(link)  # the CLI's rule too
    if link and not is_sheet:
        st.warning(md(sheets.NOT_A_SHEET))
    tabs = st.session_state.get("giftrun_sheet_tabs", {}).get(link) if link else None
    worksheet = st.selectbox("Tab", tabs, key="sheet_tab") if tabs else None
    if st.button("Open sheet", type="primary", key="open_sheet", disabled=not is_sheet):
        try:
            loaded, sink = load_sheet(link, settings, None, worksheet)
        except sheets.SheetsError as exc:
            st.error(md(exc, limit=1000))
            return
        # Reopen this exact tab later by its id: a bare link would pick whatever tab is first then.
        st.session_state.setdefault(LINKS, {})[loaded.list_key] = (sink.sheet.url, None)
        state.set_list(loaded)
        names = [t for t in sink.sheet.worksheet_titles() if t != sheets.HISTORY_TITLE]
        st.session_state.setdefault("giftrun_sheet_tabs", {})[link] = names
        st.success(
            f"Opened {md(loaded.name)}: {len(loaded.frame)} people."
            + (" Pick another tab above and open again to use it." if len(names) > 1 else "")
        )


def is_sheet_list(loaded: LoadedList | None) -> bool:
    return loaded is not None and loaded.list_key in st.session_state.get(LINKS, {})


def fresh(svc: Services, loaded: LoadedList) -> tuple[LoadedList, sheets.SheetSink]:
    """The sheet as it is now (ids written meanwhile by another run or store, rows people
    moved), with this session's ticks applied by row identity. Sending from this, never
    from the copy read when the sheet was opened, is what keeps a sheet list from being
    gifted twice."""
    link, tab = st.session_state[LINKS][loaded.list_key]
    current, sink = load_sheet(
        link, svc.settings, {k: v or "" for k, v in vars(loaded.cmap).items()}, tab, absent_ok=("approved",)
    )  # ticks of an Approved column the sheet lacks: below
    col = loaded.cmap.approved
    if col and col in loaded.frame.columns:
        if col not in current.frame.columns:  # ticked in the app: the sheet has no Approved column
            current.frame.insert(len(current.user_columns), col, "FALSE")
            current.user_columns = (*current.user_columns, col)
            current.cmap = type(current.cmap)(**{**vars(current.cmap), "approved": col})
        ticks = loaded.frame[col]
        keep = current.frame.index.isin(ticks.index)
        current.frame.loc[keep, col] = ticks.reindex(current.frame.index[keep]).values
    return current, sink


def after_run(svc: Services, sink) -> Callable[[SendRun], None] | None:
    """For a sheet list, once the run ends: retry results Google refused (they are in the
    journal either way), settle moved writes, append the list's events to its history tab."""
    if sink is None:
        return None

    def finish(run: SendRun) -> None:
        for wait in (2, 5, 10, 20, 30):  # Google's per-minute quota refills within a minute
            if not run.unflushed:
                break
            time.sleep(wait)
            run.flush_pending()
        sink.settle()
        mirror_list_events(svc, run.list_key, sink)

    return finish


def mirror_list_events(svc: Services, list_key: str, sink: sheets.SheetSink) -> int:
    ids = sorted({e.gift_request_id for e in svc.store.journal(list_key).values() if e.gift_request_id})
    events = [e for gid in ids for e in svc.store.events(gift_request_id=gid)]
    if not events:
        return 0
    return mirror_events(
        svc.store, sheets.history_target(sink.sheet.ref), lambda: sink.sheet.history_tab(create=True), events
    )


def write_results(svc: Services, loaded: LoadedList | None, window) -> str | None:
    """For a list from a sheet: write what the store knows back to the sheet — results of
    runs whose write-back Google refused, each row's latest `Gift status`, late redemption
    links — and append new status events to its `Gift history` tab."""
    if not is_sheet_list(loaded):
        return None
    try:
        current, sink = fresh(svc, loaded)
        rev = review(current, svc.store, window)
        results = rev.results() + status_results(rev.frame, svc.store)
        sink.write(results)
        mirror_list_events(svc, loaded.list_key, sink)
    except sheets.SheetsError as exc:
        return f"Could not write to the sheet: {exc}"
    return f"Wrote results and Gift status for {len(current.frame)} rows to {loaded.name}."


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
        st.warning(
            f"Could not read the shared Gift history sheet ({md(exc, limit=1000)}); showing the local history only."
        )
    return None
