"""Who gets an invitation (or a reminder), and why every other row does not: one function,
`plan_invitations`, that the CLI's summary and dry run, the app's preview and the run share.

A row is emailed only when it is approved, carries a gift id and a redemption link, the gift
is not cancelled, the person is not on the do-not-gift list, the row does not already show
`Invitation sent at` (even a store that never saw that email must not send it again: the row
is the record that survives a wiped disk), and the invitation journal holds nothing for that
gift but a failure.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd

from . import donotgift
from . import eligibility as elig
from .headers import normalise_header
from .invite_template import (
    BUILT_INS,
    EMAIL,
    FIRST_NAME,
    LAST_NAME,
    MESSAGE,
    MESSAGE_COLUMN,
    REDEMPTION_URL,
    SENDER_NAME,
    RowValueMissing,
    Template,
    bind_columns,
    render,
)
from .models import GiftStatus, normalize_email, parse_iso, utcnow
from .own_columns import refuse_foreign_invitation_columns
from .recipients import RowCheck, check_rows
from .sheet_rows import spreadsheet_rows
from .smtp_url import Sender
from .sources import LoadedList
from .store import Store
from .store.invitations import InvitationRecord, InviteKind, InviteState
from .timefmt import shown
from .writeback import (
    GIFT_REQUEST_ID,
    GIFT_STATUS,
    INVITATION_ERROR,
    INVITATION_SENT_AT,
    RowResult,
    result_values,
)
from .writeback import REDEMPTION_URL as REDEMPTION_URL_COLUMN

UNKNOWN_INVITE = (
    "Unknown: the mail server may have accepted this email before the connection was lost. Ask the person "
    "or check the Sent folder; to email again run invite with --clear-unknown-invite {email}."
)


class InviteAction(enum.StrEnum):
    EMAIL = "email"
    NOT_APPROVED = "not approved"
    NO_GIFT = "no gift yet"
    CANCELLED = "gift cancelled"
    DO_NOT_GIFT = "do not gift"
    ALREADY = "already emailed"
    UNKNOWN = "unknown outcome"
    REFUSED = "refused by the server"
    ROW_ERROR = "template value missing"
    DUPLICATE = "duplicate gift"
    NOT_DUE = "not due"  # reminders: no invitation yet, or not long enough ago
    NOT_SUBMITTED = "gift moved on"  # reminders: redeemed, dispatched, delivered


@dataclass(frozen=True)
class InviteItem:
    """One email the run sends: who, for which gift, and the row's placeholder values."""

    row_key: str
    row_number: int
    email: str  # as typed
    name: str
    gift_request_id: str
    values: Mapping[str, str] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)  # placeholder → the column it came from


@dataclass(frozen=True)
class InviteRow:
    row_key: str
    row_number: int
    email: str
    action: InviteAction
    message: str = ""
    item: InviteItem | None = None
    record: InvitationRecord | None = None


@dataclass(frozen=True)
class InvitePlan:
    kind: InviteKind
    rows: tuple[InviteRow, ...]

    @property
    def items(self) -> list[InviteItem]:
        return [r.item for r in self.rows if r.action == InviteAction.EMAIL and r.item is not None]

    def counts(self) -> dict[str, int]:
        return {a.value: sum(1 for r in self.rows if r.action == a) for a in InviteAction}

    def results(self) -> list[RowResult]:
        """What the rows should show before the run: a sent invitation's time restored where the
        cell was lost, unknown and refused emails, and rows the template cannot fill."""
        if self.kind != InviteKind.INVITATION:
            return []
        out = []
        for r in self.rows:
            rec = r.record
            if r.action == InviteAction.ALREADY and rec is not None and rec.state == InviteState.SENT:
                values = {INVITATION_SENT_AT: shown(rec.finished_at or rec.attempted_at), INVITATION_ERROR: ""}
            elif r.action in (InviteAction.UNKNOWN, InviteAction.REFUSED, InviteAction.ROW_ERROR):
                values = {INVITATION_ERROR: r.message}
            else:
                continue
            out.append(RowResult(r.row_key, r.email, values))
        return out


@dataclass(frozen=True)
class Reminding:
    """`--remind-after`: remind people whose gift is still Submitted this long after their invitation."""

    after: timedelta
    now: datetime


