"""The Gift status page body: refreshes itself while open."""

from __future__ import annotations

import altair as alt
import streamlit as st

from lib import csvio
from lib import eligibility as elig
from lib.andopen import AndOpenError
from lib.models import STATUS_RANK, status_label
from lib.polling import AutoPoller, open_gift_ids, poll_statuses
from lib.runtime import Services
from lib.status_report import FOLLOW_UP, funnel, gifts_frame, history_frame, status_counts

from . import sheets_ui, state
from .text import STATUS_LIMIT, link_column, md, plain

STAGES = ["Submitted", "Redeemed", "Dispatched", "Delivered", "Cancelled"]
STAGE_COLOURS = ["#9aa5b1", "#f59f00", "#7048e8", "#2f9e44", "#e03131"]  # the journey, then red for stop
MAX_PICKER = 500
MAX_POLL = 150  # about 30 s at the polling rate; the CLI's `status --poll` has no cap
AUTO_POLL_SECONDS = 300.0  # while the page is open: open gifts asked about every 5 minutes
MAX_UNKNOWN_METRICS = 3  # statuses &Open may add later; beyond these, one "Other statuses" metric


def render(svc: Services) -> None:
    sheets_ui.shared_history(svc)  # events the receiver on another host put in the shared sheet
    top = st.columns([1, 1, 4])
    if top[0].button("Refresh statuses", help="Ask &Open for every gift not yet delivered or cancelled"):
        ids = open_gift_ids(svc.store)
        if len(ids) > MAX_POLL:  # keep the page responsive: the most recently updated first
            st.info(f"Checking the {MAX_POLL} most recently updated of {len(ids)} open gifts; press again for more.")
            ids = ids[:MAX_POLL]
        try:
            summary = poll_statuses(svc.client(), svc.store, ids)
        except AndOpenError as exc:
            st.error(md(exc, limit=1000))
        else:
            st.toast(f"Checked {summary.checked} gifts, {summary.changed} changed.")
            for err in summary.errors[:5]:
                st.warning(md(err, limit=1000))
            window = elig.parse_window(st.session_state.get(state.LOOKBACK, elig.DEFAULT))
            written = sheets_ui.write_results(svc, state.current_list(), window)
            if written:
                st.toast(md(written, limit=1000))
    auto = top[1].toggle(
        "Live",
        value=True,
        help="Refresh this page every few seconds, and ask &Open about open "
        "gifts every few minutes (where no webhook can arrive)",
    )
    _body(svc) if not auto else st.fragment(run_every=3.0)(_live)(svc)
    _history_download(svc)


@st.cache_resource
def _auto_poller() -> AutoPoller:
    return AutoPoller(interval=AUTO_POLL_SECONDS, limit=MAX_POLL)


def _live(svc: Services) -> None:
    """The live view; while it is open, statuses are polled now and then in the background, so a
    deployment no webhook can reach (Streamlit Community Cloud) stays current."""
    if not svc.demo_mode:
        _auto_poller().maybe_start(svc.client, svc.store)
    _body(svc)


def _body(svc: Services) -> None:
    gifts = gifts_frame(svc.store)
    if gifts.empty:
        st.info("No gifts yet. Send some from **Review & send**; their statuses appear here as &Open reports them.")
        return
    counts = _metric_counts(status_counts(gifts))
    cols = st.columns(len(counts))
    for col, (label, n) in zip(cols, counts.items()):
        col.metric(md(label, STATUS_LIMIT), n)  # an unknown status is &Open's text: shown as text, bounded
    chart = (
        alt.Chart(funnel(gifts))
        .mark_bar()
        .encode(
            x=alt.X("Gifts:Q"),
            y=alt.Y("Stage:N", sort=None),
            color=alt.Color("Stage:N", legend=None, scale=alt.Scale(domain=STAGES, range=STAGE_COLOURS)),
            tooltip=["Stage", "Gifts"],
        )
        .properties(height=180)
    )
    st.caption("Metrics: where each gift is now. Chart: how many gifts have reached each stage.")
    st.altair_chart(chart, width="stretch")

    f1, f2 = st.columns([2, 1])
    quick = f1.radio("Show", ["All gifts", *FOLLOW_UP], horizontal=True, key="status_filter")
    senders = sorted(gifts["Sent by"].unique())
    sender = f2.selectbox("Sent by", ["Anyone", *senders], key="status_sender", format_func=plain)
    view = gifts if quick == "All gifts" else gifts[gifts["status"] == FOLLOW_UP[quick]]
    if sender != "Anyone":
        view = view[view["Sent by"] == sender]
    st.dataframe(
        _bounded_status(view.drop(columns=["status"])),
        hide_index=True,
        width="stretch",
        column_config={"Redemption URL": link_column("Redemption URL", view["Redemption URL"])},
    )

    recipients = dict(zip(view["Gift request ID"], view["Recipient"]))
    options = [""] + list(recipients)[:MAX_PICKER]
    gid = st.selectbox(
        "One gift's history",
        options,
        key="status_gift",
        format_func=lambda g: g and plain(f"{g} — {recipients.get(g, '')}"),
    )
    if gid:
        st.dataframe(_bounded_status(history_frame(svc.store, gid)), hide_index=True, width="stretch")
    if len(recipients) > MAX_PICKER:
        st.caption(f"The picker lists the {MAX_PICKER} most recently updated gifts of this view.")


def _metric_counts(counts: dict[str, int]) -> dict[str, int]:
    """Every known status, then the most common unknown ones; the rest summed, so a flood
    of odd statuses cannot make a thousand metric columns."""
    known = {status_label(s) for s in STATUS_RANK}
    shown = {label: n for label, n in counts.items() if label in known}
    unknown = sorted(((n, label) for label, n in counts.items() if label not in known), reverse=True)
    shown.update({label: n for n, label in unknown[:MAX_UNKNOWN_METRICS]})
    if len(unknown) > MAX_UNKNOWN_METRICS:
        rest = unknown[MAX_UNKNOWN_METRICS:]
        shown[f"Other statuses ({len(rest)})"] = sum(n for n, _ in rest)
    return shown


def _bounded_status(frame):
    return frame.assign(Status=frame["Status"].map(lambda v: plain(v, STATUS_LIMIT))) if len(frame) else frame


def _history_download(svc: Services) -> None:
    """Built only when asked for: the full history can be large."""
    if st.button("Prepare the full gift history (CSV)", key="history_prepare"):
        st.download_button(
            "Download gift-history.csv",
            csvio.to_csv_bytes(history_frame(svc.store)),
            file_name="gift-history.csv",
            mime="text/csv",
            key="history_csv",
        )
