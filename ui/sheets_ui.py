"""Google Sheets on the Build list page, and the sink/history that go with a sheet list."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from lib.runtime import Services
from lib.sources import LoadedList
from lib.writeback import ResultSink


def open_sheet_form(svc: Services) -> None:
    st.caption("Google Sheets support arrives with the Sheets integration.")


def sink_for(svc: Services, loaded: LoadedList) -> ResultSink | None:
    return None


def shared_history(svc: Services) -> pd.DataFrame | None:
    return None
