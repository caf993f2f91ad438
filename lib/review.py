"""Review a loaded list against the store: validation, look-back, journal → a RunPlan and
the result columns to show. The app and the CLI both call `review`, so they agree."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import pandas as pd

from . import donotgift
from . import eligibility as elig
from .models import normalize_email, status_label, utcnow
from .plan import (
    ELIGIBILITY_RESULTS,
    Eligibility,
    RowAction,
    RunPlan,
    apply_results,
    eligibility_results,
    plan_rows,
    result_for_entry,
)
from .recipients import RowCheck, check_rows, is_approved
from .sheet_rows import spreadsheet_rows
from .sources import LoadedList
from .store import Store
from .writeback import (
    GIFT_REQUEST_ID,
    GIFT_STATUS,
    REDEMPTION_URL,
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
    """Messages name rows by the spreadsheet's own numbers (lib/sheet_rows.py), as the grid does."""
    now = now or utcnow()
    store.mark_orphans_unknown(loaded.list_key)  # a crashed run's attempts show as unknown at once
    store.adopt_row_gifts(loaded.list_key, _row_gift_ids(loaded))  # ids written while the store was away
    rows = spreadsheet_rows(loaded)
    checks = check_rows(loaded.frame, loaded.cmap, list(loaded.frame.index), rows)
    journal = store.journal(loaded.list_key)
    verdicts: dict[str, Eligibility] = {}
    if loaded.cmap.email:
        known = elig.known_gifts(
            store,
            list_key=loaded.list_key,
            list_frame=loaded.frame,
            email_col=loaded.cmap.email,
            extra=extra_history,
            list_rows=rows,
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
            for k, e, r in zip(result.index.tolist(), result["Eligibility"].tolist(), result["Skip reason"].tolist())
        }
        listed = elig.do_not_gift(loaded.frame[loaded.cmap.email], donotgift.index(store.do_not_gift()))
        for k, reason in listed[listed != ""].items():  # wins over the look-back and any override of it
            verdicts[str(k)] = Eligibility(False, reason, do_not_gift=True)
    ids = result_values(loaded.frame, GIFT_REQUEST_ID)
    gift_ids = dict(zip(loaded.frame.index.astype(str).tolist(), ids.tolist())) if ids is not None else {}
    plan = plan_rows(checks, journal, verdicts, gift_ids, store.held_elsewhere(loaded.list_key))
    frame = apply_results(loaded.frame, eligibility_results(checks, verdicts) + plan.results())
    frame = apply_results(frame, status_results(frame, store))
    return Review(checks, verdicts, plan, frame)


def _row_gift_ids(loaded: LoadedList) -> dict[str, str]:
    """email -> the one gift id its rows carry (an email whose rows disagree is left out)."""
    ids = result_values(loaded.frame, GIFT_REQUEST_ID)
    if ids is None or not loaded.cmap.email:
        return {}
    found: dict[str, set[str]] = {}
    for email, gid in zip(loaded.frame[loaded.cmap.email].astype(str).tolist(), ids.astype(str).tolist()):
        if gid.strip() and normalize_email(email):
            found.setdefault(normalize_email(email), set()).add(gid.strip())
    return {e: next(iter(g)) for e, g in found.items() if len(g) == 1}


def with_run_notes(rev: Review, notes: Sequence[RowResult]) -> Review:
    """`rev` with what a finished run said about rows it never journalled (a limit kept them
    back), on the rows that are still to be sent; the journal cannot restore those words."""
    to_send = {r.row_key for r in rev.plan.rows if r.action == RowAction.SEND}
    kept = [n for n in notes if n.row_key in to_send]
    return replace(rev, frame=apply_results(rev.frame, kept)) if kept else rev


def held_results(loaded: LoadedList, store: Store) -> list[RowResult]:
    """What the journal holds for each row (sent, unknown), as its result columns: `status`
    writes these too, so a send resolved from &Open's update after its run reaches its row."""
    checks = check_rows(loaded.frame, loaded.cmap, list(loaded.frame.index), spreadsheet_rows(loaded))
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
    if not latest:
        return []
    urls = result_values(frame, REDEMPTION_URL)
    urls = urls if urls is not None else pd.Series("", index=frame.index)
    out = []
    for key, gid, url in zip(frame.index.tolist(), ids.tolist(), urls.tolist()):
        g = latest.get(gid.strip()) if gid.strip() else None
        if g is None:
            continue
        values = {GIFT_STATUS: status_label(g.status)} if g.status else {}
        if not url.strip() and g.redemption_url:
            values[REDEMPTION_URL] = g.redemption_url
        if values:
            out.append(RowResult(str(key), g.email, values))
    return out


