"""How CSV text splits into records and fields, exactly as Excel and Python's csv module
(strict) read it, with where each record sits in the text, so a write-back can keep every
byte it does not change; and how the delimiter is told when the file does not say."""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Iterator, Sequence

from .errors import GiftrunError

DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")  # preference order when the evidence ties
SEP_LINE = re.compile(r"sep=([^\r\n\"])(?:\r\n|\r|\n|$)", re.IGNORECASE)  # Excel's hint on the first line


class ParseError(GiftrunError):
    """A record that cannot be read: `line` (1-based), `field` (0-based) and why (`message`,
    also `reason`). csvio turns it into a CsvError naming the line."""

    def __init__(self, line: int, field: int, reason: str) -> None:
        super().__init__(reason)
        self.line, self.field, self.reason = line, field, reason


def lines_in(text: str, start: int, end: int) -> int:
    return text.count("\n", start, end) + text.count("\r", start, end) - text.count("\r\n", start, end)


def records(text: str, d: str, p: int, line: int) -> Iterator[tuple[int, int, int, int, list[str]]]:
    """(start, body end, end, first line, values) of each record from offset `p`, as Excel
    and Python's csv module (strict) read them: `"` opens a quoted field only as its first
    character, `""` inside one is a quote, line ends inside one are part of the value."""
    n = len(text)
    lf = cr = -1  # the next line feed and carriage return at or after p (n: none left)
    while p < n:
        if lf < p:
            lf = text.find("\n", p) % (n + 1)  # -1 (none) becomes n
        if cr < p:
            cr = text.find("\r", p) % (n + 1)
        e = min(lf, cr)
        end = e + 2 if e == cr and e + 1 == lf < n else min(e + 1, n)
        if text.find('"', p, e) < 0:
            yield p, e, end, line, text[p:e].split(d)
            line += 1
        else:
            values, e, end = _quoted_record(text, d, p, line)
            yield p, e, end, line, values
            line += lines_in(text, p, end)
        p = end


def _quoted_record(text: str, d: str, p: int, line: int) -> tuple[list[str], int, int]:
    n = len(text)
    unquoted = re.compile(f"[^{re.escape(d)}\r\n]*")
    values: list[str] = []
    q = p
    while True:
        if q < n and text[q] == '"':
            parts, k = [], q + 1
            while True:
                j = text.find('"', k)
                if j < 0:
                    raise ParseError(line + lines_in(text, p, q), len(values), 'has a quote (") that is never closed')
                if j + 1 < n and text[j + 1] == '"':
                    parts.append(text[k : j + 1])
                    k = j + 2
                    continue
                parts.append(text[k:j])
                break
            values.append("".join(parts))
            q = j + 1
            if q < n and text[q] not in (d, "\r", "\n"):
                raise ParseError(
                    line + lines_in(text, p, q), len(values) - 1, 'has text right after a closing quote (")'
                )
        else:
            m = unquoted.match(text, q)
            assert m is not None  # the pattern matches the empty string
            j = m.end()
            values.append(text[q:j])
            q = j
        if q >= n:
            return values, n, n
        if text[q] == d:
            q += 1
            continue
        return values, q, q + (2 if text.startswith("\r\n", q) else 1)


def split_fields(body: str, d: str) -> list[str]:
    """A record's fields as they are written in the file (quotes included)."""
    if '"' not in body:
        return body.split(d)
    out, q, n = [], 0, len(body)
    while True:
        start = q
        if q < n and body[q] == '"':
            q += 1
            while True:
                j = body.find('"', q)
                if j < 0 or j + 1 >= n or body[j + 1] != '"':
                    q = n if j < 0 else j + 1
                    break
                q = j + 2
        j = body.find(d, q)
        if j < 0:
            out.append(body[start:])
            return out
        out.append(body[start:j])
        q = j + 1


def unquote(raw: str) -> str:
    if raw.startswith('"') and len(raw) >= 2:
        return raw[1:-1].replace('""', '"')
    return raw


def is_blank(values: Sequence[str]) -> bool:
    return not "".join(values).strip()


def filled(values: Sequence[str]) -> int:
    return sum(1 for v in values if v.strip())


# ---------------------------------------------------------------------------- delimiter

_QUOTED_RUN = re.compile(r'"[^"]*"')


def detect_delimiter(text: str) -> str:
    """The delimiter that splits the first records most consistently into two or more fields
    (counted outside quotes), so a title line or a value full of commas does not mislead.
    Ties fall back to the order of DELIMITERS; a single-column file gets ','."""
    counts: dict[str, list[int]] = {d: [] for d in DELIMITERS}
    for record in _first_records(text, 50):
        if not record.strip(' \t\r\n"' + "".join(DELIMITERS)):
            continue
        bare = _QUOTED_RUN.sub("", record)
        for d in DELIMITERS:
            if d in bare:
                counts[d].append(bare.count(d) + 1)
    best, best_score = DELIMITERS[0], (0, 0)
    for d in DELIMITERS:
        if not counts[d]:
            continue
        width, freq = max(Counter(counts[d]).items(), key=lambda kv: (kv[1], kv[0]))
        if (freq, width) > best_score:
            best, best_score = d, (freq, width)
    return best


def _first_records(text: str, limit: int) -> Iterator[str]:
    """Up to `limit` records as text, a quoted line break kept inside its record (a run of
    lines with an odd number of quotes is closed after 20 lines, as a stray quote would)."""
    pending, held, given = "", 0, 0
    for line in io.StringIO(text, newline=""):
        pending += line
        held += 1
        if pending.count('"') % 2 and held < 20:
            continue
        yield pending
        pending, held, given = "", 0, given + 1
        if given >= limit:
            return
    if pending:
        yield pending


def show_delimiter(delimiter: str) -> str:
    return "tab" if delimiter == "\t" else delimiter


_NEEDS_QUOTES = re.compile(r'["\r\n]')
ANY_DELIMITER = re.compile("[" + re.escape("".join(DELIMITERS)) + '"\r\n]')  # what quote_all quotes for


def quote_all(text: str) -> str:
    """Quoted when it holds any delimiter (not only the file's), a quote or a line end: a
    cell written so never sways how the file's delimiter is told next time."""
    if ANY_DELIMITER.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def quote(text: str, delimiter: str) -> str:
    """Minimal quoting, as Excel writes: a delimiter, a quote or a line end inside."""
    if delimiter in text or _NEEDS_QUOTES.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text
