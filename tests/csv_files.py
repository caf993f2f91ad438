"""A seeded generator of odd but valid CSV files, as spreadsheets and people make them, that
knows every byte it wrote: encodings with and without BOM, four delimiters, three line
ends (mixed), a last line with or without one, `sep=` lines, title lines, quoted and
unquoted fields, headers with spaces around them, an unnamed column with values, blank
rows, short and long rows, and result columns in other tools' spellings.

`check_write_back` is the oracle the write-back tests share: an independent reading of the
bytes (a regex over the raw fields, and Python's csv module) that proves only result
cells changed.
"""

from __future__ import annotations

import csv
import io
import random
import re
from dataclasses import dataclass, field

from lib.csvio import neutralise
from lib.csvrecords import DELIMITERS

ENCODINGS: list[tuple[str, bytes]] = [
    ("utf-8", b""),
    ("utf-8", b"\xef\xbb\xbf"),
    ("cp1252", b""),
    ("utf-16-le", b"\xff\xfe"),
    ("utf-16-le", b""),
    ("utf-16-be", b"\xfe\xff"),
    ("utf-16-be", b""),
    ("utf-32-le", b"\xff\xfe\x00\x00"),
    ("utf-32-be", b""),
]
EOLS = ["\n", "\r\n", "\r"]
USER_VALUES = [
    "Ana",
    "José Müller",
    "+44 20 7946 0958",
    "-5",
    "@Ana",
    "=A1",
    '=HYPERLINK("http://x")',
    "'=x",
    "00123",
    " padded ",
    "1e5",
    "TRUE",
    "€5",
    "O'Brien",
    "",
    "",
    "x",
]
QUOTED_ONLY = ['say "hi"', "a,b", "a;b", "x|y", "tab\there", "l1\nl2", "l1\r\nl2", '"starts with a quote', "c\rr"]
UNICODE_ONLY = ["Zoë 🎁", "東京", "\u00a0nbsp"]
RESULT_SPELLINGS = {
    "Gift request ID": ["gift_request_id", "Gift Request ID", "GiftRequestID", " Gift request id "],
    "Redemption URL": ["redemption-url", "Redemption Url"],
    "Send error": ["send error", "SEND_ERROR"],
    "Gift status": ["GiftStatus", "gift status"],
    "Eligibility": ["eligibility "],
    "Skip reason": ["Skip Reason"],
    "Sent at": ["SENT AT", "sent_at"],
}
NEW_RESULT_VALUES = [
    "gr_123",
    "https://gift.example/r/abc?x=1&y=2",
    "-5 is not a name",
    "=cmd|' /C calc'!A0",
    "@SUM(1)",
    "+1",
    "Unknown outcome — check in &Open",
    "a,b;c|d\te",
    'q"q',
    "line\nbreak",
    "",
    "Delivered",
    "2026-11-20 10:00:00 UTC",
    "Zoë 🎁 東京",
    "x" * 3000,
]


def raw_field(value: str, d: str, rng: random.Random) -> str:
    must = any(x in value for x in DELIMITERS) or any(c in value for c in '"\r\n')
    if must or rng.random() < 0.25:
        return '"' + value.replace('"', '""') + '"'
    return value


@dataclass
class OddFile:
    data: bytes
    codec: str
    bom: bytes
    delimiter: str
    header: list[str]  # header cells as values
    rows: list[list[str]]  # data rows as values (not padded)
    results: dict[int, str] = field(default_factory=dict)  # field position -> result column it holds

    def text(self) -> str:
        return decode(self.data, self.codec, self.bom)


def decode(data: bytes, codec: str, bom: bytes) -> str:
    body = data[len(bom) :]
    if codec == "cp1252":
        from lib.csvtext import TextCodec

        return TextCodec("cp1252").decode(body)
    return body.decode(codec)


