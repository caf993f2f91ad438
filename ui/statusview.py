"""The Gift status page body: refreshes itself while open."""

from __future__ import annotations

import altair as alt
import streamlit as st

from lib import csvio
from lib import eligibility as elig
from lib.andopen import AndOpenError
from lib.errors import GiftrunError
from lib.models import STATUS_RANK, GiftStatus, status_label
from lib.polling import AutoPoller, open_gift_ids, poll_statuses
from lib.runtime import Services
from lib.status_report import (
    companies_in,
    filtered,
    follow_ups,
    funnel,
    gifts_frame,
    history_frame,
    people_to_pick,
    status_counts,
    summary,
    timeline_frame,
    timeline_of,
)

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
    gifts = gifts_frame(svc.store, companies=_companies(svc), campaigns=_campaign_names(svc))
    if gifts.empty:
        st.info("No gifts yet. Send some from **Review & send**; their statuses appear here as &Open reports them.")
        return
    counts = _metric_counts(status_counts(gifts))
    cols = st.columns(len(counts))
    for col, (label, n) in zip(cols, counts.items()):
        col.metric(md(label, STATUS_LIMIT), n)  # an unknown status is &Open's text: shown as text, bounded
    st.caption("Metrics: where each gift is now. Chart: how many gifts have reached each stage.")
    st.altair_chart(funnel_chart(funnel(gifts)), width="stretch")

    view = _filters(gifts)
    numbers = summary(view, svc.store.status_reached())
    m1, m2, m3 = st.columns(3)
    m1.metric("Gifts shown", f"{numbers.gifts:,}")
    m2.metric("Redemption rate", numbers.rate)
    m3.metric("Median time to redeem", numbers.median)
    st.caption(
        f"{numbers.redeemed:,} of {numbers.gifts:,} gifts shown were redeemed (or have gone further); "
        "the median runs from the send to the redemption, over the redeemed gifts."
    )
    st.dataframe(
        _bounded_status(view.drop(columns=["status"])),
        hide_index=True,
        width="stretch",
        column_config={"Redemption URL": link_column("Redemption URL", view["Redemption URL"])},
    )
    _follow_up_download(view)
    _timeline(svc, view)


def funnel_chart(stages) -> alt.Chart:
    """The funnel: whole gifts on the axis (never 0.5 of a gift)."""
    return (
        alt.Chart(stages)
        .mark_bar()
        .encode(
            x=alt.X("Gifts:Q", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("Stage:N", sort=None),
            color=alt.Color("Stage:N", legend=None, scale=alt.Scale(domain=STAGES, range=STAGE_COLOURS)),
            tooltip=["Stage", "Gifts"],
        )
        .properties(height=180)
    )


def _filters(gifts):
    """List, campaign, status and sender: none chosen shows every gift."""
    f1, f2, f3, f4 = st.columns(4)
    options = {c: sorted(gifts[c].unique()) for c in ("List", "Campaign", "Status", "Sent by")}
    lists = f1.multiselect("List", options["List"], key="status_lists", format_func=plain, placeholder="All lists")
    campaigns = f2.multiselect(
        "Campaign", options["Campaign"], key="status_campaigns", format_func=plain, placeholder="All campaigns"
    )
    statuses = f3.multiselect(
        "Status", options["Status"], key="status_statuses", format_func=_plain_status, placeholder="All statuses"
    )
    sender = f4.selectbox("Sent by", ["Anyone", *options["Sent by"]], key="status_sender", format_func=plain)
    return filtered(
        gifts, lists=lists, campaigns=campaigns, statuses=statuses, sender=None if sender == "Anyone" else sender
    )


def _follow_up_download(view) -> None:
    people = follow_ups(view)
    if people.empty:
        st.caption("Nobody to follow up among these gifts yet: redeemed and cancelled gifts appear here.")
        return
    redeemed = int((view["status"] == GiftStatus.REDEEMED).sum())
    st.download_button(
        f"Download the {len(people):,} {'person' if len(people) == 1 else 'people'} to follow up (CSV)",
        csvio.to_csv_bytes(people),
        file_name="follow-up.csv",
        mime="text/csv",
        key="follow_up_csv",
        help=f"{redeemed:,} redeemed (follow up), {len(people) - redeemed:,} cancelled (reach them another way)",
    )


def _timeline(svc: Services, view) -> None:
    """One gift's journey, picked by its person."""
    people = people_to_pick(view.head(MAX_PICKER))
    gid = st.selectbox(
        "One gift's timeline",
        list(people),
        index=None,
        key="status_gift",
        placeholder="Choose a person",
        format_func=lambda g: plain(people.get(g, g)),
    )
    if gid:
        st.dataframe(timeline_frame(timeline_of(svc.store, gid)).map(plain), hide_index=True, width="stretch")
    if len(view) > MAX_PICKER:
        st.caption(f"The picker lists the {MAX_PICKER} most recently updated gifts of this view.")


@st.cache_data(max_entries=64, show_spinner=False)
def _list_companies(_svc: Services, list_key: str, updated_at: str) -> dict[str, str]:
    saved = _svc.store.load_list(list_key)
    return companies_in(saved[1]) if saved else {}


def _companies(svc: Services) -> dict[str, dict[str, str]]:
    """Each saved list's companies, read again only when the list was saved again."""
    return {key: _list_companies(svc, key, at) for key, _, at in svc.store.saved_lists()}


@st.cache_data(ttl=300, show_spinner=False)
def _campaigns(_svc: Services, cache_key: str) -> dict[str, str]:
    try:
        return {c.id: c.name for c in _svc.client().list_campaigns()}
    except GiftrunError:  # names are a nicety: the ids are shown instead
        return {}


def _campaign_names(svc: Services) -> dict[str, str]:
    key = svc.settings.api_key
    return _campaigns(svc, key.masked() if key else "demo")


def _plain_status(label: str) -> str:
    return plain(label, STATUS_LIMIT)


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
