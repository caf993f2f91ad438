"""Review & send's grid with its view filter (all / to send / problems / …). A filtered grid
keeps the rows it showed when the filter was chosen until the filter changes (a row ticked in
"Not approved" stays in view, now "will be sent"), and its edits are mapped back to the list's
own rows (lib.review_rows.edits_on_list), so a tick always lands on the row it was made on."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd
import streamlit as st

from lib.review_rows import ALL, FILTERS, RowView, bucket_counts, edits_on_list, filter_label, in_filter
from lib.sources import LoadedList

from . import state
from .text import link_column

FILTER = "giftrun_view_filter"


def chosen() -> str:
    return st.session_state.get(FILTER) or ALL


def editor_key(loaded: LoadedList) -> str:
    """The grid's key: the list, its version, and the filter (a new filter is a new grid)."""
    base = state.editor_key(loaded)
    return base if chosen() == ALL else f"{base}-{chosen()}"


def _rows_key(key: str) -> str:
    return f"{key}-rows"


def pending_edits(loaded: LoadedList) -> dict[int, Mapping]:
    """The grid's approval edits, as positions in the whole list."""
    key = editor_key(loaded)
    edits = st.session_state.get(key, {}).get("edited_rows", {})
    return edits_on_list(edits, st.session_state.get(_rows_key(key))) if edits else {}


def show_filter(shown: Mapping[str, RowView]) -> None:
    counts = bucket_counts(shown.values())
    st.segmented_control(
        "Show", FILTERS, format_func=lambda o: filter_label(o, counts), key=FILTER, default=ALL, required=True
    )


def grid(
    loaded: LoadedList,
    display: pd.DataFrame,
    shown: Mapping[str, RowView],
    approved_col: str,
    commit: Callable[[dict[int, Mapping]], None],
) -> None:
    """The editable grid of the rows the filter shows; `commit` gets each change as list positions."""
    key = editor_key(loaded)
    rows_key = _rows_key(key)
    if chosen() != ALL and rows_key not in st.session_state:
        for stale in [k for k in st.session_state if str(k).endswith("-rows") and str(k).startswith("editor-")]:
            del st.session_state[stale]  # an earlier filter's or version's rows
        keys = [str(k) for k in display.index]
        st.session_state[rows_key] = [i for i, k in enumerate(keys) if in_filter(chosen(), shown[k])]
    positions = st.session_state.get(rows_key) if chosen() != ALL else None
    view = display if positions is None else display.iloc[positions]
    if positions is not None and not positions:
        st.info(f"No rows are {chosen()} now. Pick All to see every row.")
        return

    def _changed() -> None:
        commit(edits_on_list(st.session_state.get(key, {}).get("edited_rows", {}), positions))

    st.data_editor(
        view,
        key=key,
        on_change=_changed,
        hide_index=True,
        width="stretch",
        height=min(38 + 35 * len(view), 560),
        disabled=[c for c in view.columns if c != approved_col],
        column_config={
            approved_col: st.column_config.CheckboxColumn(approved_col, help="Tick to send this person a gift"),
            "Row": st.column_config.TextColumn("Row", help="The row's number in your spreadsheet or file", width=60),
            "Problem": st.column_config.TextColumn("Problem", help="What is wrong, and what to do", width="large"),
            "Redemption URL": link_column("Redemption URL", view["Redemption URL"]),
        },
    )
