"""Step 2: approve rows, see what will happen to each one, send, watch the run."""

import copy

import streamlit as st

from lib import eligibility as elig
from lib.review import with_run_notes
from lib.review_rows import bucket_counts, views
from lib.send_job import SendChoices
from lib.sheet_rows import spreadsheet_rows
from lib.sources import csv_bytes, results_in
from ui import approvals, invite_ui, live_run, review_cache, review_grid, runview, send_ui, state
from ui import limits as limits_ui
from ui.text import md, plain

svc = state.services()
st.title("Review & send")
loaded = state.current_list()
if loaded is None:
    st.info("No list yet: load one on **Build list** first.")
    running = svc.registry.active()
    for run in running:  # a reopened tab can still watch a run started earlier
        ctx = svc.registry.context.get(run.list_key)
        if ctx is not None and st.button(f"Watch the run in progress on {md(ctx.name)}", key=f"attach-{run.run_id}"):
            state.set_list(copy.deepcopy(ctx), save=False)  # never share one list object between sessions
            st.rerun()
    st.stop()
if loaded.cmap.missing():
    st.warning(f"Match these columns on Build list first: {', '.join(loaded.cmap.missing())}.")
    st.stop()

approved_col = state.approved_column(loaded)
if approved_col not in loaded.frame.columns:
    loaded.frame.insert(len(loaded.user_columns), approved_col, "FALSE")
    loaded.user_columns = (*loaded.user_columns, approved_col)
    loaded.cmap = type(loaded.cmap)(**{**vars(loaded.cmap), "approved": approved_col})

# -- settings for this run -----------------------------------------------------------------
left, right, cap_col = st.columns([2, 2, 1])
campaigns = runview.campaigns(svc)
if campaigns is None:
    st.stop()
ids = [c.id for c in campaigns if c.state != "archived"]
names = {c.id: c.name for c in campaigns}
default = svc.settings.campaign_id if svc.settings.campaign_id in ids else (ids[0] if ids else None)
campaign_id = left.selectbox(
    "Campaign",
    ids,
    index=ids.index(default) if default in ids else 0,
    format_func=lambda i: plain(names.get(i, i)),
    key=state.CAMPAIGN,
)
presets = [p for p, _ in elig.PRESETS]
lookback = right.selectbox(
    "Skip people gifted within",
    presets,
    index=presets.index(elig.DEFAULT),
    format_func=dict(elig.PRESETS).get,
    key=state.LOOKBACK,
)
window = elig.parse_window(lookback)
max_gifts = limits_ui.cap_input(cap_col)

# -- the table: approvals are the only editable cells -------------------------------------
effective = approvals.settle(loaded, approved_col)  # the grid's ticks applied
rows = spreadsheet_rows(loaded)  # the file's own row numbers, named in the grid and in every message
loaded_view = type(loaded)(
    loaded.list_key, loaded.name, effective, loaded.cmap, loaded.user_columns, row_numbers=tuple(rows)
)
overwrite = runview.overwrite_chosen()
# Whether the run goes is asked before the review reads the store, never after: a run that ended while
# the review read would be drawn as over with the journal as it stood mid-run (a sent row "To send",
# a download without its gift id). Not going means its thread is through, every journal line written.
run = svc.registry.get(loaded.list_key)
running = run is not None and svc.registry.going(loaded.list_key)  # its invitations after it included
rev, overwrites = review_cache.reviewed(svc, loaded_view, approved_col, window, overwrite)
if run is not None and not running:
    rev = with_run_notes(rev, run.limited_results())  # why a limit kept rows back: not in the journal
rev = invite_ui.with_invitations(svc, loaded_view, rev)  # the invitation journal, on each row
shown = views(rev.plan.rows)
display = runview.editor_frame(loaded, rev, approved_col, shown, rows)

if running:  # the run's status panel takes the place of the table's controls and of Send
    assert run is not None
    live_run.panel(run, rev, display, svc.registry)
else:
    if run is not None:
        live_run.finished(run)

    approvals.bulk_buttons(loaded, approved_col)
    review_grid.show_filter(shown)
    review_grid.grid(loaded, display, shown, approved_col, approvals.commit(loaded, approved_col))
    runview.metrics(bucket_counts(shown.values()))
    if window is not None and rev.verdicts:
        st.caption(f"Skip rate {rev.skip_rate:.0%} (window {elig.format_window(window)}). {elig.SKIP_RATE_NOTE}")
    runview.own_columns(overwrites)
    runview.overrides_and_unknowns(svc, loaded, rev, state.actor())
    invite_after = invite_ui.section(svc, loaded_view, rev)

    def _keep_ticks() -> None:
        loaded.frame = effective
        state.save_list(loaded)

    send_ui.send_area(
        svc,
        loaded,
        rev,
        campaign=md(names.get(campaign_id, campaign_id)),
        max_gifts=max_gifts,
        choices=lambda limits: SendChoices(campaign_id, state.actor(), window, limits, overwrite_columns=overwrite),
        on_send=_keep_ticks,
        invite_after=invite_after,
    )


def _results_csv() -> bytes:
    return csv_bytes(loaded, rev.frame, [approved_col, *results_in(rev.frame)])


# Not while a run goes (its results are still coming: the run panel stands where the controls were).
# Made with the page, not when clicked: Streamlit drops a drawing's deferred file when the page is
# drawn again, so a click that meets a rerun (a tick, the run's end) would download nothing.
if not running:
    st.download_button(
        "Download CSV with results",
        _results_csv(),
        file_name=f"{loaded.name.rsplit('.', 1)[0]}-results.csv",
        mime="text/csv",
        key="download",
    )
