"""lib.csvio reads real-world exports as typed text and writes files that round-trip."""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import shutil
import stat
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from lib import atomic_file, csvio
from lib.csvio import CsvError, neutralise, read_csv_bytes, read_csv_path, restore, to_csv_bytes, write_csv_atomic
from lib.writeback import RESULT_COLUMNS

BOM = b"\xef\xbb\xbf"

# (id, raw bytes, expected columns, expected rows)
READ_CASES = [
    ("utf8-no-bom", "Name,Email\nJosé,j@x.com\n".encode(), ["Name", "Email"], [["José", "j@x.com"]]),
    ("utf8-bom", BOM + "Name,Email\nJosé,j@x.com\n".encode(), ["Name", "Email"], [["José", "j@x.com"]]),
    ("cp1252", "Name,Email\nJosé Müller,j@x.com\n".encode("cp1252"), ["Name", "Email"], [["José Müller", "j@x.com"]]),
    (
        "cp1252-smart-quotes-euro",
        "Name,Note\nAl,\u201cbig\u201d \u20ac5\n".encode("cp1252"),
        ["Name", "Note"],
        [["Al", "\u201cbig\u201d \u20ac5"]],
    ),
    ("cp1252-undefined-byte-latin1", b"Name,Note\nAl,a\x81b\xe9\n", ["Name", "Note"], [["Al", "a\x81bé"]]),
    ("semicolon", b"First;Last;Email\nAl;Bo;a@x.com\n", ["First", "Last", "Email"], [["Al", "Bo", "a@x.com"]]),
    ("tab", b"First\tLast\tEmail\nAl\tBo\ta@x.com\n", ["First", "Last", "Email"], [["Al", "Bo", "a@x.com"]]),
    ("semicolon-with-commas-in-values", b"Name;Note\nAl;a, b, c\n", ["Name", "Note"], [["Al", "a, b, c"]]),
    ("quoted-delimiter", b'Name,Note\n"Smith, Al","x,y"\n', ["Name", "Note"], [["Smith, Al", "x,y"]]),
    ("quoted-quotes", b'Name,Note\nAl,"say ""hi"""\n', ["Name", "Note"], [["Al", 'say "hi"']]),
    (
        "quoted-newline",
        b'Name,Note\nAl,"line1\nline2"\nBo,z\n',
        ["Name", "Note"],
        [["Al", "line1\nline2"], ["Bo", "z"]],
    ),
    ("quoted-header-delimiter", b'"Name, full",Email\nAl,a@x.com\n', ["Name, full", "Email"], [["Al", "a@x.com"]]),
    (
        "blank-lines",
        b"\n\nName,Email\n\nAl,a@x.com\n   \n\nBo,b@x.com\n",
        ["Name", "Email"],
        [["Al", "a@x.com"], ["Bo", "b@x.com"]],
    ),
    ("delimiter-only-lines", b"Name,Email\n,\nAl,a@x.com\n,,\n", ["Name", "Email"], [["Al", "a@x.com"]]),
    ("trailing-blank-line", b"Name,Email\nAl,a@x.com\n\n", ["Name", "Email"], [["Al", "a@x.com"]]),
    ("no-final-newline", b"Name,Email\nAl,a@x.com", ["Name", "Email"], [["Al", "a@x.com"]]),
    ("crlf", b"Name,Email\r\nAl,a@x.com\r\nBo,b@x.com\r\n", ["Name", "Email"], [["Al", "a@x.com"], ["Bo", "b@x.com"]]),
    ("crlf-inside-quotes-kept", b'Name,Note\r\nAl,"a\r\nb"\r\n', ["Name", "Note"], [["Al", "a\r\nb"]]),
    ("leading-zeros", b"Id,Zip\n00123,01234\n", ["Id", "Zip"], [["00123", "01234"]]),
    (
        "long-numbers-dates-bools",
        b"N,D,B,F\n12345678901234567890,03/04/2024,TRUE,1e5\n",
        ["N", "D", "B", "F"],
        [["12345678901234567890", "03/04/2024", "TRUE", "1e5"]],
    ),
    ("empty-cells-are-empty-strings", b"A,B,C\n,x,\n", ["A", "B", "C"], [["", "x", ""]]),
    ("values-not-trimmed", b"A,B\n  x , y\n", ["A", "B"], [["  x ", " y"]]),
    ("header-whitespace-trimmed", b" First Name ,\tEmail \nAl,a@x.com\n", ["First Name", "Email"], [["Al", "a@x.com"]]),
    ("short-rows-padded", b"A,B,C\n1\n1,2\n", ["A", "B", "C"], [["1", "", ""], ["1", "2", ""]]),
    ("trailing-empty-extra-fields-ok", b"A,B\n1,2,,\n", ["A", "B"], [["1", "2"]]),
    ("empty-header-with-data-unnamed", b"A,,C\n1,2,3\n", ["A", "Unnamed 2", "C"], [["1", "2", "3"]]),
    ("empty-header-without-data-dropped", b"A,B,,\n1,2,,\n3,4\n", ["A", "B"], [["1", "2"], ["3", "4"]]),
    ("single-column", b"Email\na@x.com\n", ["Email"], [["a@x.com"]]),
    (
        "users-own-values-as-written",
        b"A,B,C,D\n'=SUM(A1),=A1,+44 20 7946 0958,-5\n",
        ["A", "B", "C", "D"],
        [["'=SUM(A1)", "=A1", "+44 20 7946 0958", "-5"]],
    ),
    (
        "giftruns-neutralised-results-restored",
        b"A,Send error,gift_status\n'-5,'-5,''=x\n",
        ["A", "Send error", "gift_status"],
        [["'-5", "-5", "'=x"]],
    ),
    ("plain-apostrophe-untouched", b"A\n'hello\n", ["A"], [["'hello"]]),
    (
        "utf16-excel-unicode-text",
        "Name\tEmail\r\nJosé\tj@x.com\r\n".encode("utf-16"),
        ["Name", "Email"],
        [["José", "j@x.com"]],
    ),
    # issue 11, item 11: what spreadsheets and other tools write, read without a question
    (
        "title-row-above-header",
        b"Q3 gift list\nFirst,Last,Email\nAl,Bo,a@x.com\n",
        ["First", "Last", "Email"],
        [["Al", "Bo", "a@x.com"]],
    ),
    (
        "title-row-excel-padded-then-blank",
        b"Q3 gift list,,\r\n,,\r\nFirst,Last,Email\r\nAl,Bo,a@x.com\r\n",
        ["First", "Last", "Email"],
        [["Al", "Bo", "a@x.com"]],
    ),
    (
        "two-title-rows",
        b"Gift list\nExported 2026-05-01\n\nFirst;Last;Email\nAl;Bo;a@x.com\n",
        ["First", "Last", "Email"],
        [["Al", "Bo", "a@x.com"]],
    ),
    (
        "excel-sep-line",
        b"sep=;\r\nFirst;Last;Email\r\nAl;Bo, Jr;a@x.com\r\n",
        ["First", "Last", "Email"],
        [["Al", "Bo, Jr", "a@x.com"]],
    ),
    ("excel-sep-line-comma", b"SEP=,\nName,Note\nAl,a;b;c;d\n", ["Name", "Note"], [["Al", "a;b;c;d"]]),
    ("pipe-delimited", b"First|Last|Email\nAl|Bo|a@x.com\n", ["First", "Last", "Email"], [["Al", "Bo", "a@x.com"]]),
    (
        "pipe-with-commas-in-values",
        b"Name|Note\nAl|a, b, c\nBo|d, e\n",
        ["Name", "Note"],
        [["Al", "a, b, c"], ["Bo", "d, e"]],
    ),
    (
        "title-then-multiline-quotes",
        b'Leads\nName\tNote\n"Al"\t"l1\nl2\nl3"\nBo\tx\n',
        ["Name", "Note"],
        [["Al", "l1\nl2\nl3"], ["Bo", "x"]],
    ),
    (
        "utf16-le-without-bom",
        "Name,Email\r\nJosé,j@x.com\r\n".encode("utf-16-le"),
        ["Name", "Email"],
        [["José", "j@x.com"]],
    ),
    (
        "utf16-be-without-bom",
        "Name;Email\nJosé;j@x.com\n".encode("utf-16-be"),
        ["Name", "Email"],
        [["José", "j@x.com"]],
    ),
    ("utf32-with-bom", "Name,Email\nJosé,j@x.com\n".encode("utf-32"), ["Name", "Email"], [["José", "j@x.com"]]),
    (
        "utf32-le-without-bom",
        "Name,Email\nJosé,j@x.com\n".encode("utf-32-le"),
        ["Name", "Email"],
        [["José", "j@x.com"]],
    ),
    (
        "utf32-be-without-bom",
        "Name,Email\nJosé,j@x.com\n".encode("utf-32-be"),
        ["Name", "Email"],
        [["José", "j@x.com"]],
    ),
]


