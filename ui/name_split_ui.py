"""Build list: a list whose people have one full-name column. The split is shown before use,
with a choice of where to split, or not at all (then the names are picked by hand)."""

from __future__ import annotations

import streamlit as st

from lib.name_split import NameSplit, SplitAt, examples, full_name_column, split_name
from lib.sources import LoadedList, with_name_split

from . import state
from .text import md, plain

NO_SPLIT = "none"
_CHOICES: tuple[str, ...] = (SplitAt.LAST_SPACE, SplitAt.FIRST_SPACE, NO_SPLIT)


def _column(loaded: LoadedList) -> str | None:
    if loaded.split is not None:
        return loaded.split.column
    if loaded.document is None or loaded.cmap.first_name or loaded.cmap.last_name:
        return None  # a sheet or the sample, or names already have columns
    return full_name_column(loaded.user_columns, [loaded.cmap.email, loaded.cmap.approved])


def split_choice(loaded: LoadedList) -> None:
    """Say how the full-name column is split, with examples, and apply another choice."""
    column = _column(loaded)
    if column is None:
        return
    sample = next((str(v) for v in loaded.frame[column].tolist() if len(str(v).split()) > 2), None)
    sample = sample or next((str(v) for v in loaded.frame[column].tolist() if str(v).strip()), "Ana María López")

    def label(at: str) -> str:
        if at == NO_SPLIT:
            return "Don't split: I pick the first and last name columns myself"
        first, last = split_name(sample, SplitAt(at))
        where = "the last space" if at == SplitAt.LAST_SPACE else "the first space"
        return plain(f"At {where}: {sample} → {first} / {last or '(none)'}")

    current = str(loaded.split.at) if loaded.split else NO_SPLIT
    with st.container(border=True):
        st.markdown(f"**Split '{md(column)}' into First / Last name**")
        choice = st.radio(
            "Where to split each name",
            _CHOICES,
            index=_CHOICES.index(current),
            format_func=label,
            key=f"split_{loaded.list_key}",
        )
        if choice != NO_SPLIT:
            st.text("\n".join(examples(loaded.frame, NameSplit(column, SplitAt(choice)))))  # user text: plain
    if choice != current:
        for field in ("first_name", "last_name"):  # Build list's name pickers show the new columns
            st.session_state.pop(f"map_{field}_{loaded.list_key}", None)
        state.set_list(with_name_split(loaded, NameSplit(column, SplitAt(choice)) if choice != NO_SPLIT else None))
        st.rerun()
