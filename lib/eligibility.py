"""The look-back rule: skip people gifted recently.

"If there's a gift within your look-back window, the row is 'skip'; if not, the row is
'eligible'" (the Clay guide, "Skipping people you've gifted recently"). Gifts are known
from four places, and all of them count:

1. Giftrun's own send journal, from the moment a send is journalled (before any webhook);
2. the status history (webhooks and polls, including gifts sent by other tools);
3. rows of the list itself that already carry a `Gift request ID`;
4. an extra history frame (for example a shared Google Sheet `Gift history` tab).

Everything here is vectorised with pandas: a 50,000-row list against 500,000 history
records is checked in well under a second.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

try:  # pandas 3 keeps strings in Arrow when pyarrow is installed
    import pyarrow as pa
    import pyarrow.compute as pc
except ImportError:  # pragma: no cover - pandas then uses Python-object strings
    pa = pc = None

from . import donotgift
from .lookback_window import (
    ACCEPTED_FORMS,
    DEFAULT,
    OFF,
    PRESETS,
    Window,
    format_window,  # noqa: F401
    parse_window,
)
from .models import STATUS_RANK, SendState, normalize_email, parse_iso, status_label
from .recipients import match_columns
from .writeback import ELIGIBILITY, GIFT_REQUEST_ID, GIFT_STATUS, SENT_AT, SKIP_REASON, result_values

if TYPE_CHECKING:  # only for annotations: the store is passed in by the caller
    from .store import Store

ELIGIBLE = "eligible"
SKIP = "skip"
OVERRIDE_BY = "override_by"

# --------------------------------------------------------------------------------------
# Known gifts
# --------------------------------------------------------------------------------------

KNOWN_COLUMNS = ("email", "gifted_at", "status", "gift_request_id", "origin_list", "origin_row")
DT_DTYPE = "datetime64[us, UTC]"

# Journal states that count as a gift: an unknown outcome (or an attempt in flight) may
# be a real gift, so it counts until a person clears it.
COUNTING_STATES = frozenset({SendState.SENT, SendState.UNKNOWN, SendState.ATTEMPTING})
# What the reason shows for journal entries that no status update has described yet.
_JOURNAL_STATUS = {
    SendState.SENT: "submitted",  # &Open created it: every gift starts as submitted
    SendState.UNKNOWN: "outcome unknown",
    SendState.ATTEMPTING: "being sent",
}

# Priority when several sources describe one gift id (lower wins for status/email).
_P_HISTORY, _P_EXTRA, _P_LIST, _P_JOURNAL = 0, 1, 2, 3
# Priority for where a gift came from (origin_list / origin_row): the list row first.
_ORIGIN_PRIO = {_P_LIST: 0, _P_JOURNAL: 1, _P_EXTRA: 2, _P_HISTORY: 3}


def empty_known() -> pd.DataFrame:
    return _frame([], [], [], [], [], [])


def _frame(email, gifted_at, status, gift_id, origin_list, origin_row) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "email": pd.array(email, dtype="str"),
            "gifted_at": _to_utc(pd.Series(gifted_at, dtype="object")),
            "status": pd.array(status, dtype="str"),
            "gift_request_id": pd.array(gift_id, dtype="str"),
            "origin_list": pd.array(origin_list, dtype="str"),
            "origin_row": pd.array(origin_row, dtype="Int64"),
        }
    )


def _nat(n: int):
    return pd.array([pd.NaT] * n, dtype=DT_DTYPE)


def _to_utc(values: pd.Series) -> pd.Series:
    """Parse timestamps leniently: ISO-8601 first (fast), then any other readable form
    for the rest ('2026-11-20 14:03 UTC', '11/20/2026'). Naive times are taken as UTC.
    Unreadable or empty → NaT (an unknown date, which counts inside any window)."""
    s = pd.Series(values).reset_index(drop=True)
    if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(s.dtype):
        out = pd.to_datetime(s, utc=True)
        return out.astype(DT_DTYPE)
    if len(s) == 0:
        return pd.Series(pd.array([], dtype=DT_DTYPE))
    text = s.astype("str").fillna("").str.strip()
    text = text.mask(text.str.lower().isin(["", "nan", "nat", "none"]), "")
    out = pd.to_datetime(text.replace("", None), format="ISO8601", utc=True, errors="coerce")
    retry = out.isna() & (text != "")
    if retry.any():
        # e.g. Giftrun's own "2026-11-20 10:00:00 UTC", then anything dateutil can read
        cleaned = text[retry].str.replace(r"\s*(UTC|GMT|Z)$", "", regex=True, case=False)
        again = pd.to_datetime(cleaned, format="ISO8601", utc=True, errors="coerce")
        rest = again.isna()
        if rest.any():
            again[rest] = pd.to_datetime(cleaned[rest], format="mixed", utc=True, errors="coerce")
        out[retry] = again
    return out.astype(DT_DTYPE)


def _clean_str(s: pd.Series) -> pd.Series:
    return s.astype("str").fillna("").str.strip()


_ASCII_SPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"  # what str.strip() removes from ASCII text


def _norm_email(s: pd.Series) -> pd.Series:
    """`normalize_email` over a column, giving exactly its results: ASCII addresses by the
    same rule vectorised (strip, lowercase), the rest (international, or a domain ending in
    a dot) one by one through the function itself."""
    text = s.astype("str").fillna("")
    out = text.str.strip(_ASCII_SPACE).str.lower()
    slow = ~text.str.isascii().to_numpy(dtype=bool) | (
        out.str.endswith(".").to_numpy(dtype=bool) & out.str.contains("@", regex=False).to_numpy(dtype=bool)
    )
    if slow.any():
        out = out.copy()
        out[slow] = [normalize_email(v) for v in text[slow].tolist()]
    return out


def _norm_status(s: pd.Series) -> pd.Series:
    """'Delivered' (as written back to a sheet) → 'delivered'; unknown values kept."""
    s = _clean_str(s)
    low = s.str.lower()
    return low.where(low.isin(list(STATUS_RANK)), s)


def _find_email_column(frame: pd.DataFrame) -> str | None:
    """The list's email column, found as the list itself finds it (recipients.match_columns)."""
    by_name = {str(c): c for c in frame.columns}
    found = match_columns(list(by_name)).email
    return None if found is None else by_name[found]