@pytest.mark.parametrize("raw,columns,rows", [c[1:] for c in READ_CASES], ids=[c[0] for c in READ_CASES])
def test_read_accepts_real_exports(raw: bytes, columns: list[str], rows: list[list[str]]) -> None:
    df = read_csv_bytes(raw)
    assert list(df.columns) == columns
    assert df.values.tolist() == rows
    assert all(df[c].dtype == "str" for c in df.columns)
    assert not df.isna().any().any()


# (id, raw bytes, text the message must contain)
ERROR_CASES = [
    ("empty", b"", "The file is empty."),
    ("whitespace-only", b"  \n\t\r\n  ", "The file is empty."),
    ("bom-only", BOM, "The file is empty."),
    ("header-only", b"Name,Email\n", "The file has a header row but no people in it."),
    ("header-and-blank-rows", b"Name,Email\n\n,\n", "The file has a header row but no people in it."),
    (
        "duplicate-header",
        b"Name,Email,X,Y,Email\n1,2,3,4,5\n",
        "Column 'Email' appears twice (columns 2 and 5). Rename one and upload again.",
    ),
    ("duplicate-header-after-trim", b"Email, Email\n1,2\n", "Column 'Email' appears twice (columns 1 and 2)"),
    ("too-many-fields", b"A,B\n1,2\n1,2,3\n", "Line 3 has 3 fields but the header has 2"),
    ("too-many-fields-after-multiline", b'A,B\n"x\ny",2\n\n1,2,3\n', "Line 5 has 3 fields"),
    ("unclosed-quote", b'A,B\n1,2\n3,"oops\n4,5\n', 'Line 3 has a quote (") that is never closed.'),
    ("nul-byte-in-a-cell", b"A,B\n1,\x002\n", "Line 2, column 'B' contains a NUL character"),
    ("xlsx", b"PK\x03\x04\x14\x00\x00\x00junk", "It looks like an Excel workbook"),
    # issue 11, item 11: each says what is wrong and where
    ("nul-byte-in-a-header", b"A,B\x00C\n1,2\n", "Line 1, column 'BC' contains a NUL character"),
    (
        "200kb-cell",
        b"First,Last,Email,Notes\nAl,Bo,a@x.com,ok\nCy,Di,c@x.com," + b"x" * 200 * 1024 + b"\n",
        "Line 3, column 'Notes': the value is 204,800 characters long; the limit is 50,000 characters per cell.",
    ),
    (
        "200kb-cell-over-many-lines",
        b'Name,Note\nAl,"' + b"x\n" * 100_000 + b'"\n',
        'check that line for a quote (") that closes much later than it should',
    ),
    (
        "60kb-header-cell",
        b'A,"B' + b"x" * 60_000 + b'",C\n1,2,3\n',
        "Line 1, the column names: one is 60,001 characters long; the limit is 50,000 characters per cell.",
    ),
    (
        "mostly-utf8-with-a-windows-1252-row",
        "Name,City\nJosé,Zürich\nRenée,Köln\n".encode() + b"Ana,Bogot\xe1\n",
        "Line 4 has characters that are not UTF-8, while the rest of the file is UTF-8",
    ),
    (
        "utf16-cut-in-the-middle",
        "Name,Email\nJosé,j@x.com\n".encode("utf-16")[:-1],
        "This does not look like a CSV file (it starts like UTF-16 text but is damaged further on).",
    ),
    (
        "header-row-missing",
        b"Ana,Lopez,ana@example.com\nBo,Ng,bo@example.com\n",
        "Line 1 should hold the column names, but it holds an email address ('ana@example.com')",
    ),
    (
        "two-cell-title-row",
        b"Gift list,2026\nFirst,Last,Email,Approved\nAl,Bo,a@x.com,yes\n",
        "Line 2 has 4 fields but line 1, read as the column names, has 2. If line 1 is a title or a note above "
        "the column names, delete it and upload again",
    ),
]


