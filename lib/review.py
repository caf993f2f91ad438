"""Review a loaded list against the store: validation, look-back, journal → a RunPlan and
the result columns to show. The app and the CLI both call `review`, so they agree."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import pandas as pd

from . import donotgift
from . import eligibility as elig
from .models import status_label, utcnow
from .plan import Eligibility, RowAction, RunPlan, apply_results, eligibility_results, plan_rows, result_for_entry
from .recipients import RowCheck, check_rows
from .sources import LoadedList
from .store import Store
from .writeback import (
    GIFT_REQUEST_ID,
    GIFT_STATUS,
    REDEMPTION_URL,
    RESULT_COLUMNS,
    SEND_ERROR,
    SENT_AT,
    RowResult,
    result_columns,
    result_values,
)


@dataclass(frozen=True)
class Review:
    checks: list[RowCheck]
    verdicts: dict[str, Eligibility]
    plan: RunPlan
    frame: pd.DataFrame  # the list with every result column as it should now read

    def results(self) -> list[RowResult]:
        """What a destination should show before the run: eligibility, and why rows will
        not be sent (validation, duplicates, what the journal holds)."""
        return eligibility_results(self.checks, self.verdicts) + self.plan.results()

    @property
    def skip_rate(self) -> float:
        considered = [v for v in self.verdicts.values()]
        return (sum(not v.eligible and not v.do_not_gift for v in considered) / len(considered)) if considered else 0.0


def review(
    loaded: LoadedList,
    store: Store,
    window: elig.Window | None,
    *,
    now: datetime | None = None,
    extra_history: pd.DataFrame | None = None,
) -> Review:
    now = now or utcnow()
    store.mark_orphans_unknown(loaded.list_key)  # a crashed run's attempts show as unknown at once
    checks = check_rows(loaded.frame, loaded.cmap, list(loaded.frame.index))
    journal = store.journal(loaded.list_key)
    verdicts: dict[str, Eligibility] = {}
    if loaded.cmap.email:
        known = elig.known_gifts(
            store, list_key=loaded.list_key, list_frame=loaded.frame, email_col=loaded.cmap.email, extra=extra_history
        )
        own = result_values(loaded.frame, GIFT_REQUEST_ID)
        result = elig.check(
            loaded.frame[loaded.cmap.email],
            known,
            window,
            now=now,
            own_gift_ids=own,
            list_key=loaded.list_key,
            overrides=store.overrides(loaded.list_key),
        )
        verdicts = {
            str(k): Eligibility(e == "eligible", r)
            for k, e, r in zip(result.index, result["Eligibility"], result["Skip reason"])
        }
        listed = elig.do_not_gift(loaded.frame[loaded.cmap.email], donotgift.index(store.do_not_gift()))
        for k, reason in listed[listed != ""].items():  # wins over the look-back and any override of it
            verdicts[str(k)] = Eligibility(False, reason, do_not_gift=True)
    ids = result_values(loaded.frame, GIFT_REQUEST_ID)
    gift_ids = dict(zip(loaded.frame.index.astype(str), ids)) if ids is not None else {}
    plan = plan_rows(checks, journal, verdicts, gift_ids)
    frame = apply_results(loaded.frame, eligibility_results(checks, verdicts) + plan.results())
    frame = apply_results(frame, status_results(frame, store))
    return Review(checks, verdicts, plan, frame)


def with_run_notes(rev: Review, notes: Sequence[RowResult]) -> Review:
    """`rev` with what a finished run said about rows it never journalled (a limit kept them
    back), on the rows that are still to be sent; the journal cannot restore those words."""
    to_send = {r.row_key for r in rev.plan.rows if r.action == RowAction.SEND}
    kept = [n for n in notes if n.row_key in to_send]
    return replace(rev, frame=apply_results(rev.frame, kept)) if kept else rev


def held_results(loaded: LoadedList, store: Store) -> list[RowResult]:
    """What the journal holds for each row (sent, unknown), as its result columns: `status`
    writes these too, so a send resolved from &Open's update after its run reaches its row."""
    checks = check_rows(loaded.frame, loaded.cmap, list(loaded.frame.index))
    plan = plan_rows(checks, store.journal(loaded.list_key))
    return [
        result_for_entry(r.row_key, r.journal)
        for r in plan.rows
        if r.journal is not None and r.journal.list_key and r.action in (RowAction.ALREADY_SENT, RowAction.UNKNOWN)
    ]