def reapproved(prev: Review, loaded: LoadedList, store: Store) -> Review:
    """`prev`, the review of this list, after only approvals changed (a tick, a few ticks, every
    row at once): the rows that share an email with a changed row are planned again, every other
    row keeps its plan, and only the cells whose results changed are written. Exact, not an
    estimate: a row's plan depends on approvals only through the rows with its email (which of
    them is sent, which is a duplicate), its cells only through its plan; validation and the
    look-back do not read approvals. The caller guarantees nothing else changed (the list's
    other cells, the store, the look-back)."""
    approvals = _approvals(loaded)
    emails = [normalize_email(c.recipient.email) for c in prev.checks]
    changed = {e for e, c, a in zip(emails, prev.checks, approvals) if c.approved != a}
    if not changed:
        return prev
    at = [i for i, e in enumerate(emails) if e in changed]
    checks = list(prev.checks)
    for i in at:
        if (c := checks[i]).approved != approvals[i]:
            checks[i] = RowCheck(c.row_key, c.row_number, c.recipient, approvals[i], c.problems, c.duplicate_of)
    some = [checks[i] for i in at]
    ids = result_values(loaded.frame, GIFT_REQUEST_ID)
    gift_ids = dict(zip((c.row_key for c in some), ids.iloc[at].tolist())) if ids is not None else {}
    journal, elsewhere = store.journal(loaded.list_key), store.held_elsewhere(loaded.list_key)
    part = plan_rows(some, journal, prev.verdicts, gift_ids, elsewhere)
    rows = list(prev.plan.rows)
    moved: list[int] = []  # the rows whose results changed, with their results before and after
    before: list[Mapping[str, str] | None] = []
    after: list[Mapping[str, str] | None] = []
    for i, row in zip(at, part.rows):
        if (old := rows[i].result_values()) != (new := row.result_values()):
            moved.append(i)
            before.append(old)
            after.append(new)
        rows[i] = row
    frame = prev.frame.copy()
    if loaded.cmap.approved in loaded.frame.columns:
        frame[loaded.cmap.approved] = loaded.frame[loaded.cmap.approved]
    frame = _with_results(frame, loaded, store, checks, prev.verdicts, (moved, before, after))
    return Review(checks, prev.verdicts, RunPlan(tuple(rows)), frame)


def _approvals(loaded: LoadedList) -> list[bool]:
    col = loaded.cmap.approved
    if col is None or col not in loaded.frame.columns:
        return [False] * len(loaded.frame)
    return [is_approved(v) for v in loaded.frame[col].tolist()]


_STATUS_INPUTS = frozenset({GIFT_REQUEST_ID, REDEMPTION_URL, GIFT_STATUS})


def _with_results(
    frame: pd.DataFrame,
    loaded: LoadedList,
    store: Store,
    checks: Sequence[RowCheck],
    verdicts: Mapping[str, Eligibility],
    moved: tuple[Sequence[int], Sequence[Mapping[str, str] | None], Sequence[Mapping[str, str] | None]],
) -> pd.DataFrame:
    """`frame` (the previous review's, approvals brought up to date) with the rows whose plan
    results changed written as `review` writes them: the new results, else what the row reads
    without them (its eligibility, its own cell). A row whose gift id or link changed is made again
    whole, as the gift's status on it follows them. Column by column, not row by row."""
    names = result_columns(frame.columns)
    whole: list[int] = []
    cells: dict[str, tuple[list[int], list[object]]] = {}  # column -> positions, values
    bare: dict[str, list[int]] = {}  # result -> positions where the new plan writes nothing
    for i, old, new in zip(*moved):
        touched = {*(old or ()), *(new or ())}
        if touched & _STATUS_INPUTS:
            whole.append(i)
            continue
        for canonical in touched:
            if new is not None and canonical in new:
                _put(cells, names.get(canonical, canonical), [i], [new[canonical]])
            else:
                bare.setdefault(canonical, []).append(i)
    for canonical, positions in bare.items():
        col = names.get(canonical, canonical)
        _put(cells, col, positions, _unplanned(loaded, checks, verdicts, canonical, col, positions))
    for col, (positions, values) in cells.items():
        _write(frame, col, positions, values)
    if whole:  # the way `review` makes them, on these rows alone
        mine = [checks[i] for i in whole]
        after = dict(zip(moved[0], moved[2]))
        news = [RowResult(c.row_key, c.recipient.email, dict(v)) for i, c in zip(whole, mine) if (v := after[i])]
        sub = apply_results(loaded.frame.iloc[whole], eligibility_results(mine, verdicts) + news)
        sub = apply_results(sub, status_results(sub, store))
        for col in sub.columns:
            _write(frame, col, whole, sub[col].tolist())
    return frame


def _unplanned(
    loaded: LoadedList,
    checks: Sequence[RowCheck],
    verdicts: Mapping[str, Eligibility],
    canonical: str,
    col: str,
    positions: Sequence[int],
) -> list[object]:
    """Result `canonical` (column `col`) on rows whose plan writes nothing there: their
    eligibility there, else their own cell (empty in a column the list lacks)."""
    frame = loaded.frame
    own = frame[col].to_numpy(dtype=object)[positions].tolist() if col in frame.columns else [""] * len(positions)
    if canonical not in ELIGIBILITY_RESULTS:
        return own
    rows = [checks[i] for i in positions]
    said = {r.row_key: r.values for r in eligibility_results(rows, verdicts)}
    return [said.get(c.row_key, {}).get(canonical, v) for c, v in zip(rows, own)]


def _put(
    cells: dict[str, tuple[list[int], list[object]]], col: str, at: Sequence[int], values: Sequence[object]
) -> None:
    positions, found = cells.setdefault(col, ([], []))
    positions.extend(at)
    found.extend(values)


def _write(frame: pd.DataFrame, col: str, positions: Sequence[int], values: Sequence[object]) -> None:
    """Cells of `col` at `positions`; a column the frame lacks is added, empty elsewhere (as
    `apply_results` adds it)."""
    column = frame[col].to_numpy(dtype=object, copy=True) if col in frame.columns else np.full(len(frame), "", object)
    column[list(positions)] = list(values)
    frame[col] = column
