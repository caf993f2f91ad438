"""Settings' do-not-gift list: an editable table (add, change a reason, delete) saved with
one button, and an import from a CSV. Every change is in the audit trail with who made it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lib import donotgift
from lib.runtime import Services
from lib.timefmt import shown

VERSION = "giftrun_dng_version"
COLUMNS = ("Value", "Reason", "Added by", "Added at")


def _bump() -> None:
    st.session_state[VERSION] = st.session_state.get(VERSION, 0) + 1


def render(svc: Services, actor: str) -> None:
    st.subheader("Do-not-gift list")
    st.caption(
        "People (`ana@example.com`) and whole domains (`@example.com`) Giftrun never gifts. A domain also "
        "blocks its subdomains (`@example.com` blocks `eu.example.com`). A listed row shows skip with the "
        "reason; no look-back override sends it. Add a row at the bottom of the table, edit a reason, or "
        "select rows and delete them, then save."
    )
    entries = svc.store.do_not_gift()
    frame = pd.DataFrame(
        [
            {"Value": e.label, "Reason": e.reason, "Added by": e.added_by, "Added at": shown(e.added_at, seconds=False)}
            for e in entries
        ],
        columns=list(COLUMNS),
    )
    key = f"dng-{st.session_state.get(VERSION, 0)}"
    st.data_editor(
        frame.astype(str),
        key=key,
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
        disabled=["Added by", "Added at"],
        column_config={
            "Value": st.column_config.TextColumn("Value", help="email or @domain"),
            "Reason": st.column_config.TextColumn("Reason", max_chars=donotgift.MAX_REASON),
        },
    )
    edits = st.session_state.get(key, {})
    changes = donotgift.table_changes(entries, edits)
    for problem in changes.problems:
        st.text(problem)  # the value as typed: plain text, never Markdown
    if changes.add or changes.remove:
        if st.button(f"Save changes ({changes.describe()})", key="dng_save", disabled=bool(changes.problems)):
            for value in changes.remove:
                svc.store.remove_do_not_gift(value, actor)
            if changes.add:
                svc.store.add_do_not_gift(changes.add, actor, source="Settings table", set_reason=True)
            _bump()
            st.rerun()
    _import(svc, actor)


def _import(svc: Services, actor: str) -> None:
    upload = st.file_uploader(
        "Import entries from a CSV (a column Email, Domain or Value; optionally Reason)",
        type=["csv", "txt"],
        key=f"dng-upload-{st.session_state.get(VERSION, 0)}",
    )
    if upload is None:
        return
    try:
        parsed = donotgift.parse_csv(upload.getvalue(), name=upload.name)
    except donotgift.DoNotGiftError as exc:
        st.error("This file cannot be imported:")
        st.text(str(exc))
        return
    if parsed.problems:
        st.error(parsed.refusal("this file"))
        st.text("\n".join(parsed.problems[:50]))
        return
    if st.button(
        f"Import {donotgift.entries_text(len(parsed.entries))}", key="dng_import", disabled=not parsed.entries
    ):
        report = svc.store.add_do_not_gift(parsed.entries, actor, source=f"imported from {upload.name}")
        st.toast(
            f"Imported: {report.added} added, {report.changed} reasons changed, {report.unchanged} already listed."
        )
        _bump()
        st.rerun()
