"""Review & send's review, done again only when something it reads has changed.

A tick reruns the whole page; reviewing 20,000 rows again (validation, journal, look-back)
takes about a second. The review is kept in this session's state (freed with the session,
never in a process-wide cache) with what it was made from: the list, the
grid's ticks, the look-back, the overwrite choice, the store's stamp and the hour. Anything
else different, a run in flight or a send attempt still open, and it is done afresh; only
ticks different, and the rows sharing an email with a ticked row are planned again. Sending
never uses this copy: `send_job.prepare_send` reviews the list again."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from lib import eligibility as elig
from lib.own_columns import Overwrite
from lib.review import Review, reapproved
from lib.runtime import Services
from lib.send_job import review_for_send
from lib.sources import LoadedList

from . import sheets_ui, state

CACHE = "giftrun_review_cache"


def _unsettled(stamp: tuple) -> bool:
    """A run in flight or an attempt not finished: the review also repairs and reads the clock."""
    parts = dict(stamp)
    return any(row[0] == "attempting" for row in parts["sends"]) or any(row[0] == "running" for row in parts["runs"])


def reviewed(
    svc: Services,
    view: LoadedList,
    approved_col: str,
    window: elig.Window | None,
    overwrite: bool,
) -> tuple[Review, list[Overwrite]]:
    """The review of `view` (the list with the grid's ticks applied), reused while nothing changed,
    and brought up to date row by row when only ticks changed. Between two bumps of the editor
    version (a new list, a finished run…) only the ticks change the list's cells; Approve all /
    none bump it having changed only ticks, and say so (`only_approvals_changed`)."""
    extra = sheets_ui.shared_history(svc)
    stamp = svc.store.stamp()
    made_of = (
        view.list_key,
        state.editor_version(),
        tuple(view.frame.columns),
        tuple(view.frame.index),
        tuple(sorted(vars(view.cmap).items())),
        view.user_columns,
        window,
        overwrite,
        view.row_numbers,
        stamp,
        datetime.now(UTC).strftime("%Y-%m-%d %H"),  # the look-back counts days back from now
    )
    ticks = tuple(view.frame[approved_col].tolist())
    kept = st.session_state.get(CACHE)
    if kept is not None and kept[0] == made_of and extra is None:
        if kept[1] == ticks:
            return kept[2], kept[3]
        if not kept[3]:  # no column diverted: the review's frame is the list's
            rev = reapproved(kept[2], view, svc.store)
            st.session_state[CACHE] = (made_of, ticks, rev, kept[3])
            return rev, kept[3]
    _, rev, overwrites = review_for_send(view, svc.store, window, overwrite=overwrite, extra_history=extra)
    st.session_state[CACHE] = None if _unsettled(stamp) or extra is not None else (made_of, ticks, rev, overwrites)
    return rev, overwrites


def only_approvals_changed(*, since: int) -> None:
    """Say that the list's Approved column is all that changed since editor version `since` (Approve
    all / none, which start a new grid): the kept review, if it was made at that version, stays
    usable and the next drawing plans again only the rows whose approval changed (`reapproved`).
    Everything else it was made of (the store's stamp, the hour, the look-back…) is still checked."""
    kept = st.session_state.get(CACHE)
    if kept is None or kept[0][1] != since:
        return
    made_of = (kept[0][0], state.editor_version(), *kept[0][2:])
    st.session_state[CACHE] = (made_of, *kept[1:])
