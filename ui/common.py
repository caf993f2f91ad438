"""What every page shows: the demo banner, the sidebar, friendly errors."""
from __future__ import annotations

import streamlit as st

from lib.runtime import Services

from .text import code

DEMO_BANNER = ("**Demo mode** — Giftrun is talking to its built-in sandbox, a fake &Open. "
               "Nothing is really sent and no gift is ordered. Set `ANDOPEN_API_KEY` to go live.")


def banner(svc: Services) -> None:
    if svc.demo_mode:
        st.info(DEMO_BANNER, icon="🧪")


def sidebar(svc: Services) -> None:
    with st.sidebar:
        if svc.demo_mode:
            st.caption("🧪 Demo mode: nothing is really sent.")
        else:
            st.caption(f"Live: &Open key {code(svc.settings.api_key.masked()) if svc.settings.api_key else ''}")
        active = svc.registry.active()
        if active:
            st.caption(f"⏳ {len(active)} run(s) in progress")
