"""Control, direction and line-break characters in list content.

In a name or an email they are a row problem (never sent to &Open: they would reach a
gift card or an inbox as they are); wherever Giftrun echoes list content to a terminal or
into a message they are shown as visible escapes (`\\x1b`, `\\u202e`), so a cell cannot clear
a screen, move the cursor or reverse the text around it.
"""

from __future__ import annotations

import re

# C0 and C1 controls and DEL (tab and line breaks included), the Unicode line and paragraph
# separators, and every bidirectional formatting character (marks, embeddings, overrides,
# isolates). Joiners (U+200C/U+200D) are not here: names in several scripts need them.
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_DIRECTION = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
CONTROL_RE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_DIRECTION}]")
_DIRECTION_RE = re.compile(f"[{_DIRECTION}]")


def escape(ch: str) -> str:
    """One character as Python writes it in a string literal: \\x1b, \\n, \\u202e."""
    return repr(ch)[1:-1] if ch not in "'\"\\" else ch


def visible(text: object) -> str:
    """`text` with every control, direction and line-break character written as its escape."""
    s = str(text)
    return CONTROL_RE.sub(lambda m: escape(m.group()), s) if CONTROL_RE.search(s) else s


def problem(label: str, value: str) -> str | None:
    """ "First name contains a control character (\\x1b)" for the first such character, or None."""
    m = CONTROL_RE.search(value)
    if m is None:
        return None
    ch = m.group()
    if ch in _LINE_BREAKS:
        kind = "a line break"
    elif _DIRECTION_RE.fullmatch(ch):
        kind = "a text-direction control character"
    else:
        kind = "a control character"
    return f"{label} contains {kind} ({escape(ch)}): remove it"