@pytest.mark.parametrize("raw,message", [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_read_refuses_with_a_clear_message(raw: bytes, message: str) -> None:
    with pytest.raises(CsvError) as info:
        read_csv_bytes(raw)
    assert message in str(info.value)
    assert "Traceback" not in str(info.value)


def test_oversize_message_gives_size_and_limit() -> None:
    raw = b"A\n" + b"x" * int(23.4 * 1024 * 1024)
    with pytest.raises(
        CsvError,
        match=r"^The file is 24,536,680 bytes; a list can hold up to 20,971,520 bytes \(20 MB\) "
        r"of your own data\. Split it into smaller files\.$",
    ):
        read_csv_bytes(raw)


def test_too_many_rows_names_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csvio, "MAX_ROWS", 3)
    assert len(read_csv_bytes(b"A\n1\n2\n3\n")) == 3
    with pytest.raises(CsvError, match="limit is 3 rows"):
        read_csv_bytes(b"A\n1\n2\n3\n4\n")


def test_max_rows_file_reads_quickly() -> None:
    raw = b"First,Last,Email\n" + b"".join(b"Al,Bo,a%d@x.com\n" % i for i in range(csvio.MAX_ROWS))
    assert len(read_csv_bytes(raw)) == csvio.MAX_ROWS


def test_read_records_delimiter_and_encoding() -> None:
    df = read_csv_bytes("A;B\né;2\n".encode("cp1252"))
    assert df.attrs[csvio.ATTR_DELIMITER] == ";"
    assert df.attrs[csvio.ATTR_ENCODING] == "cp1252"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("a,b,c", ","),
        ("a;b;c", ";"),
        ("a\tb\tc", "\t"),
        ("single", ","),
        ('"a;b",c', ","),
        ('"a,b";"c,d";e', ";"),
        ("\n,,\na;b", ";"),
        ("a;b,c;d", ";"),
        ("Gifts, Q3\nA;B;C\n1;2;3\n", ";"),
        ("A|B|C\n1|2, 3|4\n", "|"),
        ('Leads\nA\tB\n"x\ny;z"\t2\n', "\t"),
    ],
)
def test_detect_delimiter_counts_outside_quotes_in_header(text: str, expected: str) -> None:
    assert csvio.detect_delimiter(text) == expected


