"""From a user's table to checked recipients: column matching, validation, duplicates,
approval.

Pure functions over pandas frames. Frames passed in are never mutated: the app keeps its
source frame stable for st.data_editor and applies edits explicitly (docs/architecture.md).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from numbers import Number

import numpy as np
import pandas as pd

from lib.control_chars import problem as control_problem
from lib.control_chars import visible
from lib.email_check import email_ok
from lib.errors import GiftrunError
from lib.headers import EMAIL_HEADERS, is_email_header, normalise_header
from lib.models import Recipient, normalize_email
from lib.writeback import RESULT_COLUMNS

NAME_MIN, NAME_MAX = 2, 255  # docs/andopen-contract.md field rules
# The words an Approved cell may hold (any case), in the order help texts list them: the one
# definition; every message and help text is built from these (YES_TEXT).
YES_WORDS = ("true", "yes", "y", "1", "x", "✓", "✔", "checked", "on")
NO_WORDS = ("false", "no", "n", "0", "-", "off", "unchecked")  # and a blank cell: a clear no
TRUTHY, FALSY = frozenset(YES_WORDS), frozenset(NO_WORDS)
YES_TEXT = ", ".join(YES_WORDS[:-1]) + f" or {YES_WORDS[-1]}"  # "true, yes, y, 1, x, ✓, ✔, checked or on"
APPROVED_TEXT, NOT_APPROVED_TEXT = "TRUE", "FALSE"  # as Sheets and Excel export checkboxes

# ---------------------------------------------------------------------------- columns

FIELD_LABELS: dict[str, str] = {
    "first_name": "First name",
    "last_name": "Last name",
    "email": "Email",
    "approved": "Approved",
}
REQUIRED_FIELDS: tuple[str, ...] = ("first_name", "last_name", "email")

_EXACT: dict[str, frozenset[str]] = {
    "first_name": frozenset(
        {"firstname", "first", "givenname", "fname", "forename", "recipientfirstname", "contactfirstname"}
    ),
    "last_name": frozenset(
        {"lastname", "last", "surname", "familyname", "lname", "recipientlastname", "contactlastname"}
    ),
    "email": EMAIL_HEADERS,  # "E-mail" normalises to these
    "approved": frozenset({"approved", "approve", "approval", "send", "sendgift", "gift"}),
}


def _tolerant(field: str, key: str) -> bool:
    """Second pass for headers like "Recipient's First Name" or "Primary Email"."""
    if field == "first_name":
        return "first" in key and "name" in key and "last" not in key
    if field == "last_name":
        return ("last" in key and "name" in key and "first" not in key) or "surname" in key or "familyname" in key
    if field == "email":
        return is_email_header(key)
    return "approv" in key


@dataclass(frozen=True)
class ColumnMap:
    """Which of the user's columns holds each field (None: not found)."""

    first_name: str | None
    last_name: str | None
    email: str | None
    approved: str | None

    def missing(self) -> list[str]:
        """Human names of required fields with no column, for "map these columns" prompts."""
        return [FIELD_LABELS[f] for f in REQUIRED_FIELDS if getattr(self, f) is None]