def odd_file(rng: random.Random) -> OddFile:
    codec, bom = rng.choice(ENCODINGS)
    d = rng.choice(DELIMITERS)
    sep_line = rng.random() < 0.2
    wide = codec != "cp1252"
    pool = USER_VALUES + QUOTED_ONLY + (UNICODE_ONLY if wide else [])
    user = ["First Name", " Last Name ", "Email", "Approved", "Notes", "Phone"]
    rng.shuffle(user)
    if rng.random() < 0.4:
        user.insert(rng.randrange(len(user) + 1), "")  # an unnamed column (it gets values below)
    results: dict[int, str] = {}
    header = list(user)
    for canonical in rng.sample(list(RESULT_SPELLINGS), rng.randint(0, 4)):
        at = rng.randrange(len(header) + 1)
        header.insert(at, rng.choice(RESULT_SPELLINGS[canonical]))
    for j, h in enumerate(header):
        for canonical, spellings in RESULT_SPELLINGS.items():
            if h in spellings:
                results[j] = canonical
    unnamed = [j for j, h in enumerate(header) if h == ""]
    if rng.random() < 0.3:
        header += [""] * rng.randint(1, 2)  # stray delimiters at the end of the header
    email_at = header.index("Email")

    rows = []
    for i in range(rng.randint(1, 12)):
        width = len(header) - (rng.randint(1, max(1, len(header) - email_at - 1)) if rng.random() < 0.15 else 0)
        width = max(width, email_at + 1)
        row = [rng.choice(pool) for _ in range(width)]
        row[email_at] = f"person{i}@example.com"
        for j in unnamed:
            if j < width:
                row[j] = f"u{i}"
        for j in results:
            if j < width:
                row[j] = rng.choice(["", "", "own value", "-3", "=1+1", "'-5"])
        if rng.random() < 0.1:
            row += [""] * rng.randint(1, 2)  # trailing empty extra fields
        rows.append(row)

    eols = [rng.choice(EOLS)] if rng.random() < 0.8 else EOLS
    out: list[str] = []

    def line(cells: list[str]) -> None:
        out.append(d.join(raw_field(c, d, rng) for c in cells) + rng.choice(eols))

    if sep_line:
        out.append(f"sep={d}" + rng.choice(eols))
    if rng.random() < 0.2:
        line(["Q3 gift list"] + ([""] * (len(header) - 1) if rng.random() < 0.5 else []))
        if rng.random() < 0.5:
            out.append(rng.choice(eols))
    line(header)
    for row in rows:
        if rng.random() < 0.2:
            out.append(rng.choice(["", d * (len(header) - 1), "   ", d + " " + d]) + rng.choice(eols))
        line(row)
    if rng.random() < 0.2:
        out.append(rng.choice(["", d * 2]) + rng.choice(eols))
    text = "".join(out)
    if rng.random() < 0.3:
        text = text.rstrip("\r\n")  # no line end after the last line
    if codec == "cp1252":
        from lib.csvtext import TextCodec

        data = TextCodec("cp1252").encode(text)
    else:
        data = bom + text.encode(codec)
    return OddFile(data, codec, bom, d, header, rows, results)


# -- the oracle ---------------------------------------------------------------------------------
def _records_raw(text: str, d: str) -> list[tuple[str, str]]:
    """(record body, line end) pairs by an independent reading: a regex over whole fields."""
    fieldre = f'(?:"(?:[^"]|"")*"|[^"{re.escape(d)}\r\n][^{re.escape(d)}\r\n]*|)'
    rec = re.compile(f"({fieldre}(?:{re.escape(d)}{fieldre})*)(\r\n|\r|\n|\\Z)")
    out, p = [], 0
    while p < len(text):
        m = rec.match(text, p)
        assert m and m.end() > p, f"unreadable at {p}: {text[p : p + 40]!r}"
        out.append((m.group(1), m.group(2)))
        p = m.end()
    return out


def _fields_raw(body: str, d: str) -> list[str]:
    fieldre = f'"(?:[^"]|"")*"|[^{re.escape(d)}]*'
    return [m.group(0) for m in re.finditer(f"(?:^|(?<={re.escape(d)}))(?:{fieldre})", body)]


def _csv_rows(text: str, d: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=d, strict=True))