def _from_list(
    frame: pd.DataFrame, email_col: str | None, list_key: str | None, rows: Sequence[int] | None = None
) -> pd.DataFrame:
    gift_ids = result_values(frame, GIFT_REQUEST_ID)  # the user's own spelling of the column counts too
    if gift_ids is None or len(frame) == 0:
        return empty_known()
    if email_col is None:
        email_col = _find_email_column(frame)
        if email_col is None:
            return empty_known()  # nothing to match on; validation reports the missing column
    elif email_col not in frame.columns:
        raise ValueError(f"Email column {email_col!r} is not in the list.")
    ids = _clean_str(gift_ids).to_numpy()
    has = ids != ""
    if not has.any():
        return empty_known()
    sub = frame.loc[has]
    n = int(has.sum())
    numbers = np.asarray(rows if rows is not None and len(rows) == len(frame) else range(2, len(frame) + 2))
    sent, status_text = result_values(sub, SENT_AT), result_values(sub, GIFT_STATUS)
    sent_at = _to_utc(sent).array if sent is not None else _nat(n)
    status = _norm_status(status_text).to_numpy() if status_text is not None else [""] * n
    out = pd.DataFrame(
        {
            "email": pd.array(_norm_email(sub[email_col]).to_numpy(), dtype="str"),
            "gifted_at": sent_at,
            "status": pd.array(status, dtype="str"),
            "gift_request_id": pd.array(ids[has], dtype="str"),
            "origin_list": pd.array([list_key or ""] * n, dtype="str"),
            # the row's number as the spreadsheet shows it (`rows`; else the header is row 1)
            "origin_row": pd.array(numbers[has], dtype="Int64"),
        }
    )
    return out


