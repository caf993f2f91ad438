"""Showing data as text, never as Markdown.

Streamlit 1.67 renders Markdown (links, images that load, bold, colours, icons, LaTeX,
and bare URLs and email addresses turned into links) in st.write/markdown/caption/title/
header/subheader, st.success/error/warning/info/toast, st.metric label *and value*,
st.progress text, expander and tab labels, radio options, and every widget label
(button, download_button, checkbox, selectbox, …; buttons drop links but keep images).
It shows text as it is in st.text, st.code, dataframe/data_editor cells and headers, and
the options (or format_func results) of st.selectbox and st.multiselect.

So anything from a file, a sheet, a user or &Open that goes into the first group goes
through `md()`; the second group takes it raw. Links only through `link_column()`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

import pandas as pd
import streamlit as st

LIMIT = 200
STATUS_LIMIT = 40  # an unknown status from &Open, as a metric label or a table cell
# Line breaks and tabs become spaces; other control characters and the Unicode
# direction overrides (which reorder what is shown) become a visible replacement mark.
_SPACES = re.compile(r"[\t\n\r\f\v\u2028\u2029\x85]+")
_HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation mark
# Tokens GFM turns into links even when every mark in them is escaped: URLs, www., emails.
_AUTOLINK = re.compile(r"://|@|www\.", re.IGNORECASE)


def plain(value: object, limit: int = LIMIT) -> str:
    """One line of text, at most `limit` characters, with nothing invisible in it: for a
    place that shows text as it is (a table cell, a selectbox option)."""
    text = _HIDDEN.sub("\ufffd", _SPACES.sub(" ", "" if value is None else str(value))).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def md(value: object, limit: int = LIMIT) -> str:
    """Markdown that Streamlit shows as exactly `plain(value)`: every ASCII punctuation
    mark escaped, and words that would become links (URLs, emails) in code spans."""
    return " ".join(
        _code(word) if _AUTOLINK.search(word) else _PUNCTUATION.sub(r"\\\1", word)
        for word in plain(value, limit).split(" ")
    )


def code(value: object, limit: int = LIMIT) -> str:
    """Markdown for `plain(value)` in a code span: for identifiers, paths and URLs."""
    return _code(plain(value, limit))


def _code(word: str) -> str:
    if not word:
        return ""
    fence = "`" * (max((len(run) for run in re.findall("`+", word)), default=0) + 1)
    pad = " " if word[0] == "`" or word[-1] == "`" else ""
    return f"{fence}{pad}{word}{pad}{fence}"


def https_url(value: object) -> str | None:
    """The value if it is a plain https URL with a host, else None."""
    if not isinstance(value, str) or value != value.strip() or _HIDDEN.search(value) or " " in value:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme.lower() == "https" and parts.hostname and "@" not in parts.netloc else None


def link_column(label: str, values: Iterable[object]):
    """A LinkColumn when every non-empty value is an https URL; otherwise the column is
    plain text (a `javascript:` or `http:` value is shown, never made a link)."""
    if all(https_url(v) for v in values if not (v is None or v == "" or (not isinstance(v, str) and pd.isna(v)))):
        return st.column_config.LinkColumn(label)
    return st.column_config.TextColumn(label)
