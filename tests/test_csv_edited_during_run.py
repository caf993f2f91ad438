"""The list stays the user's during a run (issue 20, item 1): a CSV edited while `send` runs
(a cell changed, a row added, a row removed, rows re-sorted) keeps every edit, and each
result lands on its person's row. A file changed so that results cannot be merged safely
(its header row, its delimiter, a person now on two rows) is not written at all, says so in
one line, and the next `status` writes the results from the journal.

The edit is made while the run is surely in flight: the sandbox holds every create until the
test has saved its edit (`Faults.before_create`), after the run wrote its first results.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from lib import csvio
from lib.models import normalize_email
from lib.sandbox import Faults
from tests.csv_files import assert_only_result_fields_changed
from tests.support import cli_env, cli_in_process, posted_email, posts

pytestmark = pytest.mark.usefixtures("store_backend")

LIST = (
    b"First Name,Last Name,Email,Approved,Notes\n"
    b"Ana,Lopez,ana@example.com,yes,met at the fair\n"
    b"Bo,Ng,bo@example.com,yes,\n"
    b"Cy,Oh,cy@example.com,no,call first\n"
    b"Di,Moss,di@example.com,yes,\n"
)


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def change_a_cell(path: Path) -> None:
    path.write_bytes(path.read_bytes().replace(b"call first", b'"called, wants a call back"'))


def add_a_row(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b"Ed,Ray,ed@example.com,no,added during the run\n")


def remove_a_sent_row(path: Path) -> None:
    path.write_bytes(b"".join(line for line in _lines(path) if b"di@example.com" not in line))


def re_sort(path: Path) -> None:
    head, *rows = _lines(path)
    path.write_bytes(head + b"".join(reversed(rows)))


def _send_while(tmp_path: Path, sb, edit: Callable[[Path], None]):
    """`send list.csv` in this process; `edit` runs while the first create is held."""
    path = tmp_path / "list.csv"
    path.write_bytes(LIST)
    arrived, release = threading.Event(), threading.Event()

    def hold(_payload: dict) -> None:
        arrived.set()
        release.wait(30)

    sb.faults = Faults(before_create=hold)
    env = cli_env(tmp_path / "data", sb)
    done: dict = {}
    args = ("send", "list.csv", "--campaign", sb.campaign_ids[0], "--rate", "50")
    worker = threading.Thread(target=lambda: done.update(proc=cli_in_process(tmp_path, env, *args)))
    worker.start()
    try:
        assert arrived.wait(30), "the run never sent"
        edit(path)
        edited = path.read_bytes()
    finally:
        release.set()
        worker.join(60)
    return done["proc"], edited, env


def _gift_ids(sb) -> dict[str, str]:
    return {e: gifts[0]["id"] for e, gifts in sb.gifts_by_email().items()}


@pytest.mark.parametrize("edit", [change_a_cell, add_a_row, remove_a_sent_row, re_sort])
def test_edits_made_during_a_run_survive_and_results_land_on_their_rows(make_sandbox, tmp_path, edit):
    sb = make_sandbox()
    proc, edited, _env = _send_while(tmp_path, sb, edit)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(posted_email(r) for r in posts(sb)) == ["ana@example.com", "bo@example.com", "di@example.com"]

    final = csvio.read_csv((tmp_path / "list.csv").read_bytes())
    before = csvio.read_csv(edited)
    assert_only_result_fields_changed(before, final)  # every byte of the edited file but result cells
    ids = _gift_ids(sb)
    rows = final.frame.set_index("Email")
    for email, row in rows.iterrows():
        assert row["Gift request ID"] == ids.get(normalize_email(email), ""), (email, proc.stdout)
    if edit is remove_a_sent_row:
        assert "di@example.com" not in rows.index
        assert "1 result has no row in list.csv any more" in proc.stdout, proc.stdout
    else:
        assert "Results written to list.csv." in proc.stdout, proc.stdout


def rename_a_column(path: Path) -> None:
    path.write_bytes(path.read_bytes().replace(b",Notes,", b",Comments,", 1))


def save_with_semicolons(path: Path) -> None:
    text = path.read_bytes().decode()
    path.write_bytes(text.replace(",", ";").encode())


def put_a_person_on_two_rows(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b"Ana,Lopez,ANA@example.com,no,again\n")


@pytest.mark.slow
@pytest.mark.parametrize(
    "edit, why",
    [
        (rename_a_column, "its header row changed"),
        (save_with_semicolons, "its fields are now separated by ';' instead of ','"),
        (put_a_person_on_two_rows, "ana@example.com is now on 2 rows (it was on 1)"),
    ],
)
def test_a_file_that_cannot_be_merged_is_left_alone_and_the_next_status_writes_the_results(
    make_sandbox, tmp_path, edit, why
):
    sb = make_sandbox()
    proc, edited, env = _send_while(tmp_path, sb, edit)
    path = tmp_path / "list.csv"
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert path.read_bytes() == edited, "the run wrote over a file it could not merge into"
    said = [line for line in proc.stdout.splitlines() if why in line]
    assert len(said) == 1, proc.stdout
    assert "list.csv changed during the run" in said[0] and "nothing was written to it" in said[0], said
    assert "status" in said[0], said
    assert "Results written" not in proc.stdout, proc.stdout

    if edit is put_a_person_on_two_rows:  # the person has to be on one row again first
        path.write_bytes(edited.rsplit(b"Ana,Lopez,ANA", 1)[0])
    status = cli_in_process(tmp_path, env, "status", "list.csv")
    assert status.returncode == 0, status.stdout + status.stderr
    ids = _gift_ids(sb)
    rows = csvio.read_csv(path.read_bytes()).frame.set_index("Email")
    assert {e: rows.loc[e, "Gift request ID"] for e in rows.index} == {e: ids.get(e, "") for e in rows.index}, (
        status.stdout
    )
