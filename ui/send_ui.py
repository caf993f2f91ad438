"""Review & send's Send step: other runs on the list, and starting a run through the one send
use-case (lib/send_job.py), every refusal shown as one message."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import streamlit as st

from lib import guardrails
from lib.errors import GiftrunError
from lib.guardrails import RunLimits
from lib.plain_words import count, person
from lib.plan import RowAction
from lib.review import Review
from lib.runtime import Services
from lib.send_job import SendChoices, prepare_send
from lib.send_words import SendGate, SendPlan, before_send, send_blocked
from lib.sending import SendRun
from lib.sources import LoadedList
from lib.store import RunInProgress

from . import limits as limits_ui
from . import sheets_ui, state
from .text import md, plain


def runs_elsewhere(svc: Services, loaded: LoadedList, run: SendRun | None) -> bool:
    """Warn about a run on this list started in another session or process, with a Stop."""
    live = [r for r in svc.store.live_runs(loaded.list_key) if not run or r.run_id != run.run_id]
    if not live:
        return False
    r0 = live[0]
    st.warning(
        f"A run on this list is in progress elsewhere (started by {md(person(r0.actor, state.actor()))}, "
        f"{r0.counts.get('done', 0):,} of {r0.counts.get('total', 0):,} done)."
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
        waiting = st.empty()  # a database restarting as Send is pressed: said while it is waited for
        svc.registry.start(new_run, context=loaded, after=after, notify=lambda why: waiting.warning(plain(why)))
        waiting.empty()
    except RunInProgress as exc:
        st.warning(md(exc, limit=1000))
        return False
    except GiftrunError as exc:  # &Open, Sheets, the store: each says what to do
        st.error(md(exc, limit=1000))
        return False
    return True


def send_area(
    svc: Services,
    loaded: LoadedList,
    rev: Review,
    *,
    campaign: str,  # its name as Markdown (ui.text.md)
    max_gifts: int | None,
    choices: Callable[[RunLimits], SendChoices],
    on_send: Callable[[], None],
    invite_after: bool = False,
) -> None:
    """Before Send: the run in words, the limits and a large run's confirmation; then Send, and
    under a greyed Send the reason it cannot be pressed."""
    run = svc.registry.get(loaded.list_key)
    elsewhere = runs_elsewhere(svc, loaded, run)
    to_send = rev.plan.count(RowAction.SEND)
    made = choices(RunLimits(max_gifts, svc.settings.daily_limit))
    confirm_key = state.editor_key(loaded) + "-ok"
    planned = guardrails.planned_gifts(to_send, max_gifts)
    if words := before_send(
        SendPlan(planned, campaign, made.window, None, made.rate, to_send if max_gifts is not None else None)
    ):
        st.markdown(words)  # the campaign's name comes in escaped (md)
    limits, planned, ok, room = limits_ui.before_send(svc, to_send, max_gifts, confirm_key)
    gate = SendGate(
        gifts=planned,
        approved=sum(1 for c in rev.checks if c.approved),
        elsewhere=elsewhere,
        room_left=room.left if room is not None else None,
        frees_at=room.frees_text() if room is not None else "",
        confirm_needed=guardrails.needs_confirmation(planned),
        confirmed=ok,
    )
    why = send_blocked(gate)
    if st.button(f"Send {count(planned, 'gift')}", type="primary", disabled=bool(why), key="send"):
        on_send()
        if start(svc, loaded, replace(made, limits=limits), invite_after=invite_after):
            state.bump_editor()
            st.rerun()
    if why:
        st.caption(why)
