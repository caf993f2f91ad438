"""Review & send's Send step: other runs on the list, and starting a run through the one send
use-case (lib/send_job.py), every refusal shown as one message."""

from __future__ import annotations

import streamlit as st

from lib.errors import GiftrunError
from lib.runtime import Services
from lib.send_job import SendChoices, prepare_send
from lib.sending import SendRun
from lib.sources import LoadedList
from lib.store import RunInProgress

from . import sheets_ui, state
from .text import md


def runs_elsewhere(svc: Services, loaded: LoadedList, run: SendRun | None) -> bool:
    """Warn about a run on this list started in another session or process, with a Stop."""
    live = [r for r in svc.store.live_runs(loaded.list_key) if not run or r.run_id != run.run_id]
    if not live:
        return False
    r0 = live[0]
    st.warning(
        f"A run on this list is in progress elsewhere (started by {md(r0.actor)}, "
        f"{r0.counts.get('done', 0)}/{r0.counts.get('total', '?')} done)."
    )
    if st.button("Stop that run", key="stop_elsewhere"):
        svc.store.request_stop(r0.run_id, state.actor())
        st.toast("Stop requested: it takes effect within a second.")
    return True


def start(svc: Services, loaded: LoadedList, choices: SendChoices, *, invite_after: bool = False) -> bool:
    """Start the run in the background; True when it started. A sheet is sent as it is now,
    never from a stale copy. `invite_after`: once the gifts completed, email the invitations."""
    try:
        client = svc.client()
        sink, current = None, loaded
        if sheets_ui.is_sheet_list(loaded):
            current, sink = sheets_ui.fresh(svc, loaded)
        prepared = prepare_send(current, svc.store, choices, extra_history=sheets_ui.shared_history(svc))
        new_run = prepared.new_run(client, svc.store, sink, to_sheet=sink is not None)
        after = sheets_ui.after_run(svc, sink)
        if invite_after:
            from .invite_ui import after_gifts

            after = after_gifts(svc, loaded, after)
        svc.registry.start(new_run, context=loaded, after=after)
    except RunInProgress as exc:
        st.warning(md(exc, limit=1000))
        return False
    except GiftrunError as exc:  # &Open, Sheets, the store: each says what to do
        st.error(md(exc, limit=1000))
        return False
    return True
