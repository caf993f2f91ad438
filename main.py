"""The navigation script: `app.py` serves it together with the webhook route.
AppTest targets this file (an st.App file renders nothing under AppTest)."""

import streamlit as st

from ui import auth, common, state

st.set_page_config(page_title="Giftrun", page_icon="🎁", layout="wide")

svc = state.services()
auth.gate(svc)
page = st.navigation(
    [
        st.Page("views/build_list.py", title="Build list", icon="📋", default=True),
        st.Page("views/review_send.py", title="Review & send", icon="🎁"),
        st.Page("views/gift_status.py", title="Gift status", icon="📦"),
        st.Page("views/settings.py", title="Settings", icon="⚙️"),
        *([st.Page("views/outbox.py", title="Outbox", icon="✉️")] if svc.mail_catcher is not None else []),
    ]
)
state.current_list()  # a refreshed tab reopens the list its address names (?list=…), on any page
common.sidebar(svc)
common.banner(svc)
page.run()
