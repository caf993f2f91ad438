"""Entry point: `streamlit run app.py` serves the pages and `POST /webhooks/andopen` from
one process (Streamlit >= 1.53 custom routes)."""

import logging

import streamlit as st

from lib.httpguard import Limits, guard_loading_uvicorn, throttle_logs
from lib.settings import SettingsError
from lib.webhooks import SERVER_LOGGERS, routes
from ui import state

# Streamlit serves an st.App with uvicorn, which never times out a request that trickles
# in and accepts connections until the process runs out of files: add both limits to the
# uvicorn importing this file. Uploads get extra time for their declared size.
try:
    settings = state.load_settings()
except SettingsError:  # the pages say what is wrong; the server keeps the default limits
    settings = None
if not guard_loading_uvicorn(Limits.from_settings(settings, min_body_rate=32 * 1024)):
    logging.getLogger("giftrun.http").warning("app.py was not loaded by uvicorn: no slow-client limits")
throttle_logs(*SERVER_LOGGERS)

app = st.App("main.py", routes=routes(lambda: state.services().intake()))
