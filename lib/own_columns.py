"""Columns Giftrun did not write are never overwritten (issue 20, item 2).

A list may bring a column of its own that shares a name with one of Giftrun's result columns
(a directory export's `Eligibility`, a CRM's `Gift status`). Before a run writes anything,
every cell of such a column that the run would change is looked at; when one holds a value
Giftrun did not write, the column stays the user's and Giftrun writes that result to a column
of its own, `Eligibility (Giftrun)`, added after the user's columns and found again by its
name next time (`writeback.result_positions` prefers it). Writing over the user's column
takes an explicit choice (`--overwrite-columns`, a checkbox on Review & send).

What counts as a value Giftrun wrote (the rule the README and docs/architecture.md state):
an empty cell; the value this run writes there anyway; `eligible`/`skip` in Eligibility; a
status Giftrun shows (`Submitted` … `Cancelled`) in Gift status; a time as Giftrun writes it
(`2026-05-01 12:34:56 UTC`) in Sent at; a gift id or redemption link the store holds (a journal
line or a gift's status) in Gift request ID and Redemption URL; and, in Send error and Skip
reason, whose wording has no fixed form, any text in a list that has every result column (a
list Giftrun has written: it adds them all at its first write). Anything else is the user's.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

import pandas as pd

from .errors import GiftrunError
from .models import STATUS_RANK
from .recipients import ensure_columns
from .sheet_rows import spreadsheet_rows
from .sources import LoadedList
from .store import Store
from .writeback import (
    ELIGIBILITY,
    GIFT_REQUEST_ID,
    GIFT_STATUS,
    INVITATION_COLUMNS,
    INVITATION_ERROR,
    INVITATION_SENT_AT,
    REDEMPTION_URL,
    RESULT_COLUMNS,
    SEND_ERROR,
    SENT_AT,
    SKIP_REASON,
    ResultSink,
    RowResult,
    is_own_column,
    own_column,
    result_columns,
)

# What a send writes onto the row it sends (the rest is written before sending).
SEND_WRITES = (GIFT_REQUEST_ID, REDEMPTION_URL, SEND_ERROR, GIFT_STATUS, SENT_AT)

_GIFTRUN_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})? UTC")
_STATUSES = frozenset(str(s).casefold() for s in STATUS_RANK)


@dataclass(frozen=True)
class Overwrite:
    """Values of the user's own in a column Giftrun writes a result to, that a run would change."""

    canonical: str  # the result (`Eligibility`)
    column: str  # the user's header
    rows: tuple[int, ...]  # the rows' numbers as the spreadsheet shows them (lib/sheet_rows.py)

    @property
    def own(self) -> str:
        """Where Giftrun writes the result instead, unless told to write over the user's column."""
        return own_column(self.canonical)


@dataclass(frozen=True)
class Written:
    """What the store knows Giftrun wrote, and whether the list is one Giftrun has written."""

    gift_ids: frozenset[str]
    urls: frozenset[str]
    giftruns_list: bool

    @classmethod
    def known(cls, store: Store, loaded: LoadedList) -> Written:
        entries = store.journal(loaded.list_key).values()
        gifts = store.gifts()
        ids = {e.gift_request_id for e in entries} | {g.gift_request_id for g in gifts}
        urls = {e.redemption_url for e in entries} | {g.redemption_url for g in gifts}
        present = result_columns(loaded.user_columns)
        every = all(c in present for c in RESULT_COLUMNS)  # (the invitation columns come later, if ever)
        return cls(frozenset(i for i in ids if i), frozenset(u for u in urls if u), every)

    def wrote(self, canonical: str, value: str) -> bool:
        """Whether `value` in the result column `canonical` can be Giftrun's (module docstring)."""
        text = value.strip()
        if canonical == ELIGIBILITY:
            return text in ("eligible", "skip")
        if canonical == GIFT_STATUS:
            return text.casefold() in _STATUSES
        if canonical == SENT_AT:
            return _GIFTRUN_TIME.fullmatch(text) is not None
        if canonical == GIFT_REQUEST_ID:
            return text in self.gift_ids
        if canonical == REDEMPTION_URL:
            return text in self.urls
        return canonical in (SEND_ERROR, SKIP_REASON) and self.giftruns_list


