"""Process services and per-session state, so pages stay thin views over lib/."""

from __future__ import annotations

from typing import Any

import streamlit as st

from lib import csvio
from lib.errors import GiftrunError
from lib.name_split import NameSplit, SplitAt
from lib.recipients import without_stale
from lib.runtime import Services, get_services
from lib.settings import Settings, SettingsError
from lib.sources import LoadedList, csv_bytes, prepare
from lib.store import StoreError
from lib.writeback import APPROVED

from .text import md

LIST = "giftrun_list"  # the LoadedList being worked on (base frame: approvals committed)
LIST_PARAM = "list"  # the query parameter naming the open list's key, so a refresh reopens it
RESTORED = "giftrun_restored"  # the list key this session tried to reopen from the address
EDITOR_VERSION = "giftrun_editor_version"
BULK_APPROVAL = "giftrun_bulk_approval"  # Approve all / none still to finish (ui/approvals.py)
LOOKBACK = "giftrun_lookback"
CAMPAIGN = "giftrun_campaign"
SHEET_LINKS = "giftrun_sheet_links"  # list_key -> (link, tab) for lists that came from a sheet
OVERWRITE_COLUMNS = "giftrun_overwrite_columns"  # Review & send: write over the list's own columns named like results
MAPPING_NOTE = "giftrun_mapping_note"  # (list_key, why a reopened list lost a saved column choice), for Build list


def _secrets() -> dict[str, Any]:
    try:
        return {k: st.secrets[k] for k in st.secrets.keys()}
    except Exception:  # no secrets file: demo mode / environment only
        return {}


def load_settings() -> Settings:
    return Settings.from_secrets(_secrets())


def services() -> Services:
    """The process's services; a store that cannot be opened (an unreachable database) is one
    clear message on the page, and nothing else runs."""
    port = st.get_option("server.port")
    try:
        return get_services(load_settings, port=port)
    except (StoreError, SettingsError) as exc:
        st.error(str(exc), icon="🛑")
        st.stop()
        raise  # st.stop() raises; this line is for type checkers


def actor() -> str:
    """Who is acting, for the audit trail: the signed-in email, else "local"."""
    try:
        if st.user.is_logged_in and st.user.get("email"):
            return str(st.user.get("email"))
    except Exception:
        pass
    return st.session_state.get("giftrun_actor", "local")


def current_list() -> LoadedList | None:
    """The list being worked on. The page's address names it (`?list=KEY`), so a refreshed or
    reopened tab (a new session) gets it back from the store, approvals included."""
    loaded = st.session_state.get(LIST)
    wanted = st.query_params.get(LIST_PARAM)
    if loaded is None and wanted and st.session_state.get(RESTORED) != wanted:
        st.session_state[RESTORED] = wanted  # one try per address: a list that cannot come back stays closed
        try:
            loaded = reopen_list(wanted)
        except GiftrunError as exc:  # a sheet that can no longer be read: say so, keep the page usable
            st.warning(f"Could not reopen the last list: {md(exc, limit=1000)}")
        if loaded is not None:
            st.session_state[LIST] = loaded
            bump_editor()
    if loaded is not None and wanted != loaded.list_key:
        st.query_params[LIST_PARAM] = loaded.list_key
    return loaded


def set_list(loaded: LoadedList | None, *, save: bool = True) -> None:
    st.session_state[LIST] = loaded
    bump_editor()
    if loaded is not None and save:
        save_list(loaded)


def save_list(loaded: LoadedList) -> None:
    """Keep the list (approvals included) in the store, so a closed tab loses nothing: the
    user's own file with the ticks made here, when it came from a file."""
    approved = [loaded.cmap.approved] if loaded.cmap.approved in loaded.frame.columns else []
    mapping = {k: v for k, v in vars(loaded.cmap).items() if v}
    if loaded.split is not None:  # the split is made again on reopening, from the user's own column
        mapping |= {"_split_name": loaded.split.column, "_split_at": str(loaded.split.at)}
    link = st.session_state.get(SHEET_LINKS, {}).get(loaded.list_key)
    if link:  # a sheet list is reopened from its sheet, the durable copy
        mapping |= {"_sheet_link": link[0], "_sheet_tab": link[1] or ""}
    services().store.save_list(loaded.list_key, loaded.name, csv_bytes(loaded, loaded.frame, approved), mapping)


def reopen_list(list_key: str) -> LoadedList | None:
    """The saved list with its saved column choices. A choice naming a column the list no
    longer has is dropped (that field then has no column until the user picks one) and
    MAPPING_NOTE says which: never read from another column without a word."""
    st.session_state.pop(MAPPING_NOTE, None)
    saved = services().store.load_list(list_key)
    if saved is None:
        return None
    name, data, mapping = saved
    link, tab = mapping.pop("_sheet_link", None), mapping.pop("_sheet_tab", None) or None
    split_name, split_at = mapping.pop("_split_name", None), mapping.pop("_split_at", None)
    if link:
        from lib.sheet_source import SheetColumnsError, load_sheet

        # Approved may be the column the app adds to a sheet without one: no note for that
        quiet = ("approved",) if mapping.get("approved") == APPROVED else ()
        try:
            loaded, _ = load_sheet(link, services().settings, mapping, tab, absent_ok=quiet)
        except SheetColumnsError as exc:
            mapping, note = without_stale(exc.columns, mapping, absent_ok=quiet)
            loaded, _ = load_sheet(link, services().settings, mapping, tab)
            st.session_state[MAPPING_NOTE] = (loaded.list_key, note)
        st.session_state.setdefault(SHEET_LINKS, {})[loaded.list_key] = (link, tab)
        return loaded
    document = csvio.read_csv(data, name=name)
    columns = [str(c) for c in document.frame.columns]
    split = NameSplit(split_name, SplitAt(split_at)) if split_name in columns and split_at in set(SplitAt) else None
    mapping, note = without_stale([*columns, *(split.columns if split else ())], mapping)
    if note:
        st.session_state[MAPPING_NOTE] = (list_key, note)
    return prepare(document.frame, list_key=list_key, name=name, overrides=mapping, document=document, split=split)


def editor_version() -> int:
    return st.session_state.get(EDITOR_VERSION, 0)


def bump_editor() -> None:
    st.session_state[EDITOR_VERSION] = editor_version() + 1


def editor_key(loaded: LoadedList) -> str:
    return f"editor-{loaded.list_key}-{editor_version()}"


def approved_column(loaded: LoadedList) -> str:
    return loaded.cmap.approved or APPROVED
