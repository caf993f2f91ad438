"""The Gift status page's numbers, for a marketer: who each gift is for (name, company, list,
campaign), counts, a funnel, the redemption rate and the median time to redeem, each gift's
timeline in plain words, and the people to follow up. Pure functions over typed rows; only
`gifts_frame` and `timeline_of` read the store."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePath

import pandas as pd

from . import csvio
from .headers import normalise_header
from .models import STATUS_RANK, GiftStatus, normalize_email, parse_iso, status_label
from .store import Store
from .store.invitations import InvitationRecord, InviteKind, InviteState
from .store.records import GiftRecord, JournalEntry
from .timefmt import shown

FUNNEL = (GiftStatus.SUBMITTED, GiftStatus.REDEEMED, GiftStatus.DISPATCHED, GiftStatus.DELIVERED)
REDEEMED_OR_LATER = frozenset({GiftStatus.REDEEMED, GiftStatus.DISPATCHED, GiftStatus.DELIVERED})
# What to do about a gift in a status worth acting on; the export lists these people.
FOLLOW_UP = {
    GiftStatus.REDEEMED.value: "Follow up: they have just redeemed their gift",
    GiftStatus.CANCELLED.value: "Reach them another way: the gift was cancelled",
}
COMPANY_HEADERS = frozenset({"company", "companyname", "organization", "organisation", "account", "accountname"})
GIFT_COLUMNS = [
    "Name",
    "Email",
    "Company",
    "List",
    "Campaign",
    "Status",
    "Last update",
    "Invitation",
    "Reminder",
    "Redemption URL",
    "Gift request ID",
    "Sent by",
    "status",  # the raw status, for filters and counts (not shown)
]
FOLLOW_UP_COLUMNS = ["Name", "Email", "Company", "List", "Campaign", "Status", "What to do", "Last update"]
NO_LIST = "Not from a Giftrun list"


@dataclass(frozen=True)
class Milestone:
    """One status in a gift's timeline: when the gift first reached it, in words."""

    status: str  # the label: "Redeemed"
    when: str  # "2 May 2026 at 14:03 UTC"
    after: str  # "2 hours 5 minutes after it was sent"


@dataclass(frozen=True)
class Summary:
    gifts: int
    redeemed: int  # redeemed, dispatched or delivered
    median_seconds: float | None  # from sent to redeemed, over the gifts that were

    @property
    def rate(self) -> str:
        if not self.gifts:
            return "—"
        return f"{round(100 * self.redeemed / self.gifts)}%"

    @property
    def median(self) -> str:
        return "—" if self.median_seconds is None else duration_words(self.median_seconds)


# -- who a gift is for ----------------------------------------------------------------------------
def companies_in(csv: bytes) -> dict[str, str]:
    """email → company from a saved list's CSV (the first column named like Company), {} when it
    has none or cannot be read: the company is shown beside the gift, never needed."""
    try:
        frame = csvio.read_csv_bytes(csv)
    except csvio.CsvError:
        return {}
    headers = {normalise_header(c): c for c in reversed(list(frame.columns))}
    email = next((headers[h] for h in ("email", "emailaddress", "workemail") if h in headers), None)
    company = next((headers[h] for h in COMPANY_HEADERS if h in headers), None)
    if email is None or company is None:
        return {}
    return {normalize_email(e): str(c) for e, c in zip(frame[email], frame[company]) if str(e).strip() and str(c)}


def list_label(list_key: str | None, saved: Mapping[str, str]) -> str:
    """A list as people know it: its saved name, a CSV's file name, or a Google Sheet."""
    if not list_key:
        return NO_LIST
    if list_key in saved:
        return saved[list_key]
    if list_key.startswith("csv:"):
        return PurePath(list_key[4:]).name
    if list_key.startswith("sheet:"):
        return "Google Sheet " + list_key.split(":")[1][:8] + "…"
    return list_key


def full_name(entry: JournalEntry | None) -> str:
    return " ".join(p for p in (entry.first_name, entry.last_name) if p) if entry else ""


