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
from .plan import RunPlan
from .review import Overwrite, Review, own_values_replaced, review
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


@dataclass
class PreparedSend:
    """A reviewed list and the choices to send it with; `new_run` builds the run itself."""

    loaded: LoadedList
    review: Review
    choices: SendChoices
    overwrites: list[Overwrite]  # the user's own values in result columns this run writes over: said first

    @property
    def plan(self) -> RunPlan:
        return self.review.plan

    def new_run(self, client: AndOpenClient, store: Store, sink: ResultSink | None, *, to_sheet: bool) -> SendRun:
        """The run, not started. Its first write-back carries the review's results (why rows are
        skipped or invalid); a sheet is written less often than a file, to stay inside Google's quota."""
        c = self.choices
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
    rev = review(loaded, store, choices.window, now=now, extra_history=extra_history)
    return PreparedSend(loaded, rev, choices, own_values_replaced(loaded, rev))