def values_not_giftruns(
    loaded: LoadedList, after: pd.DataFrame, sending: Collection[str], written: Written
) -> list[Overwrite]:
    """The user's columns sharing a result's name in which a write would change a value Giftrun
    did not write: `after` is the list as the write leaves it (same row keys), `sending` the
    rows a run sends (which get the send's columns whatever they hold now)."""
    out = []
    keys = [str(k) for k in loaded.frame.index]
    present = result_columns(loaded.user_columns)
    for canonical, column in sorted(present.items(), key=lambda kv: loaded.user_columns.index(kv[1])):
        if is_own_column(column):
            continue  # Giftrun's own column: every value in it is Giftrun's
        before, now = _texts(loaded.frame[column]), _texts(after[column])
        rows = tuple(
            n
            for n, key, b, a in zip(spreadsheet_rows(loaded), keys, before, now)
            if b.strip()
            and (b != a or (canonical in SEND_WRITES and key in sending))
            and not written.wrote(canonical, b)
        )
        if rows:
            out.append(Overwrite(canonical, column, rows))
    return out


class ForeignInvitationColumn(GiftrunError):
    """The list has its own `Invitation sent at` or `Invitation error` holding values Giftrun did
    not write: no invitation is emailed until the user renames the column or clears them (a
    column of Giftrun's own beside it, as for the gift results, is not offered for these two)."""


def refuse_foreign_invitation_columns(loaded: LoadedList, store: Store, *, limit: int = 8) -> None:
    """Before any invitation: raise ForeignInvitationColumn naming each of the user's columns
    called like an invitation result that holds a value Giftrun did not write — a time as
    Giftrun writes it in `Invitation sent at`; in `Invitation error`, any text in a list Giftrun
    has written invitations to (it adds both columns, after every gift result column)."""
    present = result_columns(loaded.user_columns)
    ours = Written.known(store, loaded).giftruns_list and INVITATION_SENT_AT in present
    found = []
    for canonical in INVITATION_COLUMNS:
        if (column := present.get(canonical)) is None or is_own_column(column):
            continue
        rows = [
            n
            for n, text in zip(spreadsheet_rows(loaded), _texts(loaded.frame[column]))
            if text.strip()
            and not (canonical == INVITATION_SENT_AT and _GIFTRUN_TIME.fullmatch(text.strip()))
            and not (canonical == INVITATION_ERROR and ours)
        ]
        if rows:
            shown = ", ".join(str(n) for n in rows[:limit]) + (", …" if len(rows) > limit else "")
            found.append(f"'{column}' ({len(rows):,} row{'s' if len(rows) != 1 else ''}: {shown})")
    if found:
        raise ForeignInvitationColumn(
            f"Your list has values of its own in {' and '.join(found)}, where Giftrun writes each invitation's "
            "result; it never writes over them. Rename that column (or clear those cells), then run again. "
            "Nothing was emailed."
        )


def with_own_columns(loaded: LoadedList, found: Sequence[Overwrite]) -> LoadedList:
    """The list with Giftrun's own column for each result in `found`, empty, after its other
    columns: every write of that result goes there from now on (`writeback.result_positions`)."""
    return replace(loaded, frame=ensure_columns(loaded.frame, [o.own for o in found]))


def diverted(loaded: LoadedList) -> frozenset[str]:
    """The results this list keeps in Giftrun's own columns."""
    return frozenset(c for c, column in result_columns(loaded.frame.columns).items() if is_own_column(column))


class OwnColumnsSink:
    """A sink that hands results to `inner` with the diverted results renamed to Giftrun's own
    columns, so a destination that does not have them yet (a file, a sheet) adds them rather
    than writing into the user's column of the same name."""

    def __init__(self, inner: ResultSink, results: Collection[str]) -> None:
        self.inner, self.results = inner, frozenset(results)

    def write(self, results: Sequence[RowResult]) -> object:
        return self.inner.write(
            [
                replace(r, values={own_column(k) if k in self.results else k: v for k, v in r.values.items()})
                for r in results
            ]
        )


def describe_overwrites(found: Sequence[Overwrite], *, overwrite: bool, how: str, limit: int = 8) -> str:
    """One message, said before a run: which of the user's columns hold values of their own,
    and where Giftrun writes instead (or that it writes over them, as chosen)."""

    def rows(o: Overwrite) -> str:
        shown = ", ".join(str(n) for n in o.rows[:limit]) + (", …" if len(o.rows) > limit else "")
        return f"{len(o.rows):,} row{'s' if len(o.rows) != 1 else ''}: {shown}"

    columns = "; ".join(f"'{o.column}' ({rows(o)})" for o in found)
    if overwrite:
        return (
            f"Your list has values of its own in columns named like Giftrun's result columns — {columns}. "
            "Giftrun will write over them, as you chose."
        )
    own = ", ".join(f"'{o.own}'" for o in found)
    return (
        f"Your list has values of its own in columns named like Giftrun's result columns — {columns}. "
        f"Giftrun keeps them and writes its results to {own} instead. {how}"
    )


def _texts(series: pd.Series) -> list[str]:
    return series.astype(object).where(series.notna(), "").astype(str).tolist()
