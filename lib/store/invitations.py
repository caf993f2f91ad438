"""The invitation journal: one line per gift and kind (the invitation, the reminder), written
before the SMTP transaction and given its outcome after, so a crash, a kill, a lost answer or
a second host never emails a person twice about one gift.

The same shape as the send journal (journal.py): the claim checks the do-not-gift list and
the team's email daily limit in the same transaction as the line, under locks on the gift
(and, with a limit, on the team's count); only a `failed` line (nothing was accepted) may be
claimed again; an `attempting` line left by a dead run becomes `unknown`, never re-sent by
itself, until a person clears it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from ..donotgift import Entry
from ..guardrails import WINDOW, DailyRoom
from ..models import iso, normalize_email, utcnow
from .database import Database
from .records import RunRecord

EMAIL_DAILY_LOCK = "email-daily-limit"
UNKNOWN_AFTER_CRASH = "Unknown: Giftrun stopped while this email was being sent; it may have been delivered."


class InviteKind(enum.StrEnum):
    INVITATION = "invitation"
    REMINDER = "reminder"


class InviteState(enum.StrEnum):
    ATTEMPTING = "attempting"  # written before the SMTP transaction; left behind by a crash = unknown
    SENT = "sent"
    FAILED = "failed"  # the server did not take it: safe to send again
    REFUSED = "refused"  # a permanent refusal of this recipient (5xx): fix the address first
    UNKNOWN = "unknown"  # the server may have taken it: a person must check


HELD = (InviteState.ATTEMPTING, InviteState.SENT, InviteState.UNKNOWN)


class InviteRefusal(enum.StrEnum):
    HELD = "held by the invitation journal"
    DO_NOT_GIFT = "do-not-gift"
    DAILY_LIMIT = "email daily limit"


@dataclass(frozen=True)
class InviteClaim:
    claimed: bool
    refusal: InviteRefusal | None = None
    reason: str = ""
    room: DailyRoom | None = None


@dataclass(frozen=True)
class InvitationRecord:
    gift_request_id: str
    kind: InviteKind
    list_key: str | None
    row_key: str | None
    email: str
    state: InviteState
    run_id: str | None
    message_id: str | None
    error: str | None
    attempted_at: str | None
    finished_at: str | None


_CLAIM = """
INSERT INTO {t} (gift_request_id, kind, list_key, row_key, email, state, run_id, message_id, error,
                 attempted_at, finished_at)
VALUES (:gift, :kind, :list_key, :row_key, :email, 'attempting', :run_id, :msg_id, NULL, :now, NULL)
ON CONFLICT (gift_request_id, kind) DO UPDATE SET
    list_key=excluded.list_key, row_key=excluded.row_key, email=excluded.email, state='attempting',
    run_id=excluded.run_id, message_id=excluded.message_id, error=NULL, attempted_at=excluded.attempted_at,
    finished_at=NULL