class ColumnMappingError(GiftrunError, ValueError):
    """A column mapping (`--map`, the app's column pickers, a mapping saved with a list)
    that cannot be applied as it stands; `message` says what to change and lists the columns.
    `stale` maps each field to the column it names that the list does not have."""

    def __init__(self, message: str, *, columns: Sequence[str], stale: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.columns = tuple(columns)
        self.stale = dict(stale or {})


def _field_for_override(key: str) -> str:
    wanted = normalise_header(key)
    for field in FIELD_LABELS:
        if normalise_header(field) == wanted:
            return field
    raise ValueError(f"Unknown field in column overrides: {key!r}")


def describe_columns(columns: Sequence[str], limit: int = 40) -> str:
    """ "'First Name', 'Email', …" for messages: quoted, control characters made visible."""
    shown = [f"'{visible(c)}'" for c in columns[:limit]]
    more = f", … and {len(columns) - limit} more" if len(columns) > limit else ""
    return (", ".join(shown) + more) if shown else "(none)"


def _resolve_column(column: str, cols: Sequence[str]) -> str | None:
    """The column an override names: exactly, else the one column equal to it ignoring case
    and surrounding spaces. None when there is no such column or more than one."""
    if column in cols:
        return column
    wanted = column.strip().casefold()
    hits = [c for c in cols if c.strip().casefold() == wanted]
    return hits[0] if len(hits) == 1 else None


def without_stale(
    columns: Sequence[str], overrides: Mapping[str, str] | None, *, absent_ok: Collection[str] = ()
) -> tuple[dict[str, str], str]:
    """A saved mapping made usable on the list as it is now: every field whose column is
    gone becomes "no column" (the user picks it again; never another column silently), and
    a message naming each one ("" when none is gone; fields in `absent_ok` go without one)."""
    cols = [str(c) for c in columns]
    usable, gone = {}, {}
    for key, column in (overrides or {}).items():
        field = _field_for_override(key)
        if column and _resolve_column(column, cols) is None:
            usable[field] = ""
            if field not in absent_ok:
                gone[field] = column
        else:
            usable[field] = column
    if not gone:
        return usable, ""
    what = "; ".join(f"{FIELD_LABELS[f]} was '{visible(c)}'" for f, c in gone.items())
    return usable, (
        f"The list no longer has the column{'s' if len(gone) > 1 else ''} chosen before ({what}). "
        f"Pick {'them' if len(gone) > 1 else 'it'} again from its columns: {describe_columns(cols)}."
    )


def match_columns(
    columns: Sequence[str], overrides: Mapping[str, str] | None = None, *, absent_ok: Collection[str] = ()
) -> ColumnMap:
    """Find the first name, last name, email and approval columns by loose header matching.

    `overrides` (field -> column, from the user's own mapping step) win; field names may be
    "first_name" or "First name". An override of "" means "no column for this field". An
    override naming a column the list does not have, or two fields given one column, raise
    ColumnMappingError: a mistyped or outdated mapping must never send from another column.
    Fields in `absent_ok` (the app's own Approved column, which a sheet may not have) get
    no column instead. A full-name column is not split. Each column serves at most one
    field; our own result columns are never matched.
    """
    cols = [str(c) for c in columns]
    found: dict[str, str | None] = {}
    stale: dict[str, str] = {}
    for key, column in (overrides or {}).items():
        field = _field_for_override(key)
        if column == "" or column is None:
            found[field] = None
        elif (hit := _resolve_column(column, cols)) is not None:
            found[field] = hit
        elif field in absent_ok:
            found[field] = None
        else:
            stale[field] = column
    if stale:
        what = "; ".join(f"{FIELD_LABELS[f]} is mapped to '{visible(c)}'" for f, c in stale.items())
        raise ColumnMappingError(
            f"{what}, which is not a column of this list. Its columns: {describe_columns(cols)}.",
            columns=cols,
            stale=stale,
        )
    by_column: dict[str, list[str]] = {}
    for field, mapped in found.items():
        if mapped is not None:
            by_column.setdefault(mapped, []).append(FIELD_LABELS[field])
    for column, labels in by_column.items():
        if len(labels) > 1:
            raise ColumnMappingError(
                f"{' and '.join(labels)} are both mapped to the column '{visible(column)}': "
                "each field needs its own column.",
                columns=cols,
            )

    used = {c for c in found.values() if c is not None}
    result_keys = {normalise_header(c) for c in RESULT_COLUMNS}
    candidates = [(c, normalise_header(c)) for c in cols if normalise_header(c) not in result_keys]
    for matches in (lambda f, k: k in _EXACT[f], _tolerant):
        for field in FIELD_LABELS:
            if field in found:
                continue
            hit = next((c for c, k in candidates if c not in used and matches(field, k)), None)
            if hit is not None:
                found[field] = hit
                used.add(hit)
    return ColumnMap(**{f: found.get(f) for f in FIELD_LABELS})


# ---------------------------------------------------------------------------- values


def is_approved(value: object) -> bool:
    """Whether a cell means "send": bools, non-zero numbers, or TRUTHY text in any case."""
    if value is None or value is pd.NA:
        return False
    if isinstance(value, str):
        return value.strip().lower() in TRUTHY
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, Number):
        try:
            return bool(not math.isnan(value) and value != 0)  # type: ignore[arg-type]
        except TypeError:
            return bool(value != 0)
    return str(value).strip().lower() in TRUTHY


def is_unclear_approval(value: object) -> bool:
    """A cell that is neither a yes (sent) nor a no or blank (not sent): worth a word, as
    the person may have meant yes ("oui", "approved")."""
    text = "" if value is None or value is pd.NA else str(value).strip()
    return bool(text) and not is_approved(value) and text.lower() not in FALSY


def _shown(value: str, limit: int = 60) -> str:
    value = value if len(value) <= limit else value[: limit - 1] + "…"
    return visible(value)


def _name_problems(label: str, value: str) -> list[str]:
    if not value:
        return [f"{label} is missing"]
    if (bad := control_problem(label, value)) is not None:
        return [bad]
    if len(value) < NAME_MIN:
        return [f"{label} '{value}' is too short (at least {NAME_MIN} characters)"]
    if len(value) > NAME_MAX:
        return [f"{label} '{_shown(value)}' is too long (at most {NAME_MAX} characters)"]
    return []


def validate_row(first: str, last: str, email: str) -> list[str]:
    """User-facing problems that would make &Open refuse the row (empty list: fine)."""
    first, last, email = first.strip(), last.strip(), email.strip()
    problems = _name_problems("First name", first) + _name_problems("Last name", last)
    if not email:
        problems.append("Email is missing")
    elif (bad := control_problem("Email", email, joiners=False)) is not None:
        problems.append(bad)
    elif not email_ok(email):
        problems.append(f"Email '{_shown(email)}' is not a valid address")
    return problems


