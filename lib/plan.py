"""Which rows a run sends, and why every other row does not: one pure function.

The review page's summary, the Send button and the CLI all use `plan_rows`, so what the
user is shown is exactly what is sent.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import pandas as pd

from .journal_results import result_for_entry
from .models import Recipient, SendState, normalize_email
from .recipients import RowCheck, duplicate_message
from .store import JournalEntry
from .store.records import unknown_elsewhere_reason
from .writeback import ELIGIBILITY, SEND_ERROR, SKIP_REASON, RowResult, result_columns


@dataclass(frozen=True)
class SendItem:
    """One approved row the run sends: what the plan hands the run engine."""

    row_key: str
    recipient: Recipient


class RowAction(enum.StrEnum):
    SEND = "send"
    NOT_APPROVED = "not approved"
    INVALID = "invalid"
    DUPLICATE = "duplicate"
    SKIP = "skip"  # gifted inside the look-back window
    DO_NOT_GIFT = "do not gift"  # on the do-not-gift list: no override sends it
    ALREADY_SENT = "already sent"
    UNKNOWN = "unknown outcome"
    BLOCKED = "blocked"  # an earlier row with this email, or another list's send to them, is unknown: check &Open


@dataclass(frozen=True)
class Eligibility:
    eligible: bool
    reason: str = ""
    do_not_gift: bool = False  # skipped because of the do-not-gift list, not the look-back


@dataclass(frozen=True)
class RowPlan:
    row_key: str
    row_number: int
    action: RowAction
    recipient: Recipient
    message: str = ""
    journal: JournalEntry | None = None

    def result(self) -> RowResult | None:
        """This row's result columns before the run (see `RunPlan.results`), or None."""
        values = self.result_values()
        return None if values is None else RowResult(self.row_key, self.recipient.email, dict(values))

    def result_values(self) -> Mapping[str, str] | None:
        """`result`'s values, read-only (shared between rows: a row to send has the same ones)."""
        j = self.journal
        if (
            j is not None
            and j.list_key
            and (
                self.action in (RowAction.ALREADY_SENT, RowAction.UNKNOWN)
                or (self.action == RowAction.SEND and j.state in (SendState.REJECTED, SendState.FAILED))
            )
        ):
            return result_for_entry(self.row_key, j).values  # incl. &Open's reason for a rejection
        if self.action in (RowAction.INVALID, RowAction.DUPLICATE, RowAction.BLOCKED):
            return {SEND_ERROR: self.message}
        if self.action == RowAction.SEND and j is None:
            return _NO_ERROR
        return None


_NO_ERROR: Mapping[str, str] = MappingProxyType({SEND_ERROR: ""})


@dataclass(frozen=True)
class RunPlan:
    rows: tuple[RowPlan, ...]

    @property
    def items(self) -> list[SendItem]:
        return [SendItem(r.row_key, r.recipient) for r in self.rows if r.action == RowAction.SEND]

    def count(self, action: RowAction) -> int:
        return sum(1 for r in self.rows if r.action == action)

    def counts(self) -> dict[str, int]:
        return {a.value: self.count(a) for a in RowAction}

    def results(self) -> list[RowResult]:
        """Result columns for rows this run will not send: why not, or what the journal holds."""
        return [result for r in self.rows if (result := r.result()) is not None]


def plan_rows(
    checks: Sequence[RowCheck],
    journal: Mapping[str, JournalEntry],
    eligibility: Mapping[str, Eligibility] | None = None,
    gift_ids: Mapping[str, str] | None = None,
    held_elsewhere: Mapping[str, JournalEntry] | None = None,
) -> RunPlan:
    """Decide each row. Precedence: what the journal holds, a gift id already on the row
    (sent by an earlier run, another store or another tool: never sent again), then
    approval, validation, a send from another list whose outcome is unknown (`held_elsewhere`:
    held whatever the look-back), duplicates among rows to send, the do-not-gift list, the
    look-back window."""
    emails = [normalize_email(c.recipient.email) for c in checks]  # once: every step below compares them
    journal = _with_row_gifts(checks, emails, journal, gift_ids or {})
    owners = _journal_owners(checks, emails, journal)
    first_to_send: dict[str, int] = {}
    plans = []
    for c, email in zip(checks, emails):
        entry = journal.get(email) if email else None
        owner = owners.get(email)
        if gift_ids and (gift_ids.get(c.row_key) or "").strip() and not (held_by(entry) and owner == c.row_key):
            plans.append(
                RowPlan(
                    c.row_key,
                    c.row_number,
                    RowAction.ALREADY_SENT,
                    c.recipient,
                    "This row already carries a Gift request ID: clear it to send again",
                )
            )
            continue
        validation = _validation(c) if c.problems else []
        held = held_by(entry)
        if held and owner == c.row_key:
            assert entry is not None  # held_by(None) is False
            action = RowAction.ALREADY_SENT if entry.state == SendState.SENT else RowAction.UNKNOWN
            plans.append(RowPlan(c.row_key, c.row_number, action, c.recipient, "", entry))
            continue
        if not c.approved:
            plans.append(RowPlan(c.row_key, c.row_number, RowAction.NOT_APPROVED, c.recipient, "; ".join(validation)))
            continue
        if validation:
            plans.append(RowPlan(c.row_key, c.row_number, RowAction.INVALID, c.recipient, "; ".join(validation)))
            continue
        if held:
            assert entry is not None
            owner_no = next((x.row_number for x in checks if x.row_key == owner), None)
            where = f"row {owner_no}" if owner_no else "an earlier row of this list"
            if entry.state == SendState.SENT:
                msg = f"Same email as {where}, which was already sent"
                plans.append(RowPlan(c.row_key, c.row_number, RowAction.DUPLICATE, c.recipient, msg))
            else:
                msg = f"Same email as {where}, whose send has an unknown outcome — check in &Open first"
                plans.append(RowPlan(c.row_key, c.row_number, RowAction.BLOCKED, c.recipient, msg))
            continue
        if (other := (held_elsewhere or {}).get(email)) is not None:
            reason = unknown_elsewhere_reason(other)
            plans.append(RowPlan(c.row_key, c.row_number, RowAction.BLOCKED, c.recipient, reason, other))
            continue
        if email in first_to_send:
            plans.append(
                RowPlan(
                    c.row_key, c.row_number, RowAction.DUPLICATE, c.recipient, duplicate_message(first_to_send[email])
                )
            )
            continue
        verdict = (eligibility or {}).get(c.row_key)
        if verdict is not None and not verdict.eligible:
            action = RowAction.DO_NOT_GIFT if verdict.do_not_gift else RowAction.SKIP
            plans.append(RowPlan(c.row_key, c.row_number, action, c.recipient, verdict.reason))
            continue
        first_to_send[email] = c.row_number
        plans.append(RowPlan(c.row_key, c.row_number, RowAction.SEND, c.recipient, "", entry))
    return RunPlan(tuple(plans))


