"""Row identity: which person a row of a list is, whatever its position, for every write-back
that finds rows again after people edited the list (a Google Sheet, a CSV file).

A row's key is its normalised email plus its occurrence number among rows with that email, in
list order: ``alice@x.com#1``. A row without an email is keyed by its normalised first and
last name, ``#name:alice|smith#1``; a row with neither is ``#blank#N``. Duplicate emails share
one identity (the send journal is keyed by email too)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import pandas as pd

from .models import normalize_email


def cell_text(value: Any) -> str:
    """A cell as text: None and NaN are empty."""
    if value is None:
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def _name_part(value: Any) -> str:
    return " ".join(cell_text(value).split()).casefold()


def identity(email: Any, first: Any = "", last: Any = "") -> str:
    """A row's identity before numbering (see the module docstring)."""
    e = normalize_email(cell_text(email))
    if e:
        return e
    f, la = _name_part(first), _name_part(last)
    if f or la:
        return f"#name:{f}|{la}"
    return "#blank"


def identity_keys(triples: Iterable[tuple[Any, Any, Any]]) -> list[str]:
    """Number identities by occurrence, in order: ['a@x.com#1', 'a@x.com#2', …]."""
    seen: dict[str, int] = defaultdict(int)
    out = []
    for email, first, last in triples:
        ident = identity(email, first, last)
        seen[ident] += 1
        out.append(f"{ident}#{seen[ident]}")
    return out
