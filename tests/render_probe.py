"""A Streamlit script for tests/test_browser_text.py: shows one hostile value (?i=N of the
JSON list in GIFTRUN_PROBE_VALUES) through ui.text.md in every Streamlit call that renders
Markdown, each in a keyed container, so the test can check what Chromium made of it."""

import json
import os

import streamlit as st

from ui.text import md

values = json.loads(open(os.environ["GIFTRUN_PROBE_VALUES"], encoding="utf-8").read())
v = md(values[int(st.query_params.get("i", "0"))])
CALLS = {
    "write": lambda: st.write(v),
    "markdown": lambda: st.markdown(v),
    "caption": lambda: st.caption(v),
    "title": lambda: st.title(v),
    "subheader": lambda: st.subheader(v),
    "success": lambda: st.success(v),
    "error": lambda: st.error(v),
    "info": lambda: st.info(v),
    "warning": lambda: st.warning(v),
    "metric": lambda: st.metric(v, 1),
    "metric-value": lambda: st.metric("value", v),
    "button": lambda: st.button(v),
    "download": lambda: st.download_button(v, b"x"),
    "checkbox": lambda: st.checkbox(v),
    "toggle": lambda: st.toggle(v),
    "text-input": lambda: st.text_input(v),
    "selectbox": lambda: st.selectbox(v, ["a"]),
    "radio": lambda: st.radio("radio", [v, "b"]),
    "expander": lambda: st.expander(v),
    "tabs": lambda: st.tabs([v]),
    "progress": lambda: st.progress(0.5, text=v),
}
for name, call in CALLS.items():
    with st.container(key=f"probe-{name}"):
        call()
