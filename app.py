"""Entry point: `streamlit run app.py` serves the pages and `POST /webhooks/andopen` from
one process (Streamlit >= 1.53 custom routes)."""
import streamlit as st

from lib.httpguard import throttle_logs
from lib.webhooks import SERVER_LOGGERS, routes
from ui import state

throttle_logs(*SERVER_LOGGERS)
app = st.App("main.py", routes=routes(lambda: state.services().intake()))
