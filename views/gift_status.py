"""Step 3: watch the gifts travel — counts, a funnel, who to follow up, each gift's history."""

import streamlit as st

from ui import state, statusview

svc = state.services()
st.title("Gift status")
statusview.render(svc)
