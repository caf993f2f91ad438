"""What counts as a number in a setting: plain decimal digits, nothing else.

Python's own `int()` and `float()` take far more (`1_0`, `+5`, ` 5`, `٥`, `1e3`, `inf`), and a
limit read more generously than the person wrote it fails open: a guardrail set to `1_0`
must not quietly become 10, a blank one must not become "no limit". A TOML number in the
secrets file is a number already; TOML's `true` is not one.
"""

from __future__ import annotations

import math
import re

_WHOLE = re.compile(r"[0-9]{1,15}")  # [0-9], not \d: \d takes every script's digits
_DECIMAL = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,15})?")

PLAIN_DECIMAL = "plain digits, such as 20 or 2.5 (no spaces, signs, separators or exponents)"


def plain_whole(value: object) -> int | None:
    """The whole number `value` spells in plain digits (or a TOML integer), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _WHOLE.fullmatch(value):
        return int(value)
    return None


def plain_decimal(value: object) -> float | None:
    """The finite number `value` spells in plain digits with an optional decimal point (or a
    TOML number), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return float(value)
    return None


def shown_value(value: object) -> str:
    """How a refused value is quoted in a message: `is empty`, or `is ' 5'` (escaped, cut short)."""
    from .control_chars import visible

    if isinstance(value, str) and not value.strip():
        return "is empty" if not value else f"is blank ('{visible(value[:20])}')"
    return f"is '{visible(str(value)[:40])}'"
