"""How Review & send shows each row: the one bucket it counts in (so the counts always add up
to the rows), what happens to it in one tense (what will happen in the future, what did in the
past), and its problem with what to do about it. Before a run from the plan; during one from
what the run has made of its rows, so metrics, grid and progress tell one truth.

Pure, so the page, its live run view and the tests agree.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .plain_words import count
from .plan import RowAction, RowPlan
from .run_progress import RowOutcome


class Bucket(enum.StrEnum):
    TO_SEND = "to send"
    SENDING = "sending"  # only while a run goes
    SENT = "sent"
    UNKNOWN = "unknown outcome"
    PROBLEMS = "problems"
    SKIPPED = "skipped"
    NOT_APPROVED = "not approved"


METRIC_LABELS = {
    Bucket.TO_SEND: "To send",
    Bucket.SENDING: "Sending",
    Bucket.SENT: "Sent",
    Bucket.UNKNOWN: "Unknown outcome",
    Bucket.PROBLEMS: "Problems",
    Bucket.SKIPPED: "Skipped",
    Bucket.NOT_APPROVED: "Not approved",
}
METRIC_HELP = {
    Bucket.TO_SEND: "Approved rows that will be sent when you press Send",
    Bucket.SENDING: "Requests on their way to &Open now",
    Bucket.SENT: "Rows with a gift: sent by this run or an earlier one",
    Bucket.UNKNOWN: "The request went out but its answer was lost: check these people in &Open",
    Bucket.PROBLEMS: "Rows with something to fix (approved or not); they are never sent as they are",
    Bucket.SKIPPED: "Gifted within the look-back window, or on the do-not-gift list",
    Bucket.NOT_APPROVED: "Rows without a problem that are not ticked Approved",
}
ALL = "all"
FILTERS: tuple[str, ...] = (
    ALL,
    Bucket.TO_SEND,
    Bucket.PROBLEMS,
    Bucket.UNKNOWN,
    Bucket.SENT,
    Bucket.SKIPPED,
    Bucket.NOT_APPROVED,
)


@dataclass(frozen=True)
class RowView:
    bucket: Bucket
    happens: str  # the grid's "What happens"
    problem: str = ""  # the grid's "Problem": what is wrong and what to do


def row_view(action: RowAction, message: str = "") -> RowView:
    """A row as the plan decided it, before (or after) a run."""
    if action == RowAction.SEND:
        return RowView(Bucket.TO_SEND, "will be sent")
    if action == RowAction.NOT_APPROVED:
        if message:
            return RowView(Bucket.PROBLEMS, "will not be sent: not approved", f"{message} → fix it in your list")
        return RowView(Bucket.NOT_APPROVED, "will not be sent: not approved")
    if action == RowAction.INVALID:
        return RowView(Bucket.PROBLEMS, "will not be sent: fix the row", f"{message} → fix it in your list")
    if action == RowAction.DUPLICATE:
        return RowView(
            Bucket.PROBLEMS, "will not be sent: duplicate", f"{message} → remove this row or change its email"
        )
    if action == RowAction.SKIP:
        return RowView(
            Bucket.SKIPPED,
            "will be skipped: gifted recently",
            f"{message} → shorten the look-back, or send anyway below",
        )
    if action == RowAction.DO_NOT_GIFT:
        return RowView(Bucket.SKIPPED, "will be skipped: do-not-gift list", f"{message} → see Settings")
    if action == RowAction.ALREADY_SENT:
        return RowView(Bucket.SENT, "sent", message)
    if action == RowAction.BLOCKED:
        return RowView(Bucket.UNKNOWN, "held: check &Open", message)
    return RowView(  # RowAction.UNKNOWN
        Bucket.UNKNOWN,
        "unknown outcome: check &Open",
        "The request went out but its answer was lost → look this person up in &Open; clear the row "
        "below only if there is no gift",
    )


LIVE = {
    RowOutcome.SENDING: RowView(Bucket.SENDING, "sending"),
    RowOutcome.SENT: RowView(Bucket.SENT, "sent"),
    RowOutcome.REJECTED: RowView(
        Bucket.PROBLEMS, "not sent: rejected by &Open", "&Open rejected it → see its Send error"
    ),
    RowOutcome.UNKNOWN: RowView(
        Bucket.UNKNOWN, "unknown outcome: check &Open", "The answer was lost → look this person up in &Open"
    ),
    RowOutcome.FAILED: RowView(Bucket.TO_SEND, "not sent: safe to send again"),
    RowOutcome.SKIPPED: RowView(Bucket.SKIPPED, "skipped: just gifted from another list"),
    RowOutcome.LIMITED: RowView(Bucket.TO_SEND, "not sent: a limit was reached"),
}
QUEUED = RowView(Bucket.TO_SEND, "will be sent")


def views(
    rows: Sequence[RowPlan],
    run_rows: Iterable[str] = (),
    outcomes: Mapping[str, RowOutcome] | None = None,
    *,
    running: bool = False,
) -> dict[str, RowView]:
    """Row key -> how it shows. `run_rows`: the rows a run set out to send; while `running`
    those it has not reached yet show as still to be sent (never as unknown: a row in flight
    says "sending"), and every row it reached shows what became of it."""
    said: dict[tuple[RowAction, str], RowView] = {}  # one view per action and message: rows share them
    out = {}
    for r in rows:
        if (view := said.get((r.action, r.message))) is None:
            view = said[(r.action, r.message)] = row_view(r.action, r.message)
        out[r.row_key] = view
    outcomes = outcomes or {}
    for key in run_rows:
        if key in outcomes:
            out[key] = LIVE[outcomes[key]]
        elif running:
            out[key] = QUEUED
    return out


def bucket_counts(shown: Iterable[RowView]) -> dict[Bucket, int]:
    """How many rows in each bucket, every bucket present: they add up to the rows."""
    counts = dict.fromkeys(Bucket, 0)
    for v in shown:
        counts[v.bucket] += 1
    return counts


def describe_counts(counts: Mapping[Bucket, int]) -> str:
    """`25 rows: 20 to send, 5 with a problem` — only the buckets that hold rows, adding up to the total."""
    total = sum(counts.values())
    parts = [
        count(n, "with a problem", "with a problem") if b == Bucket.PROBLEMS else f"{n:,} {b.value}"
        for b, n in counts.items()
        if n
    ]
    return f"{count(total, 'row')}: " + ", ".join(parts) if parts else "No rows."


def filter_label(option: str, counts: Mapping[Bucket, int]) -> str:
    """`Problems (5)`, `All (25)` for the view filter."""
    n = sum(counts.values()) if option == ALL else counts.get(Bucket(option), 0)
    return f"{option[:1].upper()}{option[1:]} ({n:,})"


def in_filter(option: str, view: RowView) -> bool:
    if option == ALL:
        return True
    return view.bucket == option or (option == Bucket.TO_SEND and view.bucket == Bucket.SENDING)


def edits_on_list(edited_rows: Mapping, positions: Sequence[int] | None) -> dict[int, Mapping]:
    """st.data_editor's `edited_rows` of a filtered grid (keyed by position in what it shows)
    as positions in the whole list. `positions[i]` is the list position of the grid's row i
    (None: the grid shows every row); an edit outside the grid is dropped."""
    out: dict[int, Mapping] = {}
    for shown_at, edit in edited_rows.items():
        try:
            i = int(shown_at)
        except (TypeError, ValueError):
            continue
        if positions is None:
            out[i] = edit
        elif 0 <= i < len(positions):
            out[positions[i]] = edit
    return out