def check_write_back(
    before: bytes, after: bytes, odd: OddFile, result_at: dict[int, str], written: dict[int, dict[int, str]]
) -> None:
    """`after` is `before` with only result cells changed: the BOM, every byte outside the
    result fields of each record (line ends included), blank and title lines; new result
    columns only after the last header field; the user's cells identical as values (csv
    module) too. `result_at`: field position -> result column (existing and new);
    `written`: data row index -> {position: the value Giftrun wrote}."""
    assert after.startswith(odd.bom)
    d = odd.delimiter
    old_text, new_text = odd.text(), decode(after, odd.codec, odd.bom)
    old, new = _records_raw(old_text, d), _records_raw(new_text, d)
    assert len(old) == len(new), "records were added or removed"
    header_at = next(
        i
        for i, (body, _) in enumerate(old)
        if [_unquote(f).strip() for f in _fields_raw(body, d)] == [h.strip() for h in odd.header]
    )
    width = len(odd.header)
    data_index = -1
    for i, ((ob, oe), (nb, ne)) in enumerate(zip(old, new)):
        assert oe == ne, f"line end of record {i} changed: {oe!r} -> {ne!r}"
        if i < header_at:
            assert ob == nb, f"line {i + 1} above the header changed"
            continue
        of, nf = _fields_raw(ob, d), _fields_raw(nb, d)
        blank = all(not _unquote(f).strip() for f in of)
        if blank and i != header_at:
            assert ob == nb, f"blank record {i} changed: {ob!r} -> {nb!r}"
            continue
        if i != header_at:
            data_index += 1
        assert len(nf) >= len(of), f"record {i} lost fields"
        for j, (a, b) in enumerate(zip(of, nf)):
            if j not in result_at:
                assert a == b, f"record {i} field {j} changed: {a!r} -> {b!r}"
        for j in range(len(of), len(nf)):
            if j not in result_at:
                assert nf[j] == "", f"record {i}: a non-result field {j} was added with {nf[j]!r}"
            if i == header_at:
                assert j >= width, "a new column was put between the user's columns"
    # values, read by Python's csv module
    old_rows, new_rows = _csv_rows(old_text, d), _csv_rows(new_text, d)
    assert len(old_rows) == len(new_rows)
    data_rows = [k for k in range(header_at + 1, len(old_rows)) if any(c.strip() for c in old_rows[k])]
    for n, k in enumerate(data_rows):
        a, b = old_rows[k], new_rows[k]
        for j in range(max(len(a), len(b))):
            va = a[j] if j < len(a) else ""
            vb = b[j] if j < len(b) else ""
            if j in result_at:
                want = written.get(n, {}).get(j)
                if want is not None:
                    cut = next((vb[: -len(e)] for e in ("…", "...") if vb.endswith(e)), None)
                    assert vb == want or (cut is not None and want.startswith(cut)), (n, j, vb, want)
            else:
                assert va == vb, f"row {n} field {j}: {va!r} -> {vb!r}"


def _unquote(raw: str) -> str:
    return raw[1:-1].replace('""', '"') if raw.startswith('"') and len(raw) >= 2 else raw


def as_written(value: str, codec: str) -> str:
    """A result value as Giftrun writes it into a file: neutralised against formulas, with
    what the encoding cannot hold replaced by '?'."""
    from lib.csvtext import TextCodec

    return TextCodec(codec).fit(neutralise(value))


def codec_of(odd: OddFile) -> str:
    """The encoding Giftrun writes new cells in: a file of plain ASCII stays plain ASCII."""
    return "ascii" if odd.codec in ("utf-8", "cp1252") and not odd.bom and odd.data.isascii() else odd.codec


def assert_only_result_fields_changed(old, new) -> None:
    """Two reads of one file (csvio.CsvDocument), before and after a write-back: the lines
    above the header, every non-result field of the header and each data row, line ends,
    the blank rows between people and the end of the file are the same text."""
    from lib.csvrecords import split_fields

    d, before, after = old.delimiter, old.text, new.text
    assert before[: old.header[0]] == after[: new.header[0]], "the lines above the header changed"
    assert len(old.rows) == len(new.rows)
    bounds_old, bounds_new = [old.header, *old.rows], [new.header, *new.rows]
    for (s0, b0, e0), (s1, b1, e1) in zip(bounds_old, bounds_new):
        f0, f1 = split_fields(before[s0:b0], d), split_fields(after[s1:b1], d)
        assert before[b0:e0] == after[b1:e1], "a line end changed"
        assert len(f1) >= len(f0)
        for j, raw in enumerate(f0):
            if j not in old.results_at:
                assert f1[j] == raw, (j, raw, f1[j])
    for (_, _, e0), (s0, _, _), (_, _, e1), (s1, _, _) in zip(bounds_old, bounds_old[1:], bounds_new, bounds_new[1:]):
        assert before[e0:s0] == after[e1:s1], "a blank row between people changed"
    assert before[bounds_old[-1][2] :] == after[bounds_new[-1][2] :], "the end of the file changed"