def _conform(extra: pd.DataFrame) -> pd.DataFrame:
    """Bring an extra history frame to the known-gifts shape (missing columns filled)."""
    n = len(extra)
    extra = extra.reset_index(drop=True)

    def text(name: str, norm=_clean_str) -> np.ndarray:
        return norm(extra[name]).to_numpy() if name in extra.columns else np.full(n, "", dtype=object)

    when = _to_utc(extra["gifted_at"]).array if "gifted_at" in extra.columns else _nat(n)
    rows = (
        pd.to_numeric(extra["origin_row"], errors="coerce").to_numpy() if "origin_row" in extra.columns else [pd.NA] * n
    )
    return pd.DataFrame(
        {
            "email": pd.array(text("email", _norm_email), dtype="str"),
            "gifted_at": when,
            "status": pd.array(text("status", _norm_status), dtype="str"),
            "gift_request_id": pd.array(text("gift_request_id"), dtype="str"),
            "origin_list": pd.array(text("origin_list"), dtype="str"),
            "origin_row": pd.array(rows, dtype="Int64"),
        }
    )


def known_gifts(
    store: Store,
    *,
    list_key: str | None = None,
    list_frame: pd.DataFrame | None = None,
    email_col: str | None = None,
    extra: pd.DataFrame | None = None,
    list_rows: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Every gift Giftrun knows of, one row per gift, with columns `email` (normalised),
    `gifted_at` (UTC; NaT = date unknown), `status` (raw or ""), `gift_request_id` (or ""),
    `origin_list` (list key or ""), `origin_row` (the row of `list_frame` as its spreadsheet
    numbers it: `list_rows`, from `sheet_rows.spreadsheet_rows`; else the header is row 1; or NA).

    Sources: the send journal (states sent / unknown / attempting, dated by the attempt),
    the status history (dated by the first update seen), rows of `list_frame` carrying a
    `Gift request ID` (dated by `Sent at` when readable), and `extra`. Records of one gift
    id are merged: earliest date, and the best-known status (a status update's wins over a
    list row's, which wins over the journal's)."""
    sends = [s for s in store.all_sends() if s.state in COUNTING_STATES]
    journal = _frame(
        _norm_email(pd.Series([s.email for s in sends], dtype="str")).tolist(),  # kept canonical; cheap to be sure
        [s.attempted_at or s.finished_at for s in sends],
        [_JOURNAL_STATUS[s.state] for s in sends],
        [s.gift_request_id or "" for s in sends],
        [s.list_key for s in sends],
        [pd.NA] * len(sends),
    )
    gifts = store.gifts()
    history = _frame(
        [normalize_email(g.email) for g in gifts],
        [g.first_seen_at or g.updated_at for g in gifts],
        [g.status or "" for g in gifts],
        [g.gift_request_id for g in gifts],
        [""] * len(gifts),
        [pd.NA] * len(gifts),
    )
    parts = [(history, _P_HISTORY), (journal, _P_JOURNAL)]
    if list_frame is not None:
        parts.append((_from_list(list_frame, email_col, list_key, list_rows), _P_LIST))
    if extra is not None and len(extra):
        parts.append((_conform(extra), _P_EXTRA))
    frames = [f.assign(_p=p) for f, p in parts if len(f)]
    if not frames:
        return empty_known()
    allk = pd.concat(frames, ignore_index=True)
    return _dedupe(allk)


def _dedupe(allk: pd.DataFrame) -> pd.DataFrame:
    has_id = allk["gift_request_id"] != ""
    no_id = allk.loc[~has_id, list(KNOWN_COLUMNS)]
    ided = allk.loc[has_id]
    if ided["gift_request_id"].duplicated().any():
        # status/email: first non-empty in source priority; date: the earliest known.
        blank = lambda s: s.mask(s == "")  # noqa: E731  ("" → NA so groupby.first skips it)
        by_p = ided.sort_values("_p", kind="stable")
        g = by_p.assign(email=blank(by_p["email"]), status=blank(by_p["status"])).groupby("gift_request_id", sort=False)
        merged = g.agg(email=("email", "first"), status=("status", "first"), gifted_at=("gifted_at", "min"))
        # where it came from: a list row first, then the journal, then anything else
        by_o = ided.assign(_o=ided["_p"].map(_ORIGIN_PRIO)).sort_values("_o", kind="stable")
        by_o = by_o[by_o["origin_list"] != ""]
        origin = by_o.drop_duplicates("gift_request_id").set_index("gift_request_id")
        merged["origin_list"] = origin["origin_list"].reindex(merged.index)
        merged["origin_row"] = origin["origin_row"].reindex(merged.index)
        merged = merged.reset_index()
        ided = pd.DataFrame(
            {
                "email": merged["email"].fillna("").astype("str"),
                "gifted_at": merged["gifted_at"].astype(DT_DTYPE),
                "status": merged["status"].fillna("").astype("str"),
                "gift_request_id": merged["gift_request_id"].astype("str"),
                "origin_list": merged["origin_list"].fillna("").astype("str"),
                "origin_row": merged["origin_row"].astype("Int64"),
            }
        )
    out = pd.concat([ided[list(KNOWN_COLUMNS)], no_id], ignore_index=True)
    out = out[out["email"] != ""].reset_index(drop=True)
    return out


# --------------------------------------------------------------------------------------
# The check
# --------------------------------------------------------------------------------------

_VALID_EMAIL = r"^[^@\s]+@[^@\s]+$"  # the loosest test: real validation lives in recipients


def _isin(values: pd.Series, wanted: np.ndarray) -> pd.Series:
    """values.isin(wanted), through Arrow's hash kernel when the strings are Arrow-backed
    (pandas' own isin on Arrow strings converts every value to a Python object)."""
    arr = values.array
    chunked = getattr(arr, "_pa_array", None)
    if pc is not None and chunked is not None:
        hit = pc.is_in(chunked, value_set=pa.array(list(wanted), type=chunked.type))
        return pd.Series(hit.to_numpy(zero_copy_only=False), index=values.index, dtype=bool)
    return values.isin(wanted)


def _utc_ts(now: datetime) -> pd.Timestamp:
    ts = pd.Timestamp(now)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _positional(values: pd.Series | None, like: pd.Series) -> np.ndarray:
    """Own gift ids as a plain array in the order of `like` ("" = none)."""
    if values is None:
        return np.full(len(like), "", dtype=object)
    if not values.index.equals(like.index):
        if values.index.is_unique and like.index.is_unique:
            values = values.reindex(like.index)
        elif len(values) != len(like):
            raise ValueError("own_gift_ids must be aligned with emails (same index or same length)")
    return _clean_str(values.reset_index(drop=True)).to_numpy(dtype=object)


def _with_columns(known: pd.DataFrame) -> pd.DataFrame:
    """Tolerate a hand-built `known` frame missing the optional columns."""
    missing = {
        c: d
        for c, d in (("status", ""), ("gift_request_id", ""), ("origin_list", ""), ("origin_row", pd.NA))
        if c not in known.columns
    }
    if "gifted_at" not in known.columns:
        missing["gifted_at"] = _nat(len(known))
    elif not isinstance(known["gifted_at"].dtype, pd.DatetimeTZDtype):
        missing["gifted_at"] = _to_utc(known["gifted_at"]).array
    return known.assign(**missing) if missing else known


def _result(index: pd.Index, elig, reason, by) -> pd.DataFrame:
    return pd.DataFrame(
        {
            ELIGIBILITY: pd.array(elig, dtype="str"),
            SKIP_REASON: pd.array(reason, dtype="str"),
            OVERRIDE_BY: pd.array(by, dtype="str"),
        },
        index=index,
    )


def check(
    emails: pd.Series,
    known: pd.DataFrame,
    window: Window | None,
    *,
    now: datetime,
    own_gift_ids: pd.Series | None = None,
    list_key: str | None = None,
    overrides: Mapping[str, tuple[str, str, str]] | None = None,
) -> pd.DataFrame:
    """Eligibility of each row: a frame indexed like `emails` with `Eligibility`
    ('eligible' / 'skip'), `Skip reason` and `override_by`.

    A row is skipped when its email has a known gift inside the window (an undated gift
    counts as inside), other than the row's own gift: the gift whose id is in the row's
    own `Gift request ID` (`own_gift_ids`), and this list's journal entry for the same
    email (`list_key`). The reason describes the most recent such gift. An override for
    the email turns a skip into 'eligible' and says who did it and what it was."""
    index = emails.index
    n = len(emails)
    if window is None or n == 0:
        return _result(index, [ELIGIBLE] * n, [""] * n, [""] * n)

    row_email = _norm_email(emails.reset_index(drop=True))
    valid = row_email.str.match(_VALID_EMAIL).fillna(False).to_numpy(dtype=bool)
    own = _positional(own_gift_ids, emails)

    kn = _candidate_gifts(known, pd.unique(row_email.to_numpy()[valid]), window, now, list_key)

    # 1. Candidate gifts (above). 2. Per email, the most recent gift (undated last), and the most recent one with a
    #    different gift id (for the rows whose own gift is the most recent one).
    kn = kn.sort_values(["email", "gifted_at"], ascending=[True, False], na_position="last", kind="stable")
    top1 = kn.drop_duplicates("email").set_index("email")
    top1_id = kn["email"].map(top1["gift_request_id"])
    top2 = kn[kn["gift_request_id"].to_numpy() != top1_id.to_numpy()].drop_duplicates("email").set_index("email")

    p1 = top1.index.get_indexer(row_email)
    p2 = top2.index.get_indexer(row_email)
    top1_ids = np.append(top1["gift_request_id"].to_numpy(dtype=object), "")  # [-1] → ""
    id1 = top1_ids[p1]
    use2 = (p1 >= 0) & (own != "") & (id1 == own)

    skip = valid & np.where(use2, p2 >= 0, p1 >= 0)
    elig = np.where(skip, SKIP, ELIGIBLE).astype(object)
    reason = np.full(n, "", dtype=object)
    by = np.full(n, "", dtype=object)
    if not skip.any():
        return _result(index, elig, reason, by)

    # 3. Reasons, only for the skipped rows.
    rows = np.flatnonzero(skip)
    from2 = use2[rows]
    chosen = pd.concat(
        [
            top1.iloc[p1[rows[~from2]]].assign(_row=rows[~from2]),
            top2.iloc[p2[rows[from2]]].assign(_row=rows[from2]),
        ]
    ).sort_values("_row")
    reason[chosen["_row"].to_numpy()] = _reasons(chosen, window, _utc_ts(now), list_key)

    if overrides:
        _apply_overrides(overrides, rows, row_email.to_numpy()[rows], elig, reason, by)
    return _result(index, elig, reason, by)


def _candidate_gifts(
    known: pd.DataFrame, emails: np.ndarray, window: Window, now: datetime, list_key: str | None
) -> pd.DataFrame:
    """Step 1 of `check`: the known gifts for these (valid, normalised) emails inside the
    window, other than this list's own sends."""
    known = _with_columns(known)
    kn_email = known["email"]
    if kn_email.dtype != "str":  # a hand-built frame; known_gifts' emails are normalised already
        kn_email = _norm_email(kn_email).set_axis(known.index)
    mask = _isin(kn_email, emails)
    if window.days is not None:
        cutoff = _utc_ts(now) - pd.Timedelta(days=window.days)
        when = known["gifted_at"]
        mask &= when.isna() | (when >= cutoff)
    if list_key is not None:
        # this list's journal entry for an email is the send of that email's own row
        mask &= ~((known["origin_list"] == list_key) & known["origin_row"].isna())
    keep = mask.to_numpy()
    kn = known.loc[keep, ["gifted_at", "status", "gift_request_id", "origin_list", "origin_row"]]
    return kn.assign(email=kn_email.to_numpy()[keep], gift_request_id=kn["gift_request_id"].fillna("").astype("str"))


def _apply_overrides(
    overrides: Mapping[str, tuple[str, str, str]],
    rows: np.ndarray,
    emails: np.ndarray,
    elig: np.ndarray,
    reason: np.ndarray,
    by: np.ndarray,
) -> None:
    """Step 4 of `check`: a person decided these skipped rows go anyway (arrays changed in place)."""
    ov = {normalize_email(k): v for k, v in overrides.items()}
    for r, e in zip(rows, emails, strict=True):
        hit = ov.get(e)
        if hit is None:
            continue
        actor, at, _why = hit
        when = parse_iso(at)
        day = when.strftime("%Y-%m-%d") if when else (at or "?")
        reason[r] = f"Override by {actor} on {day}: was '{reason[r]}'"
        elig[r] = ELIGIBLE
        by[r] = actor


def _reasons(chosen: pd.DataFrame, window: Window, now: pd.Timestamp, list_key: str | None) -> list[str]:
    when = chosen["gifted_at"]
    dated = when.notna().to_numpy()
    day = when.dt.strftime("%Y-%m-%d").fillna("").to_numpy(dtype=object)
    ago = (now.normalize() - when.dt.floor("D")).dt.days.fillna(0).astype(int).clip(lower=0).to_numpy()
    statuses = [status_label(s) if isinstance(s, str) else "" for s in chosen["status"].to_numpy(dtype=object)]
    ids = chosen["gift_request_id"].to_numpy(dtype=object)
    olist = chosen["origin_list"].to_numpy(dtype=object)
    orow = chosen["origin_row"].to_numpy(dtype=object)
    tail = f" — window {window.label}"
    out = []
    for k in range(len(chosen)):
        st = statuses[k]
        if dated[k]:
            paren = f" ({st})" if st else ""
            if ago[k] == 0:
                text = f"Gifted today{paren}"
            else:
                text = f"Gifted {day[k]}{paren}, {ago[k]} day{'s' if ago[k] != 1 else ''} ago"
        else:
            bits = [st] if st else []
            gid = ids[k] or ""
            if gid:
                bits.append(f"gift id {gid[:4]}…" if len(gid) > 4 else f"gift id {gid}")
            bits.append("date unknown")
            text = f"Gifted before ({', '.join(bits)})"
        if list_key is not None and olist[k] == list_key and not pd.isna(orow[k]):
            text += f" — from row {int(orow[k])} of this list"
        out.append(text + tail)
    return out


# --------------------------------------------------------------------------------------
# The do-not-gift list
# --------------------------------------------------------------------------------------


def do_not_gift(emails: pd.Series, entries: Mapping[str, donotgift.Entry]) -> pd.Series:
    """Per row, the `Skip reason` of the do-not-gift entry that blocks its email ("" when
    none does), indexed like `emails`. Checked whatever the look-back window, and no
    look-back override lifts it. The same rule as `donotgift.match` (a person entry first,
    then the domain and its parents), vectorised: each distinct domain is matched once."""
    if not entries or len(emails) == 0:
        return pd.Series("", index=emails.index, dtype=object)
    norm = _norm_email(emails.reset_index(drop=True))
    people = {k for k, e in entries.items() if not e.is_domain}
    listed = [e for e in pd.unique(norm.to_numpy()) if e in people]
    reasons = (
        norm.map({e: entries[e].skip_reason() for e in listed})
        if listed
        else pd.Series(np.nan, index=norm.index, dtype=object)
    )
    if len(people) < len(entries):
        parts = norm.str.rpartition("@")
        domains = parts[2].where(parts[1] == "@", "")
        by_domain = {}
        for d in pd.unique(domains.to_numpy()):
            hit = donotgift.match_domain(d, entries) if d else None
            if hit is not None:
                by_domain[d] = hit.skip_reason()
        if by_domain:
            reasons = reasons.fillna(domains.map(by_domain))
    return pd.Series(reasons.fillna("").to_numpy(dtype=object), index=emails.index, dtype=object)


# --------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------

SKIP_RATE_NOTE = (
    "Expect some skips: that's the rule working. On a large imported list, somewhere "
    "around 10–30% skipping is normal, especially if your team also sends gifts in other "
    "ways. The history only knows gifts sent since status updates were switched on (plus "
    "Giftrun's own sends), so older gifts are missing at first: in the first few weeks, "
    "some people gifted before then won't be caught by the check."
)


def skip_rate(result: pd.DataFrame) -> float:
    """Share of rows marked 'skip' (overridden rows count as eligible)."""
    if len(result) == 0:
        return 0.0
    return float((result[ELIGIBILITY] == SKIP).mean())


__all__ = [
    "Window",
    "OFF",
    "DEFAULT",
    "PRESETS",
    "ACCEPTED_FORMS",
    "parse_window",
    "format_window",
    "KNOWN_COLUMNS",
    "COUNTING_STATES",
    "known_gifts",
    "empty_known",
    "check",
    "do_not_gift",
    "skip_rate",
    "SKIP_RATE_NOTE",
    "ELIGIBLE",
    "SKIP",
    "OVERRIDE_BY",
]