# ---------------------------------------------------------------------------- formulas

FORMULA_TABLE = [
    ("=SUM(A1)", "'=SUM(A1)"),
    ("+1 555", "'+1 555"),
    ("-5", "'-5"),
    ("@foo", "'@foo"),
    ("\tx", "'\tx"),
    ("\rx", "'\rx"),
    ("'=x", "''=x"),
    ("''=y", "'''=y"),
    ("'''", "'''"),
    ("plain", "plain"),
    ("", ""),
    ("'", "'"),
    ("'hello", "'hello"),
    ("a=b", "a=b"),
    (" =x", " =x"),
    ("'x=", "'x="),
    ("=", "'="),
    ("'-", "''-"),
]


@pytest.mark.parametrize("value,written", FORMULA_TABLE)
def test_neutralise_table_and_exact_restore(value: str, written: str) -> None:
    assert neutralise(value) == written
    assert restore(written) == value


def test_restore_neutralise_round_trip_fuzz() -> None:
    rng = random.Random(20260516)
    alphabet = ["'", "=", "+", "-", "@", "\t", "\r", "\n", " ", "a", "1", '"', ",", ";", "é"]
    for _ in range(2000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        assert restore(neutralise(value)) == value, repr(value)
        assert not neutralise(value).startswith(csvio.FORMULA_TRIGGERS)  # safe to open in Excel


# ---------------------------------------------------------------------------- writing


def _sample_frame() -> pd.DataFrame:
    tricky = [
        "=SUM(A1)",
        "+1 555",
        "-5",
        "@foo",
        "'=x",
        "''=y",
        "plain",
        "a,b",
        'q"q',
        "l1\nl2",
        "c\rr",
        "\tt",
        "00123",
        "José",
        " pad ",
    ]
    df = pd.DataFrame(
        {"Zeta": tricky, "Alpha": [f"v{i}" for i in range(len(tricky))], "=Header": ["x"] * len(tricky)}, dtype="str"
    )
    for col in RESULT_COLUMNS:
        df[col] = ""
    df.loc[0, "Send error"] = "-"
    return df


def test_write_then_read_round_trips_values_and_column_order() -> None:
    df = _sample_frame()
    back = read_csv_bytes(to_csv_bytes(df, protect=RESULT_COLUMNS))
    assert list(back.columns) == list(df.columns)
    assert back.values.tolist() == df.values.tolist()


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_round_trip_with_user_delimiter(delimiter: str) -> None:
    df = _sample_frame()
    raw = to_csv_bytes(df, delimiter=delimiter, protect=RESULT_COLUMNS)
    back = read_csv_bytes(raw)
    assert back.attrs[csvio.ATTR_DELIMITER] == delimiter
    assert back.values.tolist() == df.values.tolist()


def test_written_bytes_are_utf8_bom_lf_and_neutralised() -> None:
    df = pd.DataFrame({"A": ["=1+1", "José"], "B": [None, float("nan")]})
    assert to_csv_bytes(df) == BOM + "A,B\n'=1+1,\nJosé,\n".encode()


def test_only_the_protected_columns_are_neutralised() -> None:
    df = pd.DataFrame({"Phone": ["+44 20 7946 0958"], "Send error": ["-5 is not a name"]})
    assert to_csv_bytes(df, protect=["Send error"]) == BOM + b"Phone,Send error\n+44 20 7946 0958,'-5 is not a name\n"


def test_write_csv_atomic_replaces_and_keeps_permissions(tmp_path: Path) -> None:
    target = tmp_path / "list.csv"
    target.write_bytes(b"old\n")
    os.chmod(target, 0o640)
    write_csv_atomic(_sample_frame(), target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert read_csv_path(target).values.tolist() == read_csv_bytes(to_csv_bytes(_sample_frame())).values.tolist()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["list.csv"]


def test_write_csv_atomic_new_file_uses_umask_not_0600(tmp_path: Path) -> None:
    target = tmp_path / "new.csv"
    old = os.umask(0o022)
    try:
        write_csv_atomic(pd.DataFrame({"A": ["1"]}), target)
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_write_csv_atomic_writes_through_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.csv"
    real.write_bytes(b"old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    write_csv_atomic(pd.DataFrame({"A": ["1"]}), link)
    assert link.is_symlink()
    assert read_csv_path(real).values.tolist() == [["1"]]


class _Exploding:
    def __str__(self) -> str:
        raise RuntimeError("boom")


def test_write_csv_atomic_leaves_original_when_serialising_fails(tmp_path: Path) -> None:
    target = tmp_path / "list.csv"
    target.write_bytes(b"A\nold\n")
    df = pd.DataFrame({"A": ["fine", _Exploding()]}, dtype=object)
    with pytest.raises(RuntimeError):
        write_csv_atomic(df, target)
    assert target.read_bytes() == b"A\nold\n"
    assert [p.name for p in tmp_path.iterdir()] == ["list.csv"]


def test_write_csv_atomic_leaves_original_when_replace_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "list.csv"
    target.write_bytes(b"A\nold\n")

    def failing_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_file.os, "replace", failing_replace)
    with pytest.raises(CsvError, match="Cannot save .*No space left on device"):
        write_csv_atomic(pd.DataFrame({"A": ["new"]}), target)
    assert target.read_bytes() == b"A\nold\n"
    assert [p.name for p in tmp_path.iterdir()] == ["list.csv"]


def test_write_csv_atomic_missing_folder_is_a_csv_error(tmp_path: Path) -> None:
    with pytest.raises(CsvError, match="Cannot save"):
        write_csv_atomic(pd.DataFrame({"A": ["1"]}), tmp_path / "nope" / "x.csv")


# ---------------------------------------------------------------------------- paths


def test_read_csv_path_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(CsvError, match=r"^File not found: .*nope\.csv$"):
        read_csv_path(missing)


def test_read_csv_path_directory(tmp_path: Path) -> None:
    with pytest.raises(CsvError, match="File not found: .* is a folder"):
        read_csv_path(tmp_path)


@contextlib.contextmanager
def _as_nobody_on_the_filesystem():
    """Root reads any file; for this thread, check files as user `nobody` would (Linux's fsuid,
    which also drops root's override of file permissions), so the test means the same as root."""
    if os.geteuid() != 0:
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.setfsuid(65534)
    try:
        yield
    finally:
        libc.setfsuid(0)


def test_read_csv_path_unreadable() -> None:
    folder = Path(tempfile.mkdtemp(prefix="giftrun-locked-"))  # not under root's private tmp folder
    os.chmod(folder, 0o755)
    target = folder / "locked.csv"
    target.write_bytes(b"A\n1\n")
    os.chmod(target, 0)
    try:
        with _as_nobody_on_the_filesystem():
            with pytest.raises(CsvError, match="permission denied"):
                read_csv_path(target)
    finally:
        os.chmod(target, 0o600)
        shutil.rmtree(folder)


def test_read_csv_path_reads_file(tmp_path: Path) -> None:
    target = tmp_path / "people.csv"
    target.write_bytes(b"Name\nAl\n")
    assert read_csv_path(str(target)).values.tolist() == [["Al"]]


def test_a_title_above_the_header_is_named_in_a_note_and_kept_in_the_file() -> None:
    doc = csvio.read_csv(b"Q3 gift list,,\r\n,,\r\nFirst,Last,Email\r\nAl,Bo,a@x.com\r\n")
    assert doc.notes == (
        "The column names are on line 3; line 1 above them ('Q3 gift list') was read as a title and is kept as it is.",
    )
    assert doc.render(doc.frame, list(doc.frame.columns)).startswith(b"Q3 gift list,,\r\n,,\r\nFirst,")


def test_a_cell_is_refused_only_over_the_limit_with_its_line_column_and_the_limit() -> None:
    at_limit = b"Name,Note\nAl," + b"x" * csvio.MAX_CELL_CHARS + b"\n"
    assert read_csv_bytes(at_limit)["Note"].str.len().tolist() == [csvio.MAX_CELL_CHARS]
    with pytest.raises(
        CsvError,
        match=r"^Line 2, column 'Note': the value is 50,001 characters long; the limit is "
        r"50,000 characters per cell\.$",
    ):
        read_csv_bytes(at_limit.replace(b"x\n", b"xx\n"))


def test_a_stray_nul_names_its_cell_while_a_binary_file_is_not_a_csv() -> None:
    with pytest.raises(CsvError, match="^Line 3, column 'Notes' contains a NUL character"):
        read_csv_bytes(b"Name,Notes\nAl,ok\nBo,a\x00b\n")
    with pytest.raises(CsvError, match=r"^This does not look like a CSV file\.$"):
        read_csv_bytes(bytes(range(256)) * 8)
