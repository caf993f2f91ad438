"""Build list with the lists people have: one full-name column (split, shown before use, the
user's choice kept on reopening), an Excel workbook (first sheet, values as text), and one
upload limit said everywhere."""

from __future__ import annotations

import datetime as dt
import io
import re
import tomllib
from pathlib import Path

import openpyxl

from lib import csvio
from tests.apptest_support import click, go, metrics, new_session, run, texts
from ui.state import LIST, LIST_PARAM

REPO = Path(__file__).resolve().parents[1]
FULL_NAMES = "Full name,Email\nAna María López,ana@x.example\nAda Lovelace,ada@x.example\nBo Ng,bo@x.example\n"


def upload(at, name: str, data: bytes, mime: str = "text/csv"):
    at.file_uploader(key="giftrun_upload").set_value((name, data, mime))
    run(at)
    return click(at, "use_upload")


def test_a_full_name_column_is_split_shown_before_use_and_can_be_undone(data_dir):
    at = upload(run(new_session(data_dir)), "names.csv", FULL_NAMES.encode())
    assert "Split 'Full name' into First / Last name" in texts(at.markdown)
    radio = at.radio(key=f"split_{at.session_state[LIST].list_key}")
    assert radio.value == "last"
    assert "At the last space: Ana María López → Ana María / López" in radio.options
    assert "Ana María López → Ana María / López" in texts(at.text)
    go(at, "review_send")
    click(at, "approve_all")
    assert metrics(at)["To send"] == "3"

    go(at, "build_list")
    at.radio(key=f"split_{at.session_state[LIST].list_key}").set_value("none")
    run(at)
    assert "Pick a column for: First name, Last name" in texts(at.warning)


def test_the_chosen_split_comes_back_with_the_list_after_a_refresh(data_dir):
    at = upload(run(new_session(data_dir)), "names.csv", FULL_NAMES.encode())
    at.radio(key=f"split_{at.session_state[LIST].list_key}").set_value("first")
    run(at)
    again = new_session(data_dir)
    again.query_params[LIST_PARAM] = at.session_state[LIST].list_key
    run(again)
    loaded = again.session_state[LIST]
    assert loaded.split is not None and loaded.split.at == "first"
    assert list(loaded.frame[loaded.cmap.last_name]) == ["María López", "Lovelace", "Ng"]


def workbook() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["First Name", "Last Name", "Email", "Phone", "Joined", "Approved"])
    sheet.append(["Ana", "López", "ana@x.example", 447700900123, dt.datetime(2026, 3, 1), True])
    sheet.append(["Bo", "Ng", "bo@x.example", None, None, False])
    book.create_sheet("Notes").append(["not", "the", "list"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_an_excel_workbooks_first_sheet_is_read_as_text(data_dir):
    at = upload(run(new_session(data_dir)), "people.xlsx", workbook(), XLSX_MIME)
    assert "Loaded 2 people from people.xlsx." in texts(at.success), texts(at.error)
    frame = at.session_state[LIST].frame
    assert list(frame.loc["0", ["Phone", "Joined", "Approved"]]) == ["447700900123", "2026-03-01", "TRUE"]
    go(at, "review_send")
    assert metrics(at)["To send"] == "1"


def test_a_workbook_that_cannot_be_read_is_one_clear_message(data_dir):
    at = upload(run(new_session(data_dir)), "people.xlsx", b"PK\x03\x04" + b"\x00" * 200, XLSX_MIME)
    assert "This Excel workbook cannot be read" in texts(at.error) and "CSV UTF-8" in texts(at.error)


def test_the_uploader_offers_xlsx_and_states_the_one_limit(data_dir):
    at = run(new_session(data_dir))
    uploader = at.file_uploader(key="giftrun_upload")
    assert "xlsx" in uploader.proto.type or ".xlsx" in uploader.proto.type
    assert ".xls" not in uploader.proto.type
    assert uploader.proto.max_upload_size_mb == csvio.UPLOAD_LIMIT_MB == 20
    assert csvio.UPLOAD_LIMITS_TEXT in texts(at.caption)
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == csvio.UPLOAD_LIMIT_MB
    assert not re.search(r"\b100 ?MB\b", texts(at.caption) + texts(at.markdown))
