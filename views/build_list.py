"""Step 1: bring a list in (CSV, Google Sheet, sample, or a recent one) and match its columns."""

import streamlit as st

from lib import csvio, sheets, xlsx
from lib.recipients import ColumnMappingError, match_columns
from lib.sample import SAMPLE_NAME, sample_frame
from lib.sources import prepare, suggested_split, upload_list_key
from lib.timefmt import shown
from ui import common, name_split_ui, sheets_ui, state
from ui.text import md, plain

svc = state.services()
st.title("Build list")
st.write(
    f"Upload a CSV{' or Excel' if xlsx.XLSX_TYPES else ''} file or open a Google Sheet. "
    "Nothing is sent while you build the list."
)

if svc.demo_mode and state.current_list() is None:
    st.write("New here? **Sample list** → *Load the sample list* gives you 25 made-up people to try the whole flow.")
UPLOAD_TAB = "Upload a file" if xlsx.XLSX_TYPES else "Upload a CSV"
UPLOAD_LABEL = "CSV file (UTF-8, UTF-16 or Windows-1252; comma, semicolon, tab or |)" + (
    " or Excel workbook (.xlsx: the first sheet)" if xlsx.XLSX_TYPES else ""
)
names = [UPLOAD_TAB, "Google Sheet", "Recent lists"] + (["Sample list"] if svc.demo_mode else [])
tabs = dict(zip(names, st.tabs(names)))  # the made-up sample is for demos only: never sent for real
with tabs[UPLOAD_TAB]:
    common.upload_refusals_visible()
    upload = st.file_uploader(
        UPLOAD_LABEL,
        type=["csv", "txt", "tsv", *xlsx.XLSX_TYPES],
        key="giftrun_upload",
        max_upload_size=csvio.UPLOAD_LIMIT_MB,
    )
    st.caption(csvio.UPLOAD_LIMITS_TEXT)
    if upload is not None and st.button("Use this file", type="primary", key="use_upload"):
        try:
            document = xlsx.read_list(upload.getvalue(), name=upload.name)
        except csvio.CsvError as exc:
            st.error(md(exc, limit=1000))
        else:
            state.set_list(
                prepare(
                    document.frame,
                    list_key=upload_list_key(upload.name, state.actor()),
                    name=upload.name,
                    document=document,
                    split=suggested_split(document.frame),
                )
            )
            st.success(f"Loaded {len(document.frame)} people from {md(upload.name)}.")
            for note in document.notes:
                st.info(md(note))
with tabs["Google Sheet"]:
    sheets_ui.open_sheet_form(svc)
if svc.demo_mode:
    with tabs["Sample list"]:
        st.write(
            "25 made-up people, 5 of them with the problems real lists have (a missing first name, a bad "
            "email, a duplicate, a missing email, a one-letter name)."
        )
        if st.button("Load the sample list", type="primary", key="load_sample"):
            state.set_list(
                prepare(sample_frame(), list_key=upload_list_key(SAMPLE_NAME, state.actor()), name=SAMPLE_NAME)
            )
            st.success("Sample list loaded. Continue to Review & send.")
with tabs["Recent lists"]:
    saved = svc.store.saved_lists()
    if not saved:
        st.caption("Lists you load are kept here, approvals included, so a closed tab loses nothing.")
    else:
        labels = {key: f"{plain(name)} — saved {shown(at, seconds=False)}" for key, name, at in saved}
        choice = st.selectbox("Reopen a list", list(labels), format_func=labels.get, key="reopen_choice")
        if st.button("Reopen", key="reopen"):
            try:
                reopened = state.reopen_list(choice)
            except sheets.SheetsError as exc:
                st.error(md(exc, limit=1000))
                st.stop()
            if reopened is None:
                st.error("That list is no longer in the store.")
            else:
                state.set_list(reopened, save=False)
                st.success(f"Reopened {md(reopened.name)}.")

loaded = state.current_list()
if loaded is None:
    st.stop()

st.subheader(f"{md(loaded.name)} — {len(loaded.frame)} people")
st.caption(
    "Columns are matched loosely (First Name, first_name, Email Address… all work). "
    "If a column was not found, pick it from your own columns; the choice is remembered for this list."
)
name_split_ui.split_choice(loaded)
fields = [("first_name", "First name"), ("last_name", "Last name"), ("email", "Email"), ("approved", "Approved")]
options = ["(none)"] + list(loaded.user_columns)
cols = st.columns(len(fields))
overrides = {}
for (field, label), col in zip(fields, cols):
    current = getattr(loaded.cmap, field)
    choice = col.selectbox(
        label, options, index=options.index(current) if current in options else 0, key=f"map_{field}_{loaded.list_key}"
    )
    overrides[field] = "" if choice == "(none)" else choice
note_for, note = st.session_state.get(state.MAPPING_NOTE) or (None, "")
if note_for == loaded.list_key:
    st.warning("Some column choices saved with this list no longer match its columns:")
    st.text(note)  # the user's own column names: plain text
try:
    cmap = match_columns(loaded.user_columns, overrides)
except ColumnMappingError as exc:  # one column picked for two fields
    st.error("Pick a different column for each field:")
    st.text(str(exc))
    st.stop()
if cmap != loaded.cmap:
    st.session_state.pop(state.MAPPING_NOTE, None)  # the user has picked again
    loaded.cmap = cmap
    state.set_list(loaded)
missing = cmap.missing()
if missing:
    st.warning(f"Pick a column for: {', '.join(missing)}. Rows cannot be sent until these are matched.")
if not cmap.approved:
    st.caption("No `Approved` column: one is added, and you approve rows on the next page.")

st.dataframe(loaded.frame[list(loaded.user_columns)], hide_index=True, width="stretch", height=320)
if st.button("Continue to Review & send →", type="primary", disabled=bool(missing)):
    st.switch_page("views/review_send.py")
