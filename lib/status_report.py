"""The Gift status page's numbers: one frame of gifts, counts, a funnel, event history."""

from __future__ import annotations

import pandas as pd

from .models import STATUS_RANK, GiftStatus, status_label
from .store import Store
from .store.invitations import InvitationRecord, InviteKind, InviteState
from .timefmt import shown

FUNNEL = (GiftStatus.SUBMITTED, GiftStatus.REDEEMED, GiftStatus.DISPATCHED, GiftStatus.DELIVERED)
FOLLOW_UP = {
    "Redeemed: a good moment to follow up": GiftStatus.REDEEMED.value,
    "Cancelled: reach out another way": GiftStatus.CANCELLED.value,
}
GIFT_COLUMNS = [
    "Recipient",
    "Status",
    "Last update",
    "Invitation",
    "Reminder",
    "Redemption URL",
    "Gift request ID",
    "Sent by",
    "status",
]


def gifts_frame(store: Store) -> pd.DataFrame:
    """Every gift the store knows (ours and other tools'), newest update first."""
    senders = store.senders()
    emails = store.invitations()
    rows = [
        {
            "Recipient": g.email,
            "Status": status_label(g.status) or "Unknown",
            "status": g.status or "",
            "Last update": shown(g.updated_at),
            "Invitation": email_label(emails.get((g.gift_request_id, InviteKind.INVITATION))),
            "Reminder": email_label(emails.get((g.gift_request_id, InviteKind.REMINDER))),
            "Redemption URL": g.redemption_url or "",
            "Gift request ID": g.gift_request_id,
            "Sent by": senders.get(g.gift_request_id, "other tool"),
        }
        for g in store.gifts()
    ]
    return pd.DataFrame(rows, columns=GIFT_COLUMNS)


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


def history_frame(store: Store, gift_request_id: str | None = None) -> pd.DataFrame:
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
