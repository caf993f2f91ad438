"""Columns Giftrun did not write are never overwritten (issue 20, item 2): a list's own column
named like a result column (matched loosely, as result columns are) that holds values Giftrun
did not write keeps every cell; Giftrun writes that result to `… (Giftrun)`, says so before the
run (and on a dry run), and finds that column again next time. `--overwrite-columns` writes over
the list's column instead. For a CSV file and a Google Sheet alike.
"""

from __future__ import annotations

import re

import pytest

from lib import csvio
from tests.support import cli_env, cli_in_process, posts, sheets_cli_env

pytestmark = pytest.mark.usefixtures("store_backend")

# (the list's header, its own value on every row, what Giftrun writes for Ana, who is sent)
CASES = [
    ("Eligibility", "Tier 1", r"eligible"),
    ("skip_reason", "VIP: ask Dana first", r""),
    ("GiftStatus", "Contacted", r"Submitted"),
    ("Sent At", "2025-03-01", r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"),
    ("send error", "call first", r""),
    ("Redemption URL", "https://example.com/welcome", r"http://127\.0\.0\.1:\d+/r/\w+"),
]
OWN = {
    "Eligibility": "Eligibility (Giftrun)",
    "skip_reason": "Skip reason (Giftrun)",
    "GiftStatus": "Gift status (Giftrun)",
    "Sent At": "Sent at (Giftrun)",
    "send error": "Send error (Giftrun)",
    "Redemption URL": "Redemption URL (Giftrun)",
}


def directory_export(column: str, value: str) -> bytes:
    rows = [("Ana", "Lopez", "ana@example.com", "yes"), ("Bo", "Ng", "bo@example.com", "no")]
    lines = [f"First Name,Last Name,Email,Approved,Team,{column}"]
    lines += [f"{f},{la},{e},{a},Sales,{value}" for f, la, e, a in rows]
    return ("\r\n".join(lines) + "\r\n").encode()


def _column(data: bytes, name: str) -> list[str]:
    return csvio.read_csv(data).frame[name].tolist()


@pytest.mark.slow
@pytest.mark.parametrize("column, value, giftrun", CASES)
def test_a_column_of_the_lists_own_keeps_every_cell_and_results_go_to_giftruns_own(
    make_sandbox, tmp_path, column, value, giftrun
):
    sb = make_sandbox()
    path = tmp_path / "export.csv"
    before = directory_export(column, value)
    path.write_bytes(before)
    env = cli_env(tmp_path / "data", sb)
    args = ("send", "export.csv", "--campaign", sb.campaign_ids[0], "--rate", "50")
    note = f"Note: Your list has values of its own in columns named like Giftrun's result columns — '{column}' ("
    where = f"Giftrun keeps them and writes its results to '{OWN[column]}' instead."

    dry = cli_in_process(tmp_path, env, *args, "--dry-run")
    assert dry.returncode == 0 and note in dry.stdout and where in dry.stdout, dry.stdout
    assert path.read_bytes() == before and posts(sb) == []

    sent = cli_in_process(tmp_path, env, *args)
    out = sent.stdout
    assert sent.returncode == 0, out + sent.stderr
    assert note in out and out.index(note) < out.index("Sending to campaign"), out
    after = path.read_bytes()
    assert _column(after, column) == [value, value], "a value of the list's own was written over"
    doc = csvio.read_csv(after)
    header = list(doc.frame.columns)
    assert header.count(OWN[column]) == 1 and header[:6] == csvio.read_csv(before).frame.columns.tolist()
    ana = doc.frame.set_index("Email").loc["ana@example.com"]
    assert re.fullmatch(giftrun, ana[OWN[column]]), (OWN[column], ana[OWN[column]])
    assert ana["Gift request ID"], "the gift's id did not reach the row"

    again = cli_in_process(tmp_path, env, *args)  # the next run finds Giftrun's own column again
    assert again.returncode == 0 and "Note: Your list has values" not in again.stdout, again.stdout
    assert list(csvio.read_csv(path.read_bytes()).frame.columns) == header
    assert _column(path.read_bytes(), column) == [value, value]


def test_overwriting_the_lists_own_column_takes_the_explicit_option(make_sandbox, tmp_path):
    sb = make_sandbox()
    path = tmp_path / "export.csv"
    path.write_bytes(directory_export("Eligibility", "Tier 1"))
    env = cli_env(tmp_path / "data", sb)
    proc = cli_in_process(tmp_path, env, "send", "export.csv", "--campaign", sb.campaign_ids[0], "--overwrite-columns")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "'Eligibility' (2 rows: 2, 3). Giftrun will write over them, as you chose." in proc.stdout, proc.stdout
    frame = csvio.read_csv(path.read_bytes()).frame
    assert frame["Eligibility"].tolist() == ["eligible", "eligible"]
    assert "Eligibility (Giftrun)" not in frame.columns


KEY = "1OwnColumnsSheetAbCdEfGhIjKlMnOpQrStUvWx"
LINK = f"https://docs.google.com/spreadsheets/d/{KEY}/edit#gid=0"
SHEET = [
    ["First Name", "Last Name", "Email", "Approved", "Eligibility", "Notes"],
    ["Ana", "Lopez", "ana@example.com", "TRUE", "Tier 1", "met at the fair"],
    ["Bo", "Ng", "bo@example.com", "FALSE", "Tier 2", ""],
]


@pytest.mark.slow
@pytest.mark.parametrize("overwrite", [False, True], ids=["kept", "overwritten"])
def test_a_sheets_own_column_is_kept_too_unless_told_to_write_over_it(fake, make_sandbox, tmp_path, overwrite):
    sb = make_sandbox()
    fake.create_spreadsheet(KEY, {"People": [list(r) for r in SHEET]})
    env = sheets_cli_env(tmp_path / "data", sb, fake)
    args = ("send", LINK, "--campaign", sb.campaign_ids[0], *(["--overwrite-columns"] if overwrite else []))
    proc = cli_in_process(tmp_path, env, *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "'Eligibility' (2 rows: 2, 3)" in proc.stdout, proc.stdout
    rows = fake.table(KEY, "People")
    if overwrite:
        assert [r["Eligibility"] for r in rows] == ["eligible", "eligible"]
        assert "Eligibility (Giftrun)" not in rows[0]
        return
    assert [r["Eligibility"] for r in rows] == ["Tier 1", "Tier 2"], rows
    assert [r["Eligibility (Giftrun)"] for r in rows] == ["eligible", "eligible"], rows
    assert rows[0]["Gift request ID"] and [r["Notes"] for r in rows] == ["met at the fair", ""]
    header = fake.rows(KEY, "People")[0]

    again = cli_in_process(tmp_path, env, *args)  # found again by its name: no second column, no note
    assert again.returncode == 0 and "Note: Your list has values" not in again.stdout, again.stdout
    assert fake.rows(KEY, "People")[0] == header
    assert [r["Eligibility"] for r in fake.table(KEY, "People")] == ["Tier 1", "Tier 2"]


@pytest.mark.slow
def test_status_keeps_the_lists_own_column_too(make_sandbox, tmp_path):
    """`status` writes Gift status onto rows carrying a gift id: a copy of the list whose own
    `Gift status` says something else keeps it, and the status goes to `Gift status (Giftrun)`."""
    sb = make_sandbox()
    env = cli_env(tmp_path / "data", sb)
    (tmp_path / "sent.csv").write_bytes(directory_export("Team lead", "Dana"))
    assert cli_in_process(tmp_path, env, "send", "sent.csv", "--campaign", sb.campaign_ids[0]).returncode == 0
    gift = csvio.read_csv((tmp_path / "sent.csv").read_bytes()).frame["Gift request ID"][0]
    copy = tmp_path / "crm.csv"
    copy.write_bytes(
        f"Email,First Name,Last Name,Gift request ID,Gift status\nana@example.com,Ana,Lopez,{gift},Contacted\n".encode()
    )

    proc = cli_in_process(tmp_path, env, "status", "crm.csv")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (
        "'Gift status' (1 row: 2). Giftrun keeps them and writes its results to 'Gift status (Giftrun)'" in proc.stdout
    )
    row = csvio.read_csv(copy.read_bytes()).frame.iloc[0]
    assert row["Gift status"] == "Contacted" and row["Gift status (Giftrun)"] == "Submitted", dict(row)
