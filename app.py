"""Entry point: `streamlit run app.py` serves the pages and `POST /webhooks/andopen` from
one process (Streamlit >= 1.53 custom routes)."""
import streamlit as st

from lib.webhooks import routes
from ui import state

app = st.App("main.py", routes=routes(lambda: state.services().intake()))