def status_results(frame: pd.DataFrame, store: Store) -> list[RowResult]:
    """`Gift status` for every row carrying a gift id, from the latest known status, and a
    `Redemption URL` that was still empty when the gift was created."""
    ids = result_values(frame, GIFT_REQUEST_ID)
    if ids is None:
        return []
    latest = {g.gift_request_id: g for g in store.gifts()}
    urls = result_values(frame, REDEMPTION_URL)
    urls = urls if urls is not None else pd.Series("", index=frame.index)
    out = []
    for key, gid, url in zip(frame.index, ids, urls):
        g = latest.get(gid.strip()) if gid.strip() else None
        if g is None:
            continue
        values = {GIFT_STATUS: status_label(g.status)} if g.status else {}
        if not url.strip() and g.redemption_url:
            values[REDEMPTION_URL] = g.redemption_url
        if values:
            out.append(RowResult(str(key), g.email, values))
    return out


# What a send writes onto the row it sends (the rest is written before sending: `Review.results`).
SEND_WRITES = (GIFT_REQUEST_ID, REDEMPTION_URL, SEND_ERROR, GIFT_STATUS, SENT_AT)


@dataclass(frozen=True)
class Overwrite:
    """Values the list brought in one of Giftrun's result columns that a run writes over."""

    column: str  # the user's header
    rows: tuple[int, ...]  # 1-based data row numbers


def own_values_replaced(loaded: LoadedList, rev: Review) -> list[Overwrite]:
    """Cells of result columns that came with a list Giftrun has not written to (one that
    lacks some of its result columns: Giftrun adds them all at its first write) and that
    this run changes: before sending (`rev.frame`) or when it sends the row. Giftrun writes
    over them (a `Sent at` or `Send error` left from elsewhere next to a new gift would make
    the row lie, and the look-back reads `Sent at`), so the user is told first."""
    present = result_columns(loaded.user_columns)
    if all(c in present for c in RESULT_COLUMNS):
        return []
    sending = {r.row_key for r in rev.plan.rows if r.action == RowAction.SEND}
    keys = [str(k) for k in loaded.frame.index]
    out = []
    for canonical, column in sorted(present.items(), key=lambda kv: loaded.user_columns.index(kv[1])):
        before, after = _texts(loaded.frame[column]), _texts(rev.frame[column])
        rows = tuple(
            n
            for n, (key, b, a) in enumerate(zip(keys, before, after), start=1)
            if b.strip() and (b != a or (canonical in SEND_WRITES and key in sending))
        )
        if rows:
            out.append(Overwrite(column, rows))
    return out


def describe_overwrites(found: Sequence[Overwrite], limit: int = 8) -> str:
    def rows(o: Overwrite) -> str:
        shown = ", ".join(str(n) for n in o.rows[:limit]) + (", …" if len(o.rows) > limit else "")
        return f"{len(o.rows)} row{'s' if len(o.rows) != 1 else ''}: {shown}"

    columns = "; ".join(f"'{o.column}' ({rows(o)})" for o in found)
    return (
        f"Your list already has values of its own in columns Giftrun writes its results to — {columns}. "
        "Giftrun will write over them. To keep them, rename those columns before sending."
    )


def _texts(series: pd.Series) -> list[str]:
    return series.astype(object).where(series.notna(), "").astype(str).tolist()