def plan_invitations(
    loaded: LoadedList,
    store: Store,
    template: Template,
    sender: Sender,
    *,
    kind: InviteKind = InviteKind.INVITATION,
    reminding: Reminding | None = None,
    checks: Sequence[RowCheck] | None = None,
) -> InvitePlan:
    """Decide each row (see the module docstring). A placeholder naming a column the list lacks
    raises TemplateError here, before anything is sent; a column of the user's own named like an
    invitation result raises ForeignInvitationColumn. `checks`: the list's rows as a review
    already checked them (the same frame's names, emails and approvals), not checked again."""
    bound = bind_columns(template, loaded.user_columns)
    if kind == InviteKind.INVITATION:  # reminders write nothing on the row
        refuse_foreign_invitation_columns(loaded, store)
    frame = loaded.frame
    keys = [str(k) for k in frame.index]
    checks = check_rows(frame, loaded.cmap, keys, spreadsheet_rows(loaded)) if checks is None else checks
    ids, urls, invited = (_column(frame, c) for c in (GIFT_REQUEST_ID, REDEMPTION_URL_COLUMN, INVITATION_SENT_AT))
    row_status = _column(frame, GIFT_STATUS)
    statuses = {g.gift_request_id: (g.status or "") for g in store.gifts()}
    gift_ids = {g.strip() for g in ids if g.strip()}
    journal = store.invitations(gift_ids=gift_ids)
    blocked = _do_not_gift(frame, loaded, store)
    message_col = _message_column(loaded)
    seen: set[str] = set()
    rows = []
    for i, c in enumerate(checks):
        gid, url = ids[i].strip(), urls[i].strip()
        rec = journal.get((gid, kind)) if gid else None
        if not c.approved:  # the first rule, and most rows of a large list: nothing else to read
            rows.append(InviteRow(c.row_key, c.row_number, c.recipient.email, InviteAction.NOT_APPROVED, "", None, rec))
            continue
        status = _status(statuses.get(gid, ""), row_status[i]) if gid and url else ""  # read after these two only
        # the row's `Invitation sent at` records the invitation: it holds back a second one, not the reminder
        shows_sent = invited[i] if kind == InviteKind.INVITATION else ""
        action, why = _decide(c.approved, gid, url, status, blocked.get(c.row_key), shows_sent, rec, c.recipient.email)
        if action is None and gid in seen:
            action, why = InviteAction.DUPLICATE, "Another row above carries the same gift: emailed there."
        if action is None and kind == InviteKind.REMINDER:
            first = journal.get((gid, InviteKind.INVITATION))
            action, why = _reminder_due(first, invited[i], status, reminding)
        if action is not None:
            rows.append(InviteRow(c.row_key, c.row_number, c.recipient.email, action, why, None, rec))
            continue
        seen.add(gid)
        item = _item(loaded, i, c, gid, url, bound, message_col, sender)
        try:
            render(template, item.values, item.sources)
        except RowValueMissing as exc:
            rows.append(
                InviteRow(c.row_key, c.row_number, c.recipient.email, InviteAction.ROW_ERROR, exc.message, None, rec)
            )
            continue
        rows.append(InviteRow(c.row_key, c.row_number, c.recipient.email, InviteAction.EMAIL, "", item, rec))
    return InvitePlan(kind, tuple(rows))


def _status(stored: str, on_row: str) -> str:
    """The gift's status, lowercased: cancelled when the store or the row says so, else the store's
    (the row's when the store has none)."""
    if GiftStatus.CANCELLED in {stored.strip().lower(), on_row.strip().lower()}:
        return str(GiftStatus.CANCELLED)
    return (stored or on_row).strip().lower()


def carries_gifts(frame: pd.DataFrame) -> bool:
    """Whether any row carries a gift id. Without one no row has an invitation to show: every
    row `InvitePlan.results` writes is about its gift (emailed, unknown, refused, a template
    value missing for its email), so a page can leave the plan out."""
    ids = result_values(frame, GIFT_REQUEST_ID)
    return ids is not None and bool(ids.str.strip().ne("").any())


PENDING_LINK = "https://link.invalid/the-gift-link-once-the-gift-is-sent"


def preview_item(loaded: LoadedList, row_key: str, template: Template, sender: Sender) -> InviteItem:
    """Any row's values for the preview (the app's), from the same code the run's items come
    from; a row without a gift yet shows PENDING_LINK where its link will be."""
    keys = [str(k) for k in loaded.frame.index]
    i = keys.index(row_key)
    check = check_rows(loaded.frame.iloc[i : i + 1], loaded.cmap, [row_key], spreadsheet_rows(loaded)[i : i + 1])[0]
    ids, urls = (_column(loaded.frame, c)[i].strip() for c in (GIFT_REQUEST_ID, REDEMPTION_URL_COLUMN))
    bound = bind_columns(template, loaded.user_columns)
    return _item(loaded, i, check, ids or "preview", urls or PENDING_LINK, bound, _message_column(loaded), sender)


