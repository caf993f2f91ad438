"""A list's own values in columns named like Giftrun's result columns (`Sent at`, `Send error`, …)
are never overwritten (issue 11, item 6; issue 20, item 2): the CLI says before sending and on a
dry run, and Review & send says, which columns and rows hold them and that Giftrun writes to its
own `… (Giftrun)` columns instead. On the next run those columns are Giftrun's: no note.
"""

from __future__ import annotations

import pytest

from lib import csvio
from tests.apptest_support import click, go, new_session, run, texts
from tests.support import cli_env, cli_in_process, posted_email, posts

pytestmark = pytest.mark.usefixtures("store_backend")

OWN = (
    b"First Name,Last Name,Email,Approved,Sent at,Send error\n"
    b"Ana,Lopez,ana@example.com,yes,2025-03-01,\n"  # row 2: sent -> its Sent at is replaced
    b"Bo,Ng,bo@example.com,no,2025-04-01,call first\n"  # row 3: not sent, not approved -> kept
    b"Cy,Oh,cy@example,yes,,typo?\n"  # row 4: invalid -> its Send error is replaced
    b"Di,Moss,di@example.com,yes,,left over from Clay\n"
)  # row 5: sent -> its Send error is cleared (rows as the spreadsheet numbers them: the header is row 1)
NOTE = (
    "Note: Your list has values of its own in columns named like Giftrun's result columns — "
    "'Sent at' (1 row: 2); 'Send error' (2 rows: 4, 5). Giftrun keeps them and writes its results to "
    "'Sent at (Giftrun)', 'Send error (Giftrun)' instead. To write over them instead, pass --overwrite-columns."
)


@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
def test_the_cli_says_which_of_the_lists_own_values_it_writes_over(make_sandbox, tmp_path):
    sb = make_sandbox()
    path = tmp_path / "list.csv"
    path.write_bytes(OWN)
    env = cli_env(tmp_path / "data", sb)
    args = ("send", "list.csv", "--campaign", sb.campaign_ids[0], "--rate", "50")

    dry = cli_in_process(tmp_path, env, *args, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert NOTE in dry.stdout, dry.stdout
    assert path.read_bytes() == OWN and posts(sb) == []

    proc = cli_in_process(tmp_path, env, *args)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert NOTE in out and out.index(NOTE) < out.index("Sending to campaign"), out
    assert sorted(posted_email(r) for r in posts(sb)) == ["ana@example.com", "di@example.com"]
    frame = csvio.read_csv_file(path).frame
    assert frame["Sent at"].tolist() == ["2025-03-01", "2025-04-01", "", ""]  # every value of the list's own kept
    assert frame["Send error"].tolist() == ["", "call first", "typo?", "left over from Clay"]
    rows = frame.set_index("Email")
    assert rows.loc["ana@example.com", "Sent at (Giftrun)"].endswith(" UTC")
    assert rows.loc["cy@example", "Send error (Giftrun)"].startswith("Email 'cy@example' is not")

    again = cli_in_process(tmp_path, env, *args)  # now a list Giftrun wrote: its values are Giftrun's
    assert again.returncode == 0, again.stderr
    assert "Note: Your list has values" not in again.stdout, again.stdout


@pytest.mark.slow
def test_review_and_send_says_it_too(data_dir, server_state):
    at = run(new_session(data_dir))
    at.file_uploader(key="giftrun_upload").set_value(("own.csv", OWN, "text/csv"))
    run(at)
    click(at, "use_upload")
    go(at, "review_send")
    shown = texts(at.warning)
    assert "Your list has values of its own in columns named like Giftrun's result columns" in shown, shown
    assert "'Sent at' (1 row: 2)" in shown and "'Send error' (2 rows: 4, 5)" in shown, shown
    assert "writes its results to 'Sent at (Giftrun)', 'Send error (Giftrun)' instead" in shown, shown

    at.checkbox(key="giftrun_overwrite_columns").check()  # the explicit choice to write over them
    run(at)
    shown = texts(at.warning)
    assert "'Sent at' (1 row: 2); 'Send error' (2 rows: 4, 5). Giftrun will write over them, as you chose." in shown
