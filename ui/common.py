"""What every page shows: the demo banner, the sidebar, friendly errors."""

from __future__ import annotations

import streamlit as st

from lib.runtime import Services
from lib.settings import PLACEHOLDER_KEY

from .text import code, md

DEMO_BANNER = (
    "**Demo mode** — Giftrun is talking to its built-in sandbox, a fake &Open. "
    "Nothing is really sent and no gift is ordered. Set `ANDOPEN_API_KEY` to go live."
)


def banner(svc: Services) -> None:
    if svc.settings.placeholder_key:
        st.warning(
            f"{md(PLACEHOLDER_KEY)}: running the demo. Put your own &Open key in `.streamlit/secrets.toml` "
            "(or the environment) to go live.",
            icon="⚠️",
        )
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


# Streamlit shows a file its uploader refuses (over the size limit, a type it does not take)
# as a red icon whose reason is hidden text read only by screen readers or on hover. This
# shows that reason as a visible line on the file's chip. Our own CSS: nothing from a user.
_UPLOAD_REFUSALS_VISIBLE = """<style>
[data-testid="stFileChip"][aria-invalid="true"] { flex-wrap: wrap; height: auto; max-width: 100%; }
[data-testid="stFileChip"][aria-invalid="true"] span[role="alert"] {
  position: static; clip: auto; clip-path: none; width: auto; height: auto; margin: 0.25rem 0 0 0;
  overflow: visible; white-space: normal; flex-basis: 100%; color: #b91c1c; font-size: 0.875rem;
}
</style>"""


def upload_refusals_visible() -> None:
    st.html(_UPLOAD_REFUSALS_VISIBLE)
