"""The do-not-gift list: people (emails) and whole domains a team never gifts (customers,
a competitor's staff, officials whom policy forbids gifting, colleagues).

One rule decides what an entry blocks, `blocking_keys`: an email entry blocks that person
in the canonical form every other check uses (`models.normalize_email`: case, spaces, a
trailing dot and an international domain in Unicode or `xn--` form do not matter); a domain
entry `@rival.example` blocks every address at that domain AND at any subdomain of it
(`eu.rival.example`, `mail.eu.rival.example`), never a different domain that merely ends
the same way (`notrival.example`). A company's staff often sit on regional subdomains, and
a missed block costs money or breaks policy while a wrong block costs one gift that a
person can send by removing the entry.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from email_validator import EmailNotValidError, validate_email

from .control_chars import problem as control_problem
from .control_chars import visible
from .errors import GiftrunError
from .headers import is_email_header, normalise_header
from .models import canonical_domain, normalize_email, parse_iso

MAX_VALUE = 320  # the longest address mail systems accept (64 + 1 + 255)
MAX_REASON = 500
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


class DoNotGiftError(GiftrunError, ValueError):
    """A value or a file that cannot be an entry; `message` says which and why."""


@dataclass(frozen=True)
class Entry:
    """One entry: `value` is canonical (`ana@example.com` or `@rival.example`), `typed` as
    the person wrote it."""

    value: str
    reason: str = ""
    added_by: str = ""
    added_at: str = ""
    typed: str = ""

    @property
    def is_domain(self) -> bool:
        return self.value.startswith("@")

    @property
    def label(self) -> str:
        """The value, with the Unicode form it was typed in for an international address."""
        typed = (self.typed or "").strip()
        return f"{self.value} ({typed})" if typed and not typed.isascii() else self.value

    def skip_reason(self) -> str:
        """What a blocked row's `Skip reason` says: which entry, why, who added it and when."""
        why = f" ({self.reason})" if self.reason else ""
        when = parse_iso(self.added_at)
        day = when.strftime("%Y-%m-%d") if when else ""
        by = f" — added by {self.added_by}" + (f" on {day}" if day else "") if self.added_by else ""
        return f"On the do-not-gift list: {self.label}{why}{by}"


def canonical(value: str) -> str:
    """The canonical key of an entry, or DoNotGiftError saying what is wrong with it.
    `@Rival.Example`, `rival.example` and `@rival.example.` are the domain `@rival.example`;
    anything with a local part is a person."""
    raw = str(value or "").strip()
    if not raw:
        raise DoNotGiftError("The value is empty: give an email (ana@example.com) or a domain (@example.com).")
    if (bad := control_problem("The value", raw, joiners=False)) is not None:
        raise DoNotGiftError(bad)
    if len(raw) > MAX_VALUE:
        raise DoNotGiftError(
            f"'{visible(raw[:40])}…' is {len(raw)} characters long: an email or a domain is at most {MAX_VALUE}."
        )
    if "@" in raw.lstrip("@").lstrip("*@"):
        return _person(raw)
    return "@" + _domain(raw.lstrip("*").lstrip("@"), raw)


def _person(raw: str) -> str:
    email = normalize_email(raw)
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        raise DoNotGiftError(
            f"'{visible(raw)}' is not a valid email address (for a whole domain write @example.com)."
        ) from None
    return email


def _domain(text: str, raw: str) -> str:
    domain = canonical_domain(text)
    labels = domain.split(".")
    if not domain.isascii() or not all(_LABEL.fullmatch(label) for label in labels) or len(domain) > 253:
        raise DoNotGiftError(f"'{visible(raw)}' is neither an email address nor a domain such as @example.com.")
    if len(labels) < 2:
        raise DoNotGiftError(
            f"'{visible(raw)}' is a top-level domain: it would block every address ending in "
            f".{domain}. Give a company's domain, such as @example.com."
        )
    return domain


def check_reason(reason: str | None) -> str:
    text = str(reason or "").strip()
    if (bad := control_problem("The reason", text)) is not None:
        raise DoNotGiftError(bad)
    if len(text) > MAX_REASON:
        raise DoNotGiftError(f"The reason is {len(text)} characters long; at most {MAX_REASON}.")
    return text


def new_entry(value: str, reason: str | None = "") -> Entry:
    """An entry to add, checked (DoNotGiftError when it cannot be one)."""
    return Entry(canonical(value), check_reason(reason), typed=str(value).strip())


def blocking_keys(email: str | None) -> tuple[str, ...]:
    """The entries that block this address, most specific first: the person, then the
    address's domain and each parent domain (`a@eu.rival.example` → `a@eu.rival.example`,
    `@eu.rival.example`, `@rival.example`, `@example`). With `domain_keys`, the one place that
    decides how entries match."""
    email = normalize_email(email)
    _local, at, domain = email.rpartition("@")
    if not at or not domain:
        return (email,) if email else ()
    return (email, *domain_keys(domain))


@functools.lru_cache(maxsize=65_536)
def domain_keys(domain: str) -> tuple[str, ...]:
    """The domain entries that block a canonical domain: itself and every parent domain."""
    labels = domain.split(".")
    return tuple(f"@{'.'.join(labels[i:])}" for i in range(len(labels)))


def match(email: str | None, entries: Mapping[str, Entry]) -> Entry | None:
    """The entry that blocks `email` (entries keyed by canonical value), or None."""
    if not entries:
        return None
    for key in blocking_keys(email):
        if key in entries:
            return entries[key]
    return None


# -- a CSV of entries ---------------------------------------------------------------------------
# Besides every name of an email column the list itself accepts (headers.is_email_header):
_VALUE_COLUMNS = ("value", "entry", "domain", "donotgift", "address")
_REASON_COLUMNS = ("reason", "why", "note", "notes", "comment")


