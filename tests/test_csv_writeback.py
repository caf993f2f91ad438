"""Write-back leaves the user's CSV byte-identical apart from Giftrun's result columns
(issue 11, item 4): headers with spaces, an unnamed column, blank rows, title and `sep=`
lines, column and row order, quoting, line ends (CRLF, CR, mixed, none at the end), the
encoding and its BOM, and the user's own `+44 …`, `-5`, `@Ana`, `=A1` come back exactly.
Proved over many seeded odd files against an independent reading of the bytes, and by a
real CLI send.
"""

from __future__ import annotations

import random

import pytest

from lib import csvio
from lib.plan import apply_results
from lib.sources import csv_bytes, prepare, results_in
from lib.writeback import RESULT_COLUMNS, RowResult, result_positions
from tests import support
from tests.csv_files import (
    NEW_RESULT_VALUES,
    as_written,
    assert_only_result_fields_changed,
    check_write_back,
    codec_of,
    odd_file,
)
from tests.support import cli_env, posts, run_cli

SEEDS = range(400)


def _write(odd, rng: random.Random) -> tuple[bytes, dict[int, str], dict[int, dict[int, str]], object]:
    """Read an odd file as the CLI does, write random results onto random rows, and say
    where result columns sit in the file and what was written where."""
    doc = csvio.read_csv(odd.data)
    loaded = prepare(doc.frame, list_key="k", name="odd.csv", document=doc)
    names = [h.strip() for h in odd.header]
    existing = result_positions(names)
    missing = [c for c in RESULT_COLUMNS if c not in existing]
    at = {**existing, **{c: len(odd.header) + k for k, c in enumerate(missing)}}
    results, written = [], {}
    for i in range(len(loaded.frame)):
        if rng.random() < 0.3:
            continue
        values = {c: rng.choice(NEW_RESULT_VALUES) for c in rng.sample(RESULT_COLUMNS, rng.randint(1, 7))}
        results.append(RowResult(str(i), "", values))
        written[i] = {at[c]: as_written(v, codec_of(odd)) for c, v in values.items()}
    frame = apply_results(loaded.frame, results)
    return csv_bytes(loaded, frame, results_in(frame)), {j: c for c, j in at.items()}, written, (loaded, frame)


@pytest.mark.parametrize("seed", SEEDS)
def test_write_back_changes_only_result_cells_of_odd_files(seed):
    rng = random.Random(seed)
    odd = odd_file(rng)
    doc = csvio.read_csv(odd.data)

    # nothing to write: the very same bytes
    assert doc.render(doc.frame, list(doc.frame.columns)) == odd.data
    after, result_at, written, (loaded, frame) = _write(odd, rng)
    check_write_back(odd.data, after, odd, result_at, written)

    # read again: the user's columns are the same values, the results are what was written
    again = csvio.read_csv(after)
    user = [c for c in doc.frame.columns if c not in results_in(doc.frame)]
    assert again.frame[user].values.tolist() == doc.frame[user].values.tolist()
    assert list(again.frame.columns[: len(doc.frame.columns)]) == list(doc.frame.columns)
    # and writing the same results again changes nothing
    reloaded = prepare(again.frame, list_key="k", name="odd.csv", document=again)
    assert csv_bytes(reloaded, reloaded.frame, results_in(reloaded.frame)) == after


def test_the_examples_from_the_issue_come_back_exactly():
    raw = (
        " First Name ,Last Name,Email,,Phone,Notes\r\n"
        "Ana,Lopez,ana@example.com,kept,+44 20 7946 0958,-5\r\n"
        "\r\n"
        "Bo,Ng,bo@example.com,,@Ana,=A1\r\n"
        ",,,,,\r\n"
        'Cy,Oh,cy@example.com,x,\'-5,"say ""hi"""'
    ).encode("cp1252")
    doc = csvio.read_csv(raw)
    loaded = prepare(doc.frame, list_key="k", name="x.csv", document=doc)
    frame = apply_results(
        loaded.frame,
        [
            RowResult("0", "", {"Send error": "-5 is not a name", "Sent at": "x"}),
            RowResult("2", "", {"Gift request ID": "=evil()"}),
        ],
    )
    out = csv_bytes(loaded, frame, results_in(frame))
    header = ",Gift request ID,Redemption URL,Send error,Gift status,Eligibility,Skip reason,Sent at"
    assert out == (
        " First Name ,Last Name,Email,,Phone,Notes" + header + "\r\n"
        "Ana,Lopez,ana@example.com,kept,+44 20 7946 0958,-5,,,'-5 is not a name,,,,x\r\n"
        "\r\n"
        "Bo,Ng,bo@example.com,,@Ana,=A1,,,,,,,\r\n"
        ",,,,,\r\n"
        'Cy,Oh,cy@example.com,x,\'-5,"say ""hi""",\'=evil(),,,,,,'
    ).encode("cp1252")


