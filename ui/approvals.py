"""Review & send's approvals: the grid's ticks and Approve all / none, on the list even when a
callback is cut short.

A rerun request that reaches Streamlit while callbacks run (the grid sends its edits again a
moment after a tick; another widget) is raised inside the running callback at its first
session-state access, and the rest of it never runs: about 1 Approve all in 45 did nothing at
5,000 rows. So Approve all / none change only the list object, with no session-state access, and
the page finishes their work (`settle`) in whichever run comes next, again if that one is cut
short: each step can be done twice. The grid's own commit has to read its state first; `settle`
keeps any tick the grid holds and the list does not."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import streamlit as st

from lib.recipients import apply_approval_edits, set_all_approved
from lib.sources import LoadedList

from . import review_cache, review_grid, state


def _bulk() -> dict:
    """Approve all / none still to finish: a plain dict, which a callback changes without a
    session-state access (it holds the dict itself)."""
    return st.session_state.setdefault(state.BULK_APPROVAL, {})


def settle(loaded: LoadedList, approved_col: str) -> pd.DataFrame:
    """The list with every approval on it, and that frame with the grid's ticks applied."""
    bulk = _bulk()
    if bulk:
        state.set_list(loaded)  # a new grid: the old one's ticks would be laid over the new approvals
        review_cache.only_approvals_changed(since=bulk["since"])  # only the Approved column changed
        bulk.clear()
    edits = review_grid.pending_edits(loaded)
    effective = apply_approval_edits(loaded.frame, edits, approved_col) if edits else loaded.frame
    if edits and not effective[approved_col].equals(loaded.frame[approved_col]):
        # kept now: the grid drops an edit once its data shows it, and the tick would be gone
        loaded.frame = effective
        state.save_list(loaded)
    return effective


def bulk_buttons(loaded: LoadedList, approved_col: str) -> None:
    """Approve all and Approve none: one drawing, not two (the work is done before the page)."""
    bulk, since = _bulk(), state.editor_version()

    def approve_every_row(value: bool) -> None:
        loaded.frame = set_all_approved(loaded.frame, approved_col, value)  # no session-state access
        bulk["since"] = since

    b1, b2, _ = st.columns([1, 1, 4])
    b1.button("Approve all", key="approve_all", on_click=approve_every_row, args=(True,))
    b2.button("Approve none", key="approve_none", on_click=approve_every_row, args=(False,))


def commit(loaded: LoadedList, approved_col: str):
    """The grid's callback: ticks saved as they are made, so leaving the page or closing the tab
    keeps them."""

    def commit_edits(changed: Mapping) -> None:
        loaded.frame = apply_approval_edits(loaded.frame, changed, approved_col)
        state.save_list(loaded)

    return commit_edits