def duplicate_message(row_number: int) -> str:
    """Problem text for a later row repeating row `row_number`'s email."""
    return f"Same email as row {row_number}, which is sent instead"


# ---------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class RowCheck:
    """One data row, checked. `problems` includes the duplicate message when duplicate_of is set."""

    row_key: str
    row_number: int  # the row's number in the user's spreadsheet (lib/sheet_rows.py): header is row 1
    recipient: Recipient
    approved: bool
    problems: tuple[str, ...]
    duplicate_of: int | None  # row number of the first row with the same normalised email

    @property
    def valid(self) -> bool:
        return not self.problems and self.duplicate_of is None


def _text(df: pd.DataFrame, column: str | None) -> list[str]:
    """A column as stripped text, read once (vectorised); missing values and columns -> ""."""
    if column is None or column not in df.columns:
        return [""] * len(df)
    series = df[column]
    return series.astype(object).where(series.notna(), "").astype(str).str.strip().tolist()


def check_rows(
    df: pd.DataFrame,
    cmap: ColumnMap,
    row_keys: Sequence[str] | None = None,
    row_numbers: Sequence[int] | None = None,
) -> list[RowCheck]:
    """Check every row: validation problems, approval, and duplicates by normalised email.

    The first row with an email is the one that can be sent; later rows with the same
    email (case and surrounding spaces ignored) point at it. `row_keys` default to the
    frame's index labels as text; `row_numbers` (how messages name rows: pass
    `sheet_rows.spreadsheet_rows(loaded)`) to a spreadsheet's with the header on row 1.
    """
    n = len(df)
    keys = [str(k) for k in (df.index if row_keys is None else row_keys)]
    if len(keys) != n:
        raise ValueError(f"row_keys has {len(keys)} entries for {n} rows")
    firsts, lasts, emails = _text(df, cmap.first_name), _text(df, cmap.last_name), _text(df, cmap.email)
    if cmap.approved is not None and cmap.approved in df.columns:
        approvals = [is_approved(v) for v in df[cmap.approved].tolist()]
    else:
        approvals = [False] * n

    first_row_for: dict[str, int] = {}
    checks: list[RowCheck] = []
    numbers = list(row_numbers) if row_numbers is not None and len(row_numbers) == n else range(2, n + 2)
    for i in range(n):
        row_number = numbers[i]
        problems = validate_row(firsts[i], lasts[i], emails[i])
        duplicate_of = None
        key = normalize_email(emails[i])
        if key:
            duplicate_of = first_row_for.setdefault(key, row_number)
            if duplicate_of == row_number:
                duplicate_of = None
            else:
                problems.append(duplicate_message(duplicate_of))
        checks.append(
            RowCheck(
                row_key=keys[i],
                row_number=row_number,
                recipient=Recipient(firsts[i], lasts[i], emails[i]),
                approved=approvals[i],
                problems=tuple(problems),
                duplicate_of=duplicate_of,
            )
        )
    return checks


# ---------------------------------------------------------------------------- edits


def ensure_columns(df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """A new frame with any missing `columns` appended (empty text), in the given order,
    after the existing ones; existing columns are never reordered."""
    out = df.copy()
    for column in columns:
        if column not in out.columns:
            out[column] = pd.Series([""] * len(out), index=out.index, dtype="str")
    return out


def _approval_value(series: pd.Series, approved: bool) -> object:
    """Keep a bool column bool; write text columns as spreadsheet checkboxes export them."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return approved
    return APPROVED_TEXT if approved else NOT_APPROVED_TEXT


def apply_approval_edits(
    df: pd.DataFrame, edited_rows: Mapping[int, Mapping[str, object]], approved_col: str
) -> pd.DataFrame:
    """A new frame with only the approval edits from st.data_editor's `edited_rows` applied.

    Keys are row positions (ints, or their text after a JSON round trip); positions out of
    range and edits to any other column are ignored, so the editor can never change data.
    """
    out = ensure_columns(df, [approved_col])
    series = out[approved_col]
    values = series.tolist()
    changed = False
    for position, edits in edited_rows.items():
        try:
            i = int(position)
        except (TypeError, ValueError):
            continue
        if approved_col in edits and 0 <= i < len(values):
            values[i] = _approval_value(series, is_approved(edits[approved_col]))
            changed = True
    if changed:
        out[approved_col] = _rebuild(values, series)
    return out


def set_all_approved(df: pd.DataFrame, approved_col: str, value: bool) -> pd.DataFrame:
    """A new frame with every row approved (or none), for "approve all" / "clear" buttons."""
    out = ensure_columns(df, [approved_col])
    series = out[approved_col]
    out[approved_col] = _rebuild([_approval_value(series, value)] * len(out), series)
    return out


def _rebuild(values: list[object], like: pd.Series) -> pd.Series:
    """Values as a column of `like`'s dtype, or object when they no longer fit (e.g. 1/0 -> text)."""
    try:
        return pd.Series(values, index=like.index, dtype=like.dtype)
    except (TypeError, ValueError):
        return pd.Series(values, index=like.index, dtype=object)
