"""Pieces of the Review & send page: campaigns, live progress, overrides and unknown outcomes."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lib import eligibility as elig
from lib.andopen import AndOpenError
from lib.models import Campaign, SendState, parse_iso, utcnow
from lib.own_columns import Overwrite, describe_overwrites
from lib.plan import RowAction
from lib.recipients import is_approved
from lib.review import Review
from lib.runtime import Services
from lib.sending import SendRun
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


ACTION_LABELS = {
    RowAction.ALREADY_SENT: "sent",
    RowAction.SKIP: "skip (look-back)",
    RowAction.DO_NOT_GIFT: "skip (do-not-gift list)",
    RowAction.UNKNOWN: "unknown — check &Open",
    RowAction.BLOCKED: "blocked — check &Open",
}


def action_label(action: RowAction) -> str:
    return ACTION_LABELS.get(action, str(action))


def editor_frame(loaded: LoadedList, rev: Review, approved_col: str) -> pd.DataFrame:
    """The grid: Approved first (the only editable column), what will happen and why, the
    person, the results, then the user's other columns. Every other column is text, so
    the grid's column types never change and a tick never recreates it."""
    actions = {r.row_key: r for r in rev.plan.rows}
    problem_actions = (
        RowAction.INVALID,
        RowAction.NOT_APPROVED,
        RowAction.DUPLICATE,
        RowAction.BLOCKED,
        RowAction.SKIP,
        RowAction.DO_NOT_GIFT,
    )
    display = pd.DataFrame(index=rev.frame.index)
    display[approved_col] = [is_approved(v) for v in loaded.frame[approved_col]]
    display["Will happen"] = [action_label(actions[k].action) if k in actions else "" for k in rev.frame.index]
    display["Problem"] = [
        actions[k].message if k in actions and actions[k].action in problem_actions else "" for k in rev.frame.index
    ]
    person = [c for c in (loaded.cmap.first_name, loaded.cmap.last_name, loaded.cmap.email) if c]
    results = result_columns(rev.frame.columns)  # the user's own spelling of a result column is that column
    labels = {col if is_own_column(col) else canonical: col for canonical, col in results.items()}
    others = [c for c in loaded.user_columns if c != approved_col and c not in person and c not in results.values()]
    for label, col in [*zip(person, person), *labels.items(), *zip(others, others)]:
        display[label] = rev.frame[col].astype(object).where(rev.frame[col].notna(), "").astype(str)
    return display


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


def summary(rev: Review, window: elig.Window | None) -> None:
    counts = rev.plan.counts()
    m = st.columns(7)
    m[0].metric("To send", counts["send"])
    m[1].metric("Skipped (look-back)", counts["skip"])
    m[6].metric("Do not gift", counts["do not gift"], help="On the do-not-gift list (Settings): never sent")
    problems = sum(
        1
        for r in rev.plan.rows
        if r.action in (RowAction.INVALID, RowAction.DUPLICATE) or (r.action == RowAction.NOT_APPROVED and r.message)
    )
    m[2].metric("Invalid", problems, help="Rows with a problem to fix (approved or not); they are never sent")
    m[3].metric("Sent", counts["already sent"])
    m[4].metric("Unknown outcome", counts["unknown outcome"] + counts["blocked"])
    m[5].metric("Not approved", counts["not approved"])
    if window is not None and rev.verdicts:
        st.caption(f"Skip rate {rev.skip_rate:.0%} (window {elig.format_window(window)}). {elig.SKIP_RATE_NOTE}")


def progress(run: SendRun, loaded: LoadedList) -> None:
    @st.fragment(run_every=1.0)
    def _view() -> None:
        p = run.snapshot()
        total = max(p.total, 1)
        if p.state == "running":
            eta = f" · about {p.eta:.0f}s left" if p.eta else ""
            st.progress(
                min(1.0, (p.done + p.already + p.skipped) / total),
                text=f"Sending… {p.done + p.already + p.skipped}/{p.total} done · {p.sent} sent · "
                f"{p.rejected + p.failed} failed · {p.unknown} unknown · {p.rate:.1f}/s{eta}",
            )
            if st.button("Stop", key=f"stop-{p.run_id}"):
                who = state.actor()
                run.stop("Stopped by you." if who == "local" else f"Stopped by {who}.")
                st.toast("Stopping: no new sends; the ones in flight finish and are recorded.")
            if p.waiting:  # a store blip: the run pauses and goes on when the database is back
                st.warning(md(p.waiting, limit=1000))
            if p.writeback_error:
                st.warning(md(p.writeback_error, limit=1000))
        else:
            seen = st.session_state.setdefault("giftrun_seen_runs", set())
            if p.run_id not in seen:  # refresh the whole page once, so the table shows the results
                seen.add(p.run_id)
                state.bump_editor()
                st.rerun(scope="app")
            verb = "Run finished" if p.state == "completed" else "Run stopped"
            msg = (
                f"{verb}: {p.sent_text('{n} sent')}, {p.rejected} rejected by &Open, {p.failed} not sent (safe to send "
                f"again), {p.unknown} unknown outcome, {p.already} already sent earlier"
                + (f", {p.skipped} skipped (just gifted from another list)" if p.skipped else "")
                + (f", {p.limited} not sent (a limit was reached; see their Send error)" if p.limited else "")
                + (f", {p.resolved} unknown outcomes resolved from &Open's own updates" if p.resolved else "")
                + f" · {p.elapsed:.1f}s."
            )
            (st.success if p.state == "completed" and not (p.rejected or p.unknown or p.failed) else st.warning)(msg)
            if found := run.limiter.found():
                st.caption(md(found, limit=1000))
            if run.unflushed:
                st.warning(
                    f"{len(run.unflushed)} results are not in the sheet yet: Google refused the write "
                    f"({md(p.writeback_error or 'quota', limit=1000)}). They are kept in the journal and "
                    "retried for a "
                    "minute; **Refresh statuses** on Gift status writes them too."
                )
            if p.message and p.state != "completed":
                (st.info if p.message.startswith("Stopped by") else st.error)(md(p.message, limit=1000))

    _view()


def overrides_and_unknowns(svc: Services, loaded: LoadedList, rev: Review, actor: str) -> None:
    skipped = [r for r in rev.plan.rows if r.action == RowAction.SKIP]
    unknown = [  # this list's, and another list's that holds a row here
        r
        for r in rev.plan.rows
        if r.action in (RowAction.UNKNOWN, RowAction.BLOCKED) and r.journal and r.journal.state == SendState.UNKNOWN
    ]
    if skipped:
        with st.expander(f"Send anyway to {len(skipped)} skipped people (look-back override)"):
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
        with st.expander(f"{len(unknown)} rows with an unknown outcome — check them in &Open", expanded=True):
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
