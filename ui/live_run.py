"""Review & send while a run goes, and once it is over. One fragment draws the metrics, the
progress (with its time left and Stop) and the grid from the same snapshot of the run, every
second, so they never disagree; the confirmation box and Send are not drawn meanwhile."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lib.plain_words import person
from lib.review import Review
from lib.review_rows import FILTERS, bucket_counts, filter_label, in_filter, views
from lib.runs import RunRegistry
from lib.send_words import run_finished, run_status
from lib.sending import SendRun

from . import runview, state
from .text import md

LIVE_FILTER = "giftrun_live_filter"
GIFT_STATUS_PAGE = "views/gift_status.py"


def panel(run: SendRun, rev: Review, base: pd.DataFrame, registry: RunRegistry) -> None:
    """The run's status panel, for the whole run: its gifts, then the invitations emailed after
    them, with one Stop for both. `base` is the grid as the page built it; the run's rows are
    redrawn from what the run says of them."""
    run_rows = [item.row_key for item in run.items]

    @st.fragment(run_every=1.0)
    def _view() -> None:
        p, outcomes = run.live()
        if not registry.going(run.list_key):  # over: draw the whole page once more, with the results and Send
            seen = st.session_state.setdefault("giftrun_seen_runs", set())
            if p.run_id not in seen:
                seen.add(p.run_id)
                state.bump_editor()
            st.rerun(scope="app")
        shown = views(rev.plan.rows, run_rows, outcomes, running=True)
        counts = bucket_counts(shown.values())
        runview.metrics(counts, live=True)
        invites = registry.chained_invites(run.list_key)
        i = invites.snapshot() if invites is not None else None
        done, total = (i.done, i.total) if i is not None else (p.done + p.already + p.skipped + p.limited, p.total)
        st.progress(min(1.0, done / max(total, 1)), text=md(run_status(p, i)))
        if st.button("Stop", key=f"stop-{p.run_id}"):
            registry.stop(run.list_key, f"Stopped by {person(state.actor())}.")
            st.toast("Stopping: no new sends or emails; the ones in flight finish and are recorded.")
        if p.waiting:  # a store blip: the run pauses and goes on when the database is back
            st.warning(md(p.waiting, limit=1000))
        if p.writeback_error:
            st.warning(md(p.writeback_error, limit=1000))
        choice = st.segmented_control(
            "Show",
            FILTERS,
            format_func=lambda o: filter_label(o, counts),
            key=LIVE_FILTER,
            default="all",
            required=True,
        )
        grid = base.copy()
        keys = [str(k) for k in grid.index]
        grid["What happens"] = [shown[k].happens for k in keys]
        grid["Problem"] = [shown[k].problem for k in keys]
        grid = grid[[in_filter(choice or "all", shown[k]) for k in keys]]
        st.dataframe(grid, hide_index=True, width="stretch", height=min(38 + 35 * len(grid), 560))

    _view()


def finished(run: SendRun) -> None:
    """What the last run on this list did, and where its gifts go on from here."""
    p = run.snapshot()
    if p.state == "running":
        return
    ok = p.state == "completed" and not (p.rejected or p.unknown or p.failed)
    (st.success if ok else st.warning)(md(run_finished(p), limit=2000))
    if found := run.limiter.found():
        st.caption(md(found, limit=1000))
    if run.unflushed:
        st.warning(
            f"{len(run.unflushed):,} results are not in the sheet yet: Google refused the write "
            f"({md(p.writeback_error or 'quota', limit=1000)}). They are kept in the journal and retried for a "
            "minute; **Refresh statuses** on Gift status writes them too."
        )
    if p.message and p.state != "completed":
        (st.info if p.message.startswith("Stopped by") else st.error)(md(p.message, limit=1000))
    if p.sent:
        st.page_link(GIFT_STATUS_PAGE, label="Follow these gifts on Gift status", icon="🎁")