# -- a real send ------------------------------------------------------------------------------------
ODD_LISTS = {
    "crlf-cp1252-semicolon-title-no-final-eol": (
        "Gift list Q3;;;;;;\r\n;;;;;;\r\n First Name ;Last Name;Email;Approved;;Phone;Notes\r\n"
        "José;Müller;jose@example.com;yes;u1;+44 20 7946 0958;-5\r\n\r\n"
        "Ana;Lopez;ana@example.com;yes;u2;@Ana;=A1\r\n;;;;;;\r\n"
        'Bo;Ng;bo@example;yes;u3;"1;2";"l1\r\nl2"\r\n'
        "Cy;Oh;cy@example.com;no;u4;00123;'=x"
    ).encode("cp1252"),
    "utf16-bom-tab-sep-line-own-result-spellings": (
        "sep=\t\r\nFirst Name\tLast Name\tEmail\tApproved\tgift_request_id\tSENT AT\tNotes\r\n"
        "Zoë\tBrown\tzoe@example.com\tyes\t\t\t🎁\r\n"
        "Ed\tKing\ted@example.com\tyes\tgr_from_another_tool\t2026-01-02\t\r\n"
        "Flo\tWest\tflo@example.com\tx\t\t\t=1+1\r\n"
    ).encode("utf-16"),
    "utf8-bom-pipes-cr-only": (
        "\ufeffFirst Name|Last Name|Email|Approved\rAl|Smith|al@example.com|yes\r\rDi|Moss|di@example.com|yes\r"
    ).encode("utf-8"),
}


@pytest.mark.slow
@pytest.mark.usefixtures("store_backend")
@pytest.mark.parametrize("name", list(ODD_LISTS))
def test_a_real_send_changes_only_result_cells_and_a_second_run_sends_nobody(make_sandbox, tmp_path, name):
    sb = make_sandbox()
    path = tmp_path / "list.csv"
    before = ODD_LISTS[name]
    path.write_bytes(before)
    doc = csvio.read_csv(before)
    env = cli_env(tmp_path / "data", sb)
    args = ("send", "list.csv", "--campaign", sb.campaign_ids[0], "--rate", "50")

    first = run_cli(tmp_path, env, *args, timeout=120)
    assert first.returncode == 0, first.stderr
    after = path.read_bytes()
    sent = len(posts(sb))
    assert 0 < sent <= sum(1 for v in doc.frame["Approved"] if v in ("yes", "x"))
    assert "ed@example.com" not in {support.posted_email(r) for r in posts(sb)}, "a row with a gift id was sent"

    again = csvio.read_csv(after)
    user = [c for c in doc.frame.columns if c not in results_in(doc.frame)]
    assert again.frame[user].values.tolist() == doc.frame[user].values.tolist()
    # byte for byte: every record of the file is the old one with result cells filled in
    assert after.startswith(doc.codec.bom) and again.codec == doc.codec
    assert_only_result_fields_changed(doc, again)

    second = run_cli(tmp_path, env, *args, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "0 to send" in second.stdout, second.stdout
    support.assert_nobody_gifted_twice(sb)
    assert len(posts(sb)) == sent and path.read_bytes() == after


@pytest.mark.parametrize(
    "raw,written",
    [
        (b"Email,Name\r\na@x.com,Al\r\n", b"Unknown outcome - check in &Open"),  # plain ASCII stays plain ASCII
        ("Email,Name\r\na@x.com,José\r\n".encode("cp1252"), "Unknown outcome — check in &Open".encode("cp1252")),
        ("Email,Name\r\na@x.com,José\r\n".encode("utf-16"), "Unknown outcome — check in &Open".encode("utf-16-le")),
    ],
    ids=["ascii", "windows-1252", "utf-16"],
)
def test_giftruns_text_is_written_in_the_files_own_encoding(raw, written):
    """Excel reads a CSV without a BOM as Windows-1252: UTF-8 added to a plain ASCII file
    would show "â€”", so that file stays ASCII."""
    doc = csvio.read_csv(raw)
    loaded = prepare(doc.frame, list_key="k", name="x.csv", document=doc)
    frame = apply_results(loaded.frame, [RowResult("0", "", {"Send error": "Unknown outcome — check in &Open"})])
    out = csv_bytes(loaded, frame, results_in(frame))
    assert written in out
    assert out.isascii() == raw.isascii()