@dataclass
class Parsed:
    """Entries read from a file (in file order, one per value) and the rows that cannot be
    entries (`row N: why`); an import with problems imports nothing."""

    entries: list[Entry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def refusal(self, name: str) -> str:
        n = len(self.problems)
        return (
            f"Nothing imported: {n} row{'s' if n != 1 else ''} of {name} cannot be "
            f"{'entries' if n != 1 else 'an entry'}. Fix {'them' if n != 1 else 'it'} and import again."
        )


def entries_text(n: int) -> str:
    return f"{n:,} entr{'y' if n == 1 else 'ies'}"


def parse_rows(rows: Sequence[Sequence[str]], header: Sequence[str] | None) -> Parsed:
    """Rows of text into entries. `header` names the columns (a value column is Value,
    Email, Domain…, a reason column Reason, Why, Note…); None means the rows are headerless:
    the value first, the reason second."""
    if header is None:
        value_cols, reason_col = [0], (1 if any(len(r) > 1 for r in rows) else None)
        first_row = 1
    else:
        names = [normalise_header(h) for h in header]
        reason_col = next((i for i, n in enumerate(names) if n in _REASON_COLUMNS), None)
        value_cols = [
            i for i, n in enumerate(names) if i != reason_col and (n in _VALUE_COLUMNS or is_email_header(header[i]))
        ]
        if not value_cols:
            shown = ", ".join(visible(h) for h in header[:10]) or "(none)"
            raise DoNotGiftError(
                f"No column for the entries: name one Email, Domain or Value (the file's columns: {shown})."
            )
        first_row = 2
    out, seen = Parsed(), set()
    for n, row in enumerate(rows, start=first_row):
        reason_text = row[reason_col] if reason_col is not None and reason_col < len(row) else ""
        values = [row[i].strip() for i in value_cols if i < len(row) and row[i].strip()]
        try:
            reason = check_reason(reason_text)
        except DoNotGiftError as exc:
            if values:
                out.problems.append(f"row {n}: {exc}")
            continue
        for value in values:
            try:
                entry = Entry(canonical(value), reason, typed=value)
            except DoNotGiftError as exc:
                out.problems.append(f"row {n}: {exc}")
                continue
            if entry.value not in seen:
                seen.add(entry.value)
                out.entries.append(entry)
    return out


def parse_csv(data: bytes, name: str = "file") -> Parsed:
    """A CSV of entries (a header row naming the columns, or no header: value, reason). A cell
    that Giftrun or a spreadsheet protected against formulas (`'@rival.example`) is read as
    the value it protects: a list exported from Giftrun imports back as it was."""
    from .csvio import CsvError, read_csv_bytes, restore

    try:
        frame = read_csv_bytes(data, name=name)
    except CsvError as exc:
        raise DoNotGiftError(str(exc)) from None
    header = [restore(str(c)) for c in frame.columns]
    rows = [[restore(v) for v in row] for row in frame.astype(str).values.tolist()]
    try:
        canonical(header[0] if header else "")
    except DoNotGiftError:
        return parse_rows(rows, header)
    return parse_rows([header, *rows], None)  # the first row is an entry: the file has no header


# -- the Settings table --------------------------------------------------------------------------
@dataclass
class TableChanges:
    """What the edits to the Settings table mean: entries to add (or whose reason changes),
    values to remove, and rows that cannot be saved."""

    add: list[Entry] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.add or self.remove or self.problems)

    def describe(self) -> str:
        parts = []
        if self.add:
            parts.append(f"{len(self.add)} to add or update")
        if self.remove:
            parts.append(f"{len(self.remove)} to remove")
        return ", ".join(parts) or "nothing to save"


def table_changes(
    entries: Sequence[Entry], edits: Mapping, *, value_col: str = "Value", reason_col: str = "Reason"
) -> TableChanges:
    """The data editor's edit state (`edited_rows`, `added_rows`, `deleted_rows`, rows
    numbered as in `entries`) as changes to the store. A changed value removes the old
    entry and adds the new one."""
    out = TableChanges()
    deleted = {int(i) for i in edits.get("deleted_rows", [])}
    for i in sorted(deleted):
        if 0 <= i < len(entries):
            out.remove.append(entries[i].value)
    for i, change in sorted((int(k), v) for k, v in (edits.get("edited_rows") or {}).items()):
        if i in deleted or not 0 <= i < len(entries):
            continue
        old = entries[i]
        value = change.get(value_col, old.typed or old.value)
        reason = change.get(reason_col, old.reason)
        _add(out, value, reason, f"row {i + 1}", replaces=old)
    for n, row in enumerate(edits.get("added_rows") or [], start=len(entries) + 1):
        value, reason = row.get(value_col), row.get(reason_col)
        if not str(value or "").strip() and not str(reason or "").strip():
            continue  # an empty new row the grid keeps open
        _add(out, value, reason, f"new row {n}")
    return out


def _add(out: TableChanges, value, reason, where: str, replaces: Entry | None = None) -> None:
    try:
        entry = new_entry(str(value or ""), None if reason is None else str(reason))
    except DoNotGiftError as exc:
        out.problems.append(f"{where}: {exc}")
        return
    if replaces is not None:
        if entry.value == replaces.value and entry.reason == replaces.reason:
            return
        if entry.value != replaces.value:
            out.remove.append(replaces.value)
    out.add.append(entry)


def index(entries: Iterable[Entry]) -> dict[str, Entry]:
    return {e.value: e for e in entries}


def match_domain(domain: str, entries: Mapping[str, Entry]) -> Entry | None:
    """The domain entry that blocks every address at this canonical domain, or None."""
    return next((entries[k] for k in domain_keys(domain) if k in entries), None)