def _item(
    loaded: LoadedList,
    i: int,
    check: RowCheck,
    gid: str,
    url: str,
    bound: Mapping[str, str],
    message_col: str | None,
    sender: Sender,
) -> InviteItem:
    row, recipient = loaded.frame.iloc[i], check.recipient
    values = {
        FIRST_NAME: recipient.first_name,
        LAST_NAME: recipient.last_name,
        EMAIL: recipient.email,
        REDEMPTION_URL: url,
        SENDER_NAME: sender.name,
        MESSAGE: str(row[message_col]) if message_col else "",
        **{p: str(row[col]) for p, col in bound.items()},
    }
    sources = {**_builtin_sources(loaded), **bound}
    name = " ".join(f"{recipient.first_name} {recipient.last_name}".split())
    return InviteItem(str(loaded.frame.index[i]), check.row_number, recipient.email, name, gid, values, sources)


def _message_column(loaded: LoadedList) -> str | None:
    key = normalise_header(MESSAGE_COLUMN)
    return next((c for c in loaded.user_columns if normalise_header(c) == key), None)


def _decide(
    approved: bool,
    gid: str,
    url: str,
    status: str,
    listed: str | None,
    invited_cell: str,
    rec: InvitationRecord | None,
    email: str,
) -> tuple[InviteAction | None, str]:
    """The first rule that keeps a row from being emailed, or (None, "")."""
    if not approved:
        return InviteAction.NOT_APPROVED, ""
    if not gid or not url:
        return InviteAction.NO_GIFT, "No gift id or redemption link on this row yet: send the gift first."
    if status == GiftStatus.CANCELLED:
        return InviteAction.CANCELLED, "The gift was cancelled: no invitation."
    if listed:
        return InviteAction.DO_NOT_GIFT, listed
    if rec is not None and rec.state == InviteState.SENT:
        return InviteAction.ALREADY, ""
    if invited_cell.strip() and rec is None:
        return InviteAction.ALREADY, "This row already shows Invitation sent at: never emailed twice."
    if rec is not None and rec.state in (InviteState.UNKNOWN, InviteState.ATTEMPTING):
        return InviteAction.UNKNOWN, UNKNOWN_INVITE.format(email=email.strip())
    if rec is not None and rec.state == InviteState.REFUSED and rec.email == normalize_email(email):
        return InviteAction.REFUSED, rec.error or "Refused by the mail server."
    if not url.lower().startswith(("https://", "http://")):
        return InviteAction.ROW_ERROR, "Not sent: the Redemption URL on this row is not a web link."
    return None, ""


def _reminder_due(
    first: InvitationRecord | None, invited_cell: str, status: str, reminding: Reminding | None
) -> tuple[InviteAction | None, str]:
    if reminding is None:
        return InviteAction.NOT_DUE, "No --remind-after given."
    if status and status != GiftStatus.SUBMITTED:
        return InviteAction.NOT_SUBMITTED, f"The gift is {status}: no reminder."
    at = parse_iso(first.finished_at) if first is not None and first.state == InviteState.SENT else None
    at = at or parse_iso(invited_cell.strip().removesuffix(" UTC").replace(" ", "T") or None)
    if at is None:
        return InviteAction.NOT_DUE, "No invitation was sent yet."
    if reminding.now - at < reminding.after:
        return InviteAction.NOT_DUE, f"Invited {shown(at)}: not due yet."
    return None, ""


def _column(frame: pd.DataFrame, canonical: str) -> list[str]:
    values = result_values(frame, canonical)
    return [""] * len(frame) if values is None else values.tolist()


def _do_not_gift(frame: pd.DataFrame, loaded: LoadedList, store: Store) -> dict[str, str]:
    if not loaded.cmap.email:
        return {}
    listed = elig.do_not_gift(frame[loaded.cmap.email], donotgift.index(store.do_not_gift()))
    return {str(k): r for k, r in listed.items() if r}


def _builtin_sources(loaded: LoadedList) -> dict[str, str]:
    cmap = loaded.cmap
    return {
        FIRST_NAME: cmap.first_name or "first name",
        LAST_NAME: cmap.last_name or "last name",
        EMAIL: cmap.email or "email",
        REDEMPTION_URL: REDEMPTION_URL_COLUMN,
        SENDER_NAME: "GIFTRUN_INVITE_FROM",
    }


def now_reminding(after: timedelta | None) -> Reminding | None:
    return Reminding(after, utcnow()) if after is not None else None


__all__ = [
    "BUILT_INS",
    "InviteAction",
    "InviteItem",
    "InvitePlan",
    "InviteRow",
    "Reminding",
    "carries_gifts",
    "plan_invitations",
]