def _validation(c: RowCheck) -> list[str]:
    """The row's own problems: a duplicate among the rows is the plan's to decide (it depends on approvals)."""
    return [p for p in c.problems if c.duplicate_of is None or p != duplicate_message(c.duplicate_of)]


def held_by(entry: JournalEntry | None) -> bool:
    """The journal says this person was (or may have been) gifted from this list."""
    return entry is not None and entry.state in (SendState.SENT, SendState.UNKNOWN, SendState.ATTEMPTING)


def _with_row_gifts(
    checks: Sequence[RowCheck],
    emails: Sequence[str],
    journal: Mapping[str, JournalEntry],
    gift_ids: Mapping[str, str],
) -> Mapping[str, JournalEntry]:
    """A row carrying a gift id counts as this list's send of that email, even when this
    store never saw it (a fresh CI runner, a renamed file, a copied sheet)."""
    extra = {}
    for c, email in zip(checks, emails) if gift_ids else ():
        gid = (gift_ids.get(c.row_key) or "").strip()
        if gid and email and not held_by(journal.get(email)) and email not in extra:
            extra[email] = JournalEntry(
                list_key="",
                email=email,
                state=SendState.SENT,
                run_id=None,
                row_key=c.row_key,
                gift_request_id=gid,
                redemption_url=None,
                error=None,
                request_id=None,
                attempted_at=None,
                finished_at=None,
            )
    return {**journal, **extra} if extra else journal


def _journal_owners(
    checks: Sequence[RowCheck], emails: Sequence[str], journal: Mapping[str, JournalEntry]
) -> dict[str, str]:
    """email → the row that a journal entry belongs to: the row it was sent from when that
    row still has this email, else the first row with the email."""
    owners: dict[str, str] = {}
    if not journal:
        return owners
    by_key = {c.row_key: email for c, email in zip(checks, emails)}
    for c, email in zip(checks, emails):
        entry = journal.get(email) if email else None
        if entry is None or email in owners:
            continue
        owners[email] = entry.row_key if entry.row_key and by_key.get(entry.row_key) == email else c.row_key
    return owners


def apply_results(df: pd.DataFrame, results: Sequence[RowResult]) -> pd.DataFrame:
    """A new frame with result values written onto the rows whose index is the row key,
    into the user's own result column where the list has one (`writeback.result_columns`);
    result columns missing from the frame are added after the user's own."""
    out = df.copy()
    own = result_columns(out.columns)
    by_col: dict[str, dict[str, str]] = {}
    for r in results:
        for col, value in r.values.items():
            by_col.setdefault(own.get(col, col), {})[r.row_key] = value
    keys = pd.Series(out.index.astype(str), index=out.index)
    for col, mapping in by_col.items():
        current = out[col] if col in out.columns else pd.Series("", index=out.index, dtype=object)
        update = keys.map(mapping)
        out[col] = update.where(update.notna(), current).astype(object)
    return out


ELIGIBILITY_RESULTS = (ELIGIBILITY, SKIP_REASON)  # the columns `eligibility_results` writes


def eligibility_results(checks: Sequence[RowCheck], verdicts: Mapping[str, Eligibility]) -> list[RowResult]:
    """`Eligibility` and `Skip reason` per row; blank for rows that cannot be sent anyway
    (no valid email, missing names), where a verdict would mislead."""
    out = []
    blank = {ELIGIBILITY: "", SKIP_REASON: ""}
    said: dict[tuple[bool, str], dict[str, str]] = {}  # one mapping per verdict: 20,000 rows share a handful
    for c in checks:
        v = verdicts.get(c.row_key)
        if v is None:
            continue
        if c.problems and _validation(c):
            values = blank
        elif (values := said.get((v.eligible, v.reason))) is None:  # type: ignore[assignment]
            values = said[(v.eligible, v.reason)] = {
                ELIGIBILITY: "eligible" if v.eligible else "skip",
                SKIP_REASON: v.reason,
            }
        out.append(RowResult(c.row_key, c.recipient.email, values))
    return out
