"""Control, direction, invisible and line-break characters in list content.

In a name or an email they are a row problem (never sent to &Open: they would reach a
gift card or an inbox as they are); wherever Giftrun echoes list content to a terminal or
into a message they are shown as visible escapes (`\\x1b`, `\\u202e`, `\\u200b`), so a cell cannot
clear a screen, move the cursor or reverse the text around it, and an address that looks
valid is never called invalid without showing why.
"""

from __future__ import annotations

import re

# C0 and C1 controls and DEL (tab and line breaks included), the Unicode line and paragraph
# separators, every bidirectional formatting character (marks, embeddings, overrides,
# isolates), and the characters that take no room: zero-width space, soft hyphen, word
# joiner, the invisible operators and the BOM. The joiners (U+200C/U+200D) are apart:
# names in several scripts (Persian, Hindi) and emoji need them, an email never does.
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_DIRECTION = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_INVISIBLE = "\u00ad\u180e\u200b\u2060-\u2064\ufeff"
_JOINERS = "\u200c\u200d"
CONTROL_RE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_DIRECTION}{_INVISIBLE}]")
_IN_EMAIL_RE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_DIRECTION}{_INVISIBLE}{_JOINERS}]")
_DIRECTION_RE = re.compile(f"[{_DIRECTION}]")
_CONTROL_ONLY_RE = re.compile("[\x00-\x1f\x7f-\x9f]")
_INVISIBLE_RE = re.compile(f"[{_INVISIBLE}{_JOINERS}]")


def escape(ch: str) -> str:
    """One character as Python writes it in a string literal: \\x1b, \\n, \\u202e; an invisible one
    always as \\uXXXX (the soft hyphen as \\u00ad, which is how people look it up)."""
    if _INVISIBLE_RE.fullmatch(ch):
        return f"\\u{ord(ch):04x}"
    return repr(ch)[1:-1] if ch not in "'\"\\" else ch


def visible(text: object, *, joiners: bool = False) -> str:
    """`text` with every control, direction, invisible and line-break character written as its
    escape; `joiners=True` (an email, which never needs them) escapes U+200C/U+200D too."""
    s = str(text)
    pattern = _IN_EMAIL_RE if joiners else CONTROL_RE
    return pattern.sub(lambda m: escape(m.group()), s) if pattern.search(s) else s


def problem(label: str, value: str, *, joiners: bool = True) -> str | None:
    """ "First name contains a control character (\\x1b): remove it" for the first such
    character, or None. `joiners=False` (an email) counts U+200C/U+200D as invisible too."""
    m = (CONTROL_RE if joiners else _IN_EMAIL_RE).search(value)
    if m is None:
        return None
    ch = m.group()
    if ch in _LINE_BREAKS:
        kind = f"a line break ({escape(ch)})"
    elif _DIRECTION_RE.fullmatch(ch):
        kind = f"an invisible character ({escape(ch)}, which changes the text direction)"
    elif _CONTROL_ONLY_RE.fullmatch(ch):
        kind = f"a control character ({escape(ch)})"
    else:
        kind = f"an invisible character ({escape(ch)})"
    return f"{label} contains {kind}: remove it"
