"""One send, prepared the same way by the CLI (`send`) and by Review & send.

Both review the list as it is now (journal, look-back, do-not-gift), tell the user what the
plan is, then build a run whose write-back pace suits where the list lives. Keeping those
steps here means the two can never disagree about who is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from . import eligibility as elig
from .andopen import AndOpenClient
from .guardrails import RunLimits
from .own_columns import Overwrite, OwnColumnsSink, Written, diverted, values_not_giftruns, with_own_columns
from .plan import RowAction, RunPlan
from .review import Review, review
from .sending import DEFAULT_RATE, FLUSH_INTERVAL, MAX_CONCURRENCY, SHEET_FLUSH_INTERVAL, SendRun
from .sources import LoadedList
from .store import NO_LOOKBACK, Store
from .writeback import ResultSink


@dataclass(frozen=True)
class SendChoices:
    """What the user chose for this run."""

    campaign_id: str
    actor: str
    window: elig.Window | None  # None: the look-back is off
    limits: RunLimits = RunLimits()
    rate: float = DEFAULT_RATE
    concurrency: int = MAX_CONCURRENCY
    overwrite_columns: bool = False  # write into the user's own columns that share a result's name


@dataclass
class PreparedSend:
    """A reviewed list and the choices to send it with; `new_run` builds the run itself."""

    loaded: LoadedList
    review: Review
    choices: SendChoices
    overwrites: list[
        Overwrite
    ]  # the user's own values in columns named like results: kept (or written over), said first

    @property
    def plan(self) -> RunPlan:
        return self.review.plan

    def new_run(self, client: AndOpenClient, store: Store, sink: ResultSink | None, *, to_sheet: bool) -> SendRun:
        """The run, not started. Its first write-back carries the review's results (why rows are
        skipped or invalid); a sheet is written less often than a file, to stay inside Google's quota."""
        c = self.choices
        if sink is not None and (own := diverted(self.loaded)):
            sink = OwnColumnsSink(sink, own)
        return SendRun(
            client,
            store,
            self.loaded.list_key,
            self.plan.items,
            c.campaign_id,
            actor=c.actor,
            rate=c.rate,
            concurrency=c.concurrency,
            sink=sink,
            flush_interval=SHEET_FLUSH_INTERVAL if to_sheet else FLUSH_INTERVAL,
            preamble=self.review.results(),
            lookback_days=NO_LOOKBACK if c.window is None else c.window.days,
            limits=c.limits,
        )


def prepare_send(
    loaded: LoadedList,
    store: Store,
    choices: SendChoices,
    *,
    now: datetime | None = None,
    extra_history: pd.DataFrame | None = None,
) -> PreparedSend:
    """Review `loaded` for sending with `choices`; `extra_history` is a shared history sheet's
    rows, which the look-back counts as gifts."""
    kept, rev, found = review_for_send(
        loaded,
        store,
        choices.window,
        overwrite=choices.overwrite_columns,
        now=now,
        extra_history=extra_history,
    )
    return PreparedSend(kept, rev, choices, found)


def review_for_send(
    loaded: LoadedList,
    store: Store,
    window: elig.Window | None,
    *,
    overwrite: bool,
    now: datetime | None = None,
    extra_history: pd.DataFrame | None = None,
) -> tuple[LoadedList, Review, list[Overwrite]]:
    """The review, with the user's own columns that share a result's name kept (lib/own_columns.py):
    the list gets Giftrun's own column for each, unless `overwrite`. Also what those columns hold
    that a run would change, to say before it starts."""
    rev = review(loaded, store, window, now=now, extra_history=extra_history)
    sending = {r.row_key for r in rev.plan.rows if r.action == RowAction.SEND}
    found = values_not_giftruns(loaded, rev.frame, sending, Written.known(store, loaded))
    if found and not overwrite:
        loaded = with_own_columns(loaded, found)
        rev = review(loaded, store, window, now=now, extra_history=extra_history)
    return loaded, rev, found