def gift_rows(
    gifts: Iterable[GiftRecord],
    sends: Mapping[str, JournalEntry],
    *,
    companies: Mapping[str, Mapping[str, str]] = {},
    list_names: Mapping[str, str] = {},
    campaigns: Mapping[str, str] = {},
    event_campaigns: Mapping[str, str] = {},
    senders: Mapping[str, str] = {},
    emails: Mapping[tuple[str, InviteKind], InvitationRecord] = {},
) -> pd.DataFrame:
    """One row per gift with the person, their company, list and campaign beside it. `sends` is
    the journal by gift id; a gift another tool made has only its email and the campaign its
    events named."""
    rows = []
    for g in gifts:
        entry = sends.get(g.gift_request_id)
        campaign = (entry.campaign_id if entry else None) or event_campaigns.get(g.gift_request_id) or ""
        rows.append(
            {
                "Name": full_name(entry),
                "Email": g.email,
                "Company": companies.get(entry.list_key, {}).get(g.email, "") if entry else "",
                "List": list_label(entry.list_key if entry else None, list_names),
                "Campaign": campaigns.get(campaign, campaign),
                "Status": status_label(g.status) or "Unknown",
                "status": g.status or "",
                "Last update": shown(g.updated_at),
                "Invitation": email_label(emails.get((g.gift_request_id, InviteKind.INVITATION))),
                "Reminder": email_label(emails.get((g.gift_request_id, InviteKind.REMINDER))),
                "Redemption URL": g.redemption_url or "",
                "Gift request ID": g.gift_request_id,
                "Sent by": senders.get(g.gift_request_id, "other tool"),
            }
        )
    return pd.DataFrame(rows, columns=GIFT_COLUMNS)


def gifts_frame(
    store: Store, *, companies: Mapping[str, Mapping[str, str]] = {}, campaigns: Mapping[str, str] = {}
) -> pd.DataFrame:
    """Every gift the store knows (ours and other tools'), newest update first."""
    sends = {e.gift_request_id: e for e in store.all_sends() if e.gift_request_id}
    event_campaigns = {g: c for g, _, _, c in store.status_reached() if c}
    return gift_rows(
        store.gifts(),
        sends,
        companies=companies,
        list_names={key: name for key, name, _ in store.saved_lists()},
        campaigns=campaigns,
        event_campaigns=event_campaigns,
        senders=store.senders(),
        emails=store.invitations(),
    )


def person_label(row: Mapping[str, str]) -> str:
    """How a gift is picked: by its person and list, `Ana Lima — ana@example.com · Spring leads`.
    Nothing in it changes while the page is open (not the status), so a choice stays chosen."""
    who = f"{row['Name']} — {row['Email']}" if row.get("Name") else row["Email"]
    return f"{who} · {row['List']}"


def people_to_pick(gifts: pd.DataFrame) -> dict[str, str]:
    """gift id → its person's label, in alphabetical order of the label (a stable order to look in)."""
    labels = {row["Gift request ID"]: person_label(row) for row in gifts.to_dict("records")}
    return dict(sorted(labels.items(), key=lambda item: (item[1].casefold(), item[0])))


def email_label(record: InvitationRecord | None) -> str:
    """One gift's invitation (or reminder) as the status table shows it."""
    if record is None:
        return ""
    if record.state == InviteState.SENT:
        return f"sent {shown(record.finished_at)}"
    return {
        InviteState.ATTEMPTING: "sending",
        InviteState.UNKNOWN: "unknown — check",
        InviteState.FAILED: "not sent (safe to retry)",
        InviteState.REFUSED: "refused by the mail server",
    }[record.state]


def filtered(
    gifts: pd.DataFrame,
    *,
    lists: Iterable[str] = (),
    campaigns: Iterable[str] = (),
    statuses: Iterable[str] = (),
    sender: str | None = None,
) -> pd.DataFrame:
    """The gifts in any of the lists, campaigns and status labels chosen (none chosen: all)."""
    keep = pd.Series(True, index=gifts.index)
    for column, chosen in (("List", lists), ("Campaign", campaigns), ("Status", statuses)):
        chosen = list(chosen)
        if chosen:
            keep &= gifts[column].isin(chosen)
    if sender:
        keep &= gifts["Sent by"] == sender
    return gifts[keep]


def follow_ups(gifts: pd.DataFrame) -> pd.DataFrame:
    """The people to act on: a redeemed gift is a warm moment to follow up; a cancelled one
    means reaching the person another way. Redeemed first."""
    rows = gifts[gifts["status"].isin(list(FOLLOW_UP))]
    out = rows.assign(**{"What to do": rows["status"].map(FOLLOW_UP)})
    out = out.assign(_order=out["status"].map(list(FOLLOW_UP).index)).sort_values("_order", kind="stable")
    return out[FOLLOW_UP_COLUMNS].reset_index(drop=True)


# -- counts and rates --------------------------------------------------------------------------
def status_counts(gifts: pd.DataFrame) -> dict[str, int]:
    """Counts per status label, known statuses first in journey order, unknown ones as they came."""
    counts = gifts["status"].value_counts().to_dict() if len(gifts) else {}
    ordered = {status_label(s): int(counts.pop(s, 0)) for s in STATUS_RANK}
    ordered.update({status_label(s) or "Unknown": int(n) for s, n in counts.items()})
    return ordered


