"""Pieces of the Review & send page: campaigns, the grid's frame, the counts, overrides and unknown outcomes."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import streamlit as st

from lib.andopen import AndOpenError
from lib.models import Campaign, SendState, parse_iso, utcnow
from lib.own_columns import Overwrite, describe_overwrites
from lib.plain_words import count
from lib.plan import RowAction
from lib.recipients import is_approved
from lib.review import Review
from lib.review_rows import METRIC_HELP, METRIC_LABELS, Bucket, RowView, describe_counts
from lib.runtime import Services
from lib.sources import LoadedList
from lib.unknowns import ago, unknowns_report
from lib.writeback import is_own_column, result_columns

from . import state
from .text import md, plain


@st.cache_data(ttl=300, show_spinner="Loading campaigns from &Open…")
def _campaigns(_svc: Services, cache_key: str) -> list[Campaign]:
    return _svc.client().list_campaigns()


def campaigns(svc: Services) -> list[Campaign] | None:
    """The campaign list, or None after showing what is wrong (bad key, wrong region…)."""
    try:
        found = _campaigns(svc, "demo" if svc.demo_mode else svc.settings.api_key.masked())
    except AndOpenError as exc:
        st.error(f"Could not load campaigns: {md(exc, limit=1000)}")
        return None
    if not found:
        st.error("This &Open account has no campaigns. Create one in &Open first.")
        return None
    return found


def editor_frame(
    loaded: LoadedList, rev: Review, approved_col: str, shown: Mapping[str, RowView], rows: list[int]
) -> pd.DataFrame:
    """The grid: Approved first (the only editable column), the spreadsheet's row number, what
    happens and the problem with what to do, the person, the results, then the user's other
    columns. Every other column is text, so the grid's column types never change and a tick
    never recreates it."""
    display = pd.DataFrame(index=rev.frame.index)
    display[approved_col] = [is_approved(v) for v in loaded.frame[approved_col].tolist()]
    display["Row"] = [f"{n:,}" for n in rows]
    views = [shown.get(str(k)) for k in rev.frame.index.tolist()]
    display["What happens"] = [v.happens if v else "" for v in views]
    display["Problem"] = [v.problem if v else "" for v in views]
    person = [c for c in (loaded.cmap.first_name, loaded.cmap.last_name, loaded.cmap.email) if c]
    results = result_columns(rev.frame.columns)  # the user's own spelling of a result column is that column
    labels = {col if is_own_column(col) else canonical: col for canonical, col in results.items()}
    others = [c for c in loaded.user_columns if c != approved_col and c not in person and c not in results.values()]
    for label, col in [*zip(person, person), *labels.items(), *zip(others, others)]:
        display[label] = _text(rev.frame[col])
    return display


def _text(column: pd.Series) -> pd.Series:
    """A column as text, a missing value as empty: as it is when it is text already (most are)."""
    if isinstance(column.dtype, pd.StringDtype) and not column.hasnans:
        return column
    return column.astype(object).where(column.notna(), "").astype(str)


def metrics(counts: Mapping[Bucket, int], *, live: bool = False) -> None:
    """One metric per bucket: each row counts in exactly one, so they add up to the rows
    (Sending only while a run goes)."""
    buckets = [b for b in Bucket if live or b != Bucket.SENDING]
    for col, b in zip(st.columns(len(buckets)), buckets):
        col.metric(METRIC_LABELS[b], f"{counts[b]:,}", help=METRIC_HELP[b])
    st.caption(describe_counts(counts))


def overwrite_chosen() -> bool:
    """Whether the user ticked "Write over my columns" (shown by `own_columns` when it matters)."""
    return bool(st.session_state.get(state.OVERWRITE_COLUMNS, False))


def own_columns(found: list[Overwrite]) -> None:
    """Say which of the list's own columns share a result's name and hold values of their own, where
    Giftrun writes instead, and offer the explicit choice to write over them."""
    if not found:
        return
    how = "To write over them instead, tick Write over my columns."
    st.warning(md(describe_overwrites(found, overwrite=overwrite_chosen(), how=how), limit=2000))
    st.checkbox(
        "Write over my columns",
        key=state.OVERWRITE_COLUMNS,
        help="Giftrun then writes its results into these columns, replacing the values your list brought.",
    )


def overrides_and_unknowns(svc: Services, loaded: LoadedList, rev: Review, actor: str) -> None:
    skipped = [r for r in rev.plan.rows if r.action == RowAction.SKIP]
    unknown = [  # this list's, and another list's that holds a row here
        r
        for r in rev.plan.rows
        if r.action in (RowAction.UNKNOWN, RowAction.BLOCKED) and r.journal and r.journal.state == SendState.UNKNOWN
    ]
    if skipped:
        who = count(len(skipped), "skipped person", "skipped people")
        with st.expander(f"Send anyway to {who} (look-back override)"):
            labels = {r.recipient.email: f"Row {r.row_number}: {r.recipient.email} — {r.message}" for r in skipped}
            chosen = st.multiselect(
                "Deliberately send to", list(labels), format_func=lambda e: plain(labels[e]), key="override_pick"
            )
            if st.button("Override the look-back check for these", disabled=not chosen, key="override_go"):
                for email in chosen:
                    svc.store.record_override(loaded.list_key, email, actor, labels[email])
                st.rerun()
    report = unknowns_report(svc.store, loaded.list_key)
    if report.resolved and not unknown:
        st.caption(md(report.describe() + "."))
    if unknown:
        with st.expander(f"{count(len(unknown), 'row')} with an unknown outcome — check them in &Open", expanded=True):
            st.write(md(report.describe() + "."))
            st.write(
                "These requests may or may not have created a gift. When &Open's update for the gift arrives "
                "(a webhook, or Refresh statuses), the row resolves by itself. Otherwise look each one up in "
                "&Open; only if it has **no** gift there, clear it here so it can be sent again."
            )
            labels = {
                r.recipient.email: f"Row {r.row_number}: {r.recipient.email} — attempted "
                f"{ago(utcnow() - t) if (t := parse_iso(r.journal.attempted_at)) else '?'}"
                for r in unknown
            }
            chosen = st.multiselect(
                "Checked in &Open, no gift found",
                list(labels),
                format_func=lambda e: plain(labels[e]),
                key="unknown_pick",
            )
            if st.button("Clear these so they can be sent again", disabled=not chosen, key="unknown_go"):
                for email in chosen:
                    svc.store.clear_unknown(loaded.list_key, email, actor, every_list=True)
                st.rerun()