WHERE {t}.state IN ('failed', 'refused')"""

# A line already `sent` keeps it: a late `failed`/`unknown` from a slow worker never takes it back.
_OUTCOME = """
UPDATE {t} SET state=:state, error=:error, finished_at=:now
WHERE gift_request_id=:gift AND kind=:kind AND (state<>'sent' OR :state='sent')"""

_DAILY = """
SELECT COUNT(*) AS used, MIN(attempted_at) AS oldest FROM {t}
WHERE state IN ('sent', 'attempting', 'unknown') AND attempted_at >= :since"""


def _record(r) -> InvitationRecord:
    return InvitationRecord(
        gift_request_id=r["gift_request_id"],
        kind=InviteKind(r["kind"]),
        list_key=r["list_key"],
        row_key=r["row_key"],
        email=r["email"],
        state=InviteState(r["state"]),
        run_id=r["run_id"],
        message_id=r["message_id"],
        error=r["error"],
        attempted_at=r["attempted_at"],
        finished_at=r["finished_at"],
    )


class InvitationsMixin:
    db: Database

    if TYPE_CHECKING:  # provided by the other parts of Store

        def live_runs(self, list_key: str | None = None) -> list[RunRecord]: ...

        def _audit(
            self, conn: Connection, actor: str, action: str, list_key: str | None, email: str | None, detail: str
        ) -> None: ...

        def _blocking(self, conn: Connection, email: str) -> Entry | None: ...

    def claim_invitation(
        self,
        gift_request_id: str,
        kind: InviteKind,
        *,
        email: str,
        list_key: str,
        row_key: str,
        run_id: str,
        message_id: str,
        daily_limit: int | None = None,
    ) -> InviteClaim:
        """Journal an email before its SMTP transaction, with every rule in the same transaction."""
        db, t, person = self.db, self.db.table("invitations"), normalize_email(email)
        with db.write() as conn:
            db.lock(conn, f"invite:{gift_request_id}", *((EMAIL_DAILY_LOCK,) if daily_limit is not None else ()))
            now = utcnow()
            if (listed := self._blocking(conn, person)) is not None:
                return InviteClaim(False, InviteRefusal.DO_NOT_GIFT, listed.skip_reason())
            if daily_limit is not None:
                room = self._email_room(conn, daily_limit, now)
                if room.left == 0:
                    return InviteClaim(False, InviteRefusal.DAILY_LIMIT, "", room)
            cur = db.execute(
                conn,
                _CLAIM.format(t=t),
                {
                    "gift": gift_request_id,
                    "kind": InviteKind(kind).value,
                    "list_key": list_key,
                    "row_key": row_key,
                    "email": person,
                    "run_id": run_id,
                    "msg_id": message_id,
                    "now": iso(now),
                },
            )
            return InviteClaim(True) if cur.rowcount == 1 else InviteClaim(False, InviteRefusal.HELD)

    def record_invitation(
        self, gift_request_id: str, kind: InviteKind, state: InviteState, *, error: str | None = None
    ) -> str:
        """The outcome of a claimed email; returns the time recorded (what the row shows)."""
        now = iso(utcnow())
        with self.db.write() as conn:
            self.db.execute(
                conn,
                _OUTCOME.format(t=self.db.table("invitations")),
                {
                    "gift": gift_request_id,
                    "kind": InviteKind(kind).value,
                    "state": state.value,
                    "error": error,
                    "now": now,
                },
            )
        return now

    def forget_invitation(self, gift_request_id: str, kind: InviteKind, run_id: str) -> None:
        """Undo a claim whose SMTP transaction never started (the run stopped first)."""
        with self.db.write() as conn:
            self.db.execute(
                conn,
                f"DELETE FROM {self.db.table('invitations')} WHERE gift_request_id=:g AND kind=:k "
                "AND run_id=:r AND state='attempting'",
                {"g": gift_request_id, "k": InviteKind(kind).value, "r": run_id},
            )

    def invitations(
        self, *, list_key: str | None = None, gift_ids: Iterable[str] | None = None
    ) -> dict[tuple[str, InviteKind], InvitationRecord]:
        """(gift id, kind) → its line: of one list, or of the given gifts (whatever list sent them)."""
        t = self.db.table("invitations")
        with self.db.read() as conn:
            if gift_ids is not None:
                ids = sorted(set(gift_ids))
                rows = (
                    self.db.execute(conn, f"SELECT * FROM {t} WHERE gift_request_id IN :ids", {"ids": ids})
                    .mappings()
                    .all()
                    if ids
                    else []
                )
            elif list_key is not None:
                rows = self.db.execute(conn, f"SELECT * FROM {t} WHERE list_key=:l", {"l": list_key}).mappings().all()
            else:
                rows = self.db.execute(conn, f"SELECT * FROM {t}").mappings().all()
        return {(r["gift_request_id"], InviteKind(r["kind"])): _record(r) for r in rows}

    def mark_invitation_orphans_unknown(self, run_key: str) -> int:
        """Lines left `attempting` by a run of `run_key` that is no longer alive become unknown:
        the server may have taken the message before the process died."""
        live = {r.run_id for r in self.live_runs(run_key)}
        t = self.db.table("invitations")
        runs = self.db.table("runs")
        with self.db.write() as conn:
            rows = self.db.execute(
                conn,
                f"SELECT i.gift_request_id, i.kind, i.run_id FROM {t} i JOIN {runs} r ON r.run_id=i.run_id "
                "WHERE i.state='attempting' AND r.list_key=:k",
                {"k": run_key},
            ).all()
            orphaned = [(g, k) for g, k, run_id in rows if run_id not in live]
            if orphaned:
                self.db.execute(
                    conn,
                    f"UPDATE {t} SET state='unknown', error=:err, finished_at=:now "
                    "WHERE gift_request_id=:g AND kind=:k AND state='attempting'",
                    [{"err": UNKNOWN_AFTER_CRASH, "now": iso(utcnow()), "g": g, "k": k} for g, k in orphaned],
                )
        return len(orphaned)

    def clear_unknown_invitation(self, list_key: str, email: str, actor: str) -> int:
        """A person checked the recipient's mailbox (or asked them): this person's unknown emails
        from this list may be sent again. Returns how many lines were cleared."""
        person = normalize_email(email)
        with self.db.write() as conn:
            cur = self.db.execute(
                conn,
                f"DELETE FROM {self.db.table('invitations')} WHERE list_key=:l AND email=:e AND state='unknown'",
                {"l": list_key, "e": person},
            )
            if cur.rowcount:
                self._audit(
                    conn, actor, "clear-unknown-invite", list_key, person, "checked: not received; may be emailed again"
                )
            return int(cur.rowcount)

    def save_invite_template(self, list_key: str, kind: InviteKind, text: str, actor: str) -> None:
        """The template the app's editor keeps with the list (the CLI reads a file instead)."""
        with self.db.write() as conn:
            self.db.execute(
                conn,
                f"INSERT INTO {self.db.table('invite_templates')} (list_key, kind, text, updated_by, updated_at) "
                "VALUES (:l, :k, :t, :a, :now) ON CONFLICT (list_key, kind) DO UPDATE SET "
                "text=excluded.text, updated_by=excluded.updated_by, updated_at=excluded.updated_at",
                {"l": list_key, "k": InviteKind(kind).value, "t": text, "a": actor, "now": iso(utcnow())},
            )

    def invite_template(self, list_key: str, kind: InviteKind = InviteKind.INVITATION) -> str | None:
        with self.db.read() as conn:
            return self.db.execute(
                conn,
                f"SELECT text FROM {self.db.table('invite_templates')} WHERE list_key=:l AND kind=:k",
                {"l": list_key, "k": InviteKind(kind).value},
            ).scalar()

    def email_room(self, limit: int, now: datetime | None = None) -> DailyRoom:
        with self.db.read() as conn:
            return self._email_room(conn, limit, now or utcnow())

    def _email_room(self, conn: Connection, limit: int, now: datetime) -> DailyRoom:
        row = (
            self.db.execute(conn, _DAILY.format(t=self.db.table("invitations")), {"since": iso(now - WINDOW)})
            .mappings()
            .first()
        )
        return DailyRoom(limit, int(row["used"] or 0), row["oldest"])