def funnel(gifts: pd.DataFrame) -> pd.DataFrame:
    """How many gifts reached each stage (a delivered gift has also been redeemed and
    dispatched); cancelled ones stop counting at Submitted."""
    ranks = gifts["status"].map(lambda s: STATUS_RANK.get(s, 0)) if len(gifts) else pd.Series(dtype=int)
    live = ranks[ranks < STATUS_RANK[GiftStatus.CANCELLED]]
    rows = [
        {
            "Stage": status_label(s),
            "Gifts": int(len(ranks) if s == GiftStatus.SUBMITTED else (live >= STATUS_RANK[s]).sum()),
        }
        for s in FUNNEL
    ]
    rows.append({"Stage": "Cancelled", "Gifts": int((ranks == STATUS_RANK[GiftStatus.CANCELLED]).sum())})
    return pd.DataFrame(rows)


def summary(gifts: pd.DataFrame, reached: Iterable[tuple[str, str, str, str | None]]) -> Summary:
    """Redemption rate and median time to redeem over the gifts shown. A gift counts as redeemed
    when it is redeemed, dispatched or delivered; its time to redeem runs from the first time it
    was seen (the send) to the first time it was seen at any of those."""
    shown_ids = set(gifts["Gift request ID"])
    sent: dict[str, datetime] = {}
    redeemed: dict[str, datetime] = {}
    for gift_id, status, at, _ in reached:
        when = parse_iso(at)
        if gift_id not in shown_ids or when is None:
            continue
        sent[gift_id] = min(sent.get(gift_id, when), when)
        if status in REDEEMED_OR_LATER:
            redeemed[gift_id] = min(redeemed.get(gift_id, when), when)
    waits = [(redeemed[g] - sent[g]).total_seconds() for g in redeemed]
    count = int(gifts["status"].isin(list(REDEEMED_OR_LATER)).sum())
    return Summary(len(gifts), count, statistics.median(waits) if waits else None)


# -- one gift's timeline ---------------------------------------------------------------------------
def timeline(reached: Iterable[tuple[str, str]]) -> list[Milestone]:
    """(status, first time) pairs of one gift → each status once, in the journey's order (an
    unknown status from &Open after the known ones, by time), with times in words."""
    first: dict[str, str] = {}
    for status, at in reached:
        if status and (status not in first or (at or "") < first[status]):
            first[status] = at or ""
    order = sorted(first, key=lambda s: (STATUS_RANK.get(s, 50), first[s]))
    start = min((w for w in (parse_iso(first[s]) for s in first) if w), default=None)
    return [Milestone(status_label(s), when_words(first[s]), _after(start, parse_iso(first[s]))) for s in order]


def timeline_of(store: Store, gift_request_id: str) -> list[Milestone]:
    return timeline((e.status, e.occurred_at or e.received_at) for e in store.events(gift_request_id=gift_request_id))


def timeline_frame(milestones: list[Milestone]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"Status": m.status, "When": m.when, "After sending": m.after} for m in milestones],
        columns=["Status", "When", "After sending"],
    )


def when_words(ts: str | None) -> str:
    """`2 May 2026 at 14:03 UTC`; text that is not a time is shown as it is."""
    when = parse_iso(ts)
    if when is None:
        return ts or ""
    when = when.astimezone(UTC)
    return f"{when.day} {when:%B %Y} at {when:%H:%M} UTC"


def duration_words(seconds: float) -> str:
    """`under a minute`, `5 minutes`, `2 hours 5 minutes`, `3 days 4 hours`: the two largest units."""
    s = int(seconds)
    if s < 60:
        return "under a minute"
    parts = [(s // 86400, "day"), (s % 86400 // 3600, "hour"), (s % 3600 // 60, "minute")]
    while parts and parts[0][0] == 0:
        parts.pop(0)
    return " ".join(f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in parts[:2] if n)


def _after(start: datetime | None, when: datetime | None) -> str:
    if start is None or when is None:
        return ""
    if when <= start:
        return "when it was sent"
    return f"{duration_words((when - start).total_seconds())} after it was sent"


def history_frame(store: Store, gift_request_id: str | None = None) -> pd.DataFrame:
    """The raw event log, for the full-history download."""
    rows = [
        {
            "Received at": e.received_at,
            "Event id": e.event_id,
            "Type": e.event_type,
            "Gift request ID": e.gift_request_id,
            "Email": e.email,
            "Status": status_label(e.status),
            "Source": str(e.source),
            "Occurred at": e.occurred_at or "",
            "Actor": e.actor,
        }
        for e in store.events(gift_request_id=gift_request_id)
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "Received at",
            "Event id",
            "Type",
            "Gift request ID",
            "Email",
            "Status",
            "Source",
            "Occurred at",
            "Actor",
        ],
    )
