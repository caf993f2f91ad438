"""Control, direction, invisible and line-break characters in a name or an email are a row problem,
named specifically, and never reach &Open; the CLI never prints them raw.

The class: C0 controls (\\x00-\\x1f, tab and line breaks included), DEL and the C1 controls
(\\x7f-\\x9f), the Unicode line and paragraph separators, and every bidirectional formatting
character (LRM, RLM, ALM, embeddings, overrides, isolates), and the invisible ones (zero-width
space, soft hyphen, word joiner, BOM). Joiners stay allowed in names: Persian, Hindi and emoji
need them (an email never does: tests/test_invisible_characters.py).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd
import pytest

from lib.control_chars import CONTROL_RE, visible
from lib.recipients import check_rows, match_columns, validate_row
from tests.support import cli_env, posts, run_cli

# (character, the words of its problem)
CASES = [
    ("\x00", "a control character (\\x00)"),
    ("\x01", "a control character (\\x01)"),
    ("\x07", "a control character (\\x07)"),
    ("\t", "a control character (\\t)"),
    ("\x1b", "a control character (\\x1b)"),
    ("\x1f", "a control character (\\x1f)"),
    ("\x7f", "a control character (\\x7f)"),
    ("\x9b", "a control character (\\x9b)"),  # C1 CSI: a terminal escape on its own
    ("\n", "a line break (\\n)"),
    ("\r", "a line break (\\r)"),
    ("\x0b", "a line break (\\x0b)"),
    ("\x85", "a line break (\\x85)"),
    ("\u2028", "a line break (\\u2028)"),
    ("\u2029", "a line break (\\u2029)"),
    *[
        (chr(c), f"an invisible character (\\u{c:04x}, which changes the text direction)")
        for c in (0x200E, 0x200F, 0x061C, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
    ],
    *[(chr(c), f"an invisible character (\\u{c:04x})") for c in (0x200B, 0x00AD, 0x2060, 0xFEFF)],
]
IDS = [repr(ch) for ch, _w in CASES]


@pytest.mark.parametrize("ch, words", CASES, ids=IDS)
def test_each_field_with_such_a_character_is_a_specific_row_problem(ch, words):
    assert validate_row(f"A{ch}na", "Bauer", "ana@example.com") == [f"First name contains {words}: remove it"]
    assert validate_row("Ana", f"Bau{ch}er", "ana@example.com") == [f"Last name contains {words}: remove it"]
    assert validate_row("Ana", "Bauer", f"an{ch}a@example.com") == [f"Email contains {words}: remove it"]


def test_visible_writes_every_such_character_as_its_escape():
    text = "".join(ch for ch, _w in CASES) + "ok ü 👩\u200d💻"
    shown = visible(text)
    assert not CONTROL_RE.search(shown)
    assert shown.endswith("ok ü 👩\u200d💻")
    assert "\\x1b" in shown and "\\u202e" in shown and "\\n" in shown


def test_only_such_rows_are_invalid_names_with_joiners_are_fine():
    df = pd.DataFrame(
        [
            ("A\x1bna", "Bauer", "a@example.com", False),
            ("Bo", "Kim\u202e", "b@example.com", False),
            ("Cy", "Lee", "c\u2066@example.com", False),
            ("Zoë", "Ng", "zoe@example.com", True),
            ("می\u200cخواهم", "Rahimi", "m@example.com", True),  # ZWNJ: Persian needs it
            ("क्\u200dष", "Rao", "k@example.com", True),  # ZWJ in Devanagari
            ("Ana", "Bauer 👩\u200d💻", "ana@example.com", True),  # an emoji ZWJ sequence
            ("  Di  ", "Bauer\n", "\tdi@example.com ", True),  # surrounding whitespace is trimmed
        ],
        columns=["First", "Last", "Email", "ok"],
    )
    checks = check_rows(df, match_columns(["First", "Last", "Email"]))
    assert [c.valid for c in checks] == list(df["ok"]), [c.problems for c in checks]


# -- the CLI: never sent, never printed raw --------------------------------------------------------
HEADER = ["First Name", "Last Name", "Email", "Approved", "Notes"]


@pytest.mark.usefixtures("store_backend")
def test_the_cli_sends_none_of_them_and_prints_every_one_escaped(make_sandbox, tmp_path: Path):
    sb = make_sandbox()
    rows = [["Clean", "Person", "clean@example.com", "yes", ""]]
    in_file = [ch for ch, _w in CASES if ch != "\x00"]  # a NUL byte makes the file unreadable as CSV (csvio)
    rows += [[f"A{ch}na", "Bauer", f"p{i}@example.com", "yes", ""] for i, ch in enumerate(in_file)]
    rows += [["Eve", "Mallory", f"\x1b[2J\x1b[31mm{i}@example.com\u202e", "yes", ""] for i in range(2)]
    rows += [["Ok", "Approved", "ok@example.com", "y\x1b[2Jes", ""]]
    name = "list\x1b[2J\u202e.csv"
    with open(tmp_path / name, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n", quoting=csv.QUOTE_ALL).writerows([HEADER, *rows])  # \r quoted too
    env = cli_env(tmp_path / "data", sb)
    for extra in (("--dry-run",), ()):
        proc = run_cli(
            tmp_path, env, "send", name, "--campaign", sb.campaign_ids[0], "--rate", "50", *extra, timeout=120
        )
        assert proc.returncode == 0, proc.stderr
        raw = CONTROL_RE.findall(proc.stdout.replace("\n", "") + proc.stderr.replace("\n", ""))
        assert raw == [], f"printed raw: {raw}"
        assert "list\\x1b[2J\\u202e.csv:" in proc.stdout
        assert (
            "\\x1b[2J\\x1b[31mm0@example.com\\u202e: invalid — Email contains a control character (\\x1b)"
            in proc.stdout
        )
        assert "Approved is 'y\\x1b[2Jes'" in proc.stdout
        assert len(re.findall(r"First name contains", proc.stdout)) == len(in_file)
    assert [p.json["recipient"]["email"] for p in posts(sb)] == ["clean@example.com"]


@pytest.mark.usefixtures("store_backend")
@pytest.mark.parametrize(
    "args, shown",
    [
        (("send", "no\x1b[2Jpe.csv"), "no\\x1b[2Jpe.csv"),  # a file name in an error
        (("send", "list.csv", "--map", "email=Mail\x1b[2J"), "Mail\\x1b[2J"),  # a column name in an error
        (("send", "list.csv", "extra\x1b[2J"), "extra\\x1b[2J"),  # argparse: unrecognised argument
    ],
)
def test_cli_errors_echo_no_raw_control_characters(make_sandbox, tmp_path: Path, args, shown):
    sb = make_sandbox()
    with open(tmp_path / "list.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([HEADER, ["Ana", "Bauer", "ana@example.com", "yes", ""]])
    proc = run_cli(tmp_path, cli_env(tmp_path / "data", sb, ANDOPEN_CAMPAIGN_ID=sb.campaign_ids[0]), *args, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert CONTROL_RE.findall(proc.stderr.replace("\n", "") + proc.stdout.replace("\n", "")) == []
    assert shown in proc.stderr
