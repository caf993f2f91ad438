"""A list with one full-name column (`Name`, `Full name`, `Contact`) made usable: each name
split into a first and a last name, in two columns of Giftrun's own beside it.

&Open needs both names. The split is shown before use and the user picks where it splits
(at the last space: "Ana María López" → Ana María / López; at the first space: Ana / María
López) or not at all. "López, Ana María" is read as last, first. The user's own column stays
as it is: the two new columns are never written into their file or sheet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import pandas as pd

from .headers import normalise_header

FULL_NAME_HEADERS = frozenset(
    {"name", "fullname", "contact", "contactname", "recipientname", "recipient", "personname", "namefull"}
)


class SplitAt(StrEnum):
    LAST_SPACE = "last"  # Ana María / López (most names: given names first, one surname)
    FIRST_SPACE = "first"  # Ana / María López (two surnames)


@dataclass(frozen=True)
class NameSplit:
    column: str  # the user's full-name column
    at: SplitAt = SplitAt.LAST_SPACE

    @property
    def columns(self) -> tuple[str, str]:
        """Giftrun's two columns, named after the user's so they never collide with one of theirs."""
        return f"First name (from {self.column})", f"Last name (from {self.column})"


def split_name(value: str, at: SplitAt = SplitAt.LAST_SPACE) -> tuple[str, str]:
    """("Ana María", "López") from "Ana María López"; one word is a first name only."""
    text = " ".join(str(value).split())
    if text.count(",") == 1:  # "López, Ana María"
        last, _, first = text.partition(",")
        return first.strip(), last.strip()
    words = text.split(" ")
    if len(words) < 2:
        return text, ""
    if at == SplitAt.FIRST_SPACE:
        return words[0], " ".join(words[1:])
    return " ".join(words[:-1]), words[-1]


def full_name_column(columns: Sequence[str], taken: Sequence[str | None]) -> str | None:
    """The list's one full-name column, when it has no first or last name column (`taken`:
    the columns already matched to other fields)."""
    return next((c for c in columns if normalise_header(c) in FULL_NAME_HEADERS and c not in taken), None)


def with_split(frame: pd.DataFrame, split: NameSplit) -> pd.DataFrame:
    """`frame` with the two name columns right after the full-name column (a new frame)."""
    first_col, last_col = split.columns
    out = frame.drop(columns=[c for c in split.columns if c in frame.columns])
    pairs = [split_name(v, split.at) for v in out[split.column].astype(object).where(out[split.column].notna(), "")]
    at = out.columns.get_loc(split.column) + 1
    out.insert(at, first_col, pd.array([p[0] for p in pairs], dtype=frame[split.column].dtype))
    out.insert(at + 1, last_col, pd.array([p[1] for p in pairs], dtype=frame[split.column].dtype))
    return out


def examples(frame: pd.DataFrame, split: NameSplit, n: int = 3) -> list[str]:
    """ "Ana María López → Ana María / López" for the first `n` names, to show before use."""
    names = [str(v) for v in frame[split.column].tolist() if str(v).strip()][:n]
    return [f"{name} → {' / '.join(part or '(none)' for part in split_name(name, split.at))}" for name in names]
