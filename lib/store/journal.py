"""The send journal: a line is written before a gift is attempted and its outcome after,
so a crash, a kill or a lost answer never leads to a second gift."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from ..donotgift import Entry
from ..guardrails import WINDOW, DailyRoom
from ..models import Recipient, SendState, iso, normalize_email, utcnow
from .database import Database
from .records import (
    NO_LOOKBACK,
    UNKNOWN_AFTER_CRASH,
    Claim,
    JournalEntry,
    Refusal,
    RunRecord,
    entry_from,
    unknown_elsewhere_reason,
)

_CLAIM = """
INSERT INTO {sends} (list_key, email, state, run_id, row_key, first_name, last_name, email_as_typed,
                     campaign_id, attempted_at)
VALUES (:list_key, :email, :state, :run_id, :row_key, :first, :last, :typed, :campaign, :now)
ON CONFLICT (list_key, email) DO UPDATE SET
    state=excluded.state, run_id=excluded.run_id, row_key=excluded.row_key,
    first_name=excluded.first_name, last_name=excluded.last_name, email_as_typed=excluded.email_as_typed,
    campaign_id=excluded.campaign_id, attempted_at=excluded.attempted_at, error=NULL, request_id=NULL,
    finished_at=NULL
WHERE {sends}.state IN ('rejected', 'failed')"""

_OUTCOME = """
INSERT INTO {sends} (list_key, email, state, gift_request_id, redemption_url, error, request_id,
                     attempted_at, finished_at)
VALUES (:list_key, :email, :state, :gift, :url, :error, :request_id, :now, :now)
ON CONFLICT (list_key, email) DO UPDATE SET
    state=CASE WHEN {resolved} THEN {sends}.state ELSE excluded.state END,
    gift_request_id=COALESCE(excluded.gift_request_id, {sends}.gift_request_id),
    redemption_url=COALESCE(excluded.redemption_url, {sends}.redemption_url),
    error=CASE WHEN {resolved} THEN NULL ELSE excluded.error END,
    request_id=excluded.request_id, finished_at=excluded.finished_at"""
# &Open's own update already made this line sent (its answer to us was lost or is late): a later
# "unknown" or "not sent" from the worker must not take that back.
_RESOLVED = "{sends}.state='sent' AND {sends}.gift_request_id IS NOT NULL AND excluded.state IN ('unknown', 'failed')"

_LOOKBACK = """
SELECT list_key, attempted_at FROM {sends}
WHERE email=:email AND list_key<>:list_key AND state IN ('sent', 'attempting', 'unknown')
  AND (CAST(:since AS TEXT) IS NULL OR attempted_at >= :since)
ORDER BY attempted_at DESC LIMIT 1"""

# A send from another list that may have created a gift: held whatever the look-back, even off.
_ELSEWHERE = """
SELECT * FROM {sends} WHERE state IN ('unknown', 'attempting') AND list_key<>:list_key"""

# The daily limit counts what is or may be a gift, in every list (index sends_state).
_DAILY = """
SELECT COUNT(*) AS used, MIN(attempted_at) AS oldest FROM {sends}
WHERE state IN ('sent', 'attempting', 'unknown') AND attempted_at >= :since"""
DAILY_LOCK = "daily-limit"  # one lock for the whole team's count, taken only when a limit is set


class JournalMixin:
    db: Database

    if TYPE_CHECKING:  # provided by the other parts of Store

        def live_runs(self, list_key: str | None = None) -> list[RunRecord]: ...

        def _audit(
            self, conn: Connection, actor: str, action: str, list_key: str | None, email: str | None, detail: str
        ) -> None: ...

        def _blocking(self, conn: Connection, email: str) -> Entry | None: ...

        def settle_unsaved(self) -> int: ...

    def begin_attempt(
        self,
        list_key: str,
        recipient: Recipient,
        *,
        row_key: str,
        campaign_id: str,
        run_id: str,
        lookback_since: str | None | object = NO_LOOKBACK,
    ) -> bool:
        """Journal a send before it is attempted. False when this person must not be sent
        (already sent, outcome unknown, attempted by a live run, or, with a look-back, just
        gifted from another list)."""
        return self.claim(
            list_key, recipient, row_key=row_key, campaign_id=campaign_id, run_id=run_id, lookback_since=lookback_since
        ).claimed

    def claim(
        self,
        list_key: str,
        recipient: Recipient,
        *,
        row_key: str,
        campaign_id: str,
        run_id: str,
        lookback_since: str | None | object = NO_LOOKBACK,
        daily_limit: int | None = None,
    ) -> Claim:
        """`begin_attempt` with the rule that refused it. Every rule is checked here, in the same
        transaction as the journal line, under a lock on the person (and, with a daily limit,
        on the team's count), so two runs at the same moment on two hosts cannot both pass
        one: the do-not-gift list (no look-back override lifts it), the look-back
        (`lookback_since` an ISO time, None = forever; an override lifts it), the daily limit
        (at most `daily_limit` gifts in any 24 hours, across every list)."""
        db, email = self.db, normalize_email(recipient.email)
        sends = db.table("sends")
        with db.write() as conn:
            db.lock(conn, f"person:{email}", *((DAILY_LOCK,) if daily_limit is not None else ()))
            now = utcnow()  # after the locks: the time the count and the journal line are taken
            if (listed := self._blocking(conn, email)) is not None:
                return Claim(False, listed.skip_reason(), Refusal.DO_NOT_GIFT)
            if (
                lookback_since is not NO_LOOKBACK
                and not db.execute(
                    conn,
                    f"SELECT 1 FROM {db.table('overrides')} WHERE list_key=:l AND email=:e",
                    {"l": list_key, "e": email},
                ).first()
            ):
                other = (
                    db.execute(
                        conn,
                        _LOOKBACK.format(sends=sends),
                        {"email": email, "list_key": list_key, "since": lookback_since},
                    )
                    .mappings()
                    .first()
                )
                if other:
                    return Claim(
                        False,
                        f"Gifted {other['attempted_at'][:10]} from another list while this "
                        "run was going — inside the look-back window",
                        Refusal.LOOKBACK,
                    )
            unknown = db.execute(
                conn,
                _ELSEWHERE.format(sends=sends) + " AND email=:email AND state='unknown'",
                {"list_key": list_key, "email": email},
            )
            if (held := unknown.mappings().first()) is not None:  # whatever the look-back: only &Open knows
                return Claim(False, unknown_elsewhere_reason(entry_from(held)), Refusal.UNKNOWN_ELSEWHERE)
            if daily_limit is not None:
                room = self._daily_room(conn, daily_limit, now)
                if room.left == 0:
                    return Claim(False, room.stop_message(), Refusal.DAILY_LIMIT, room)
            cur = db.execute(
                conn,
                _CLAIM.format(sends=sends),
                {
                    "list_key": list_key,
                    "email": email,
                    "state": SendState.ATTEMPTING.value,
                    "run_id": run_id,
                    "row_key": row_key,
                    "first": recipient.first_name,
                    "last": recipient.last_name,
                    "typed": recipient.email,
                    "campaign": campaign_id,
                    "now": iso(now),
                },
            )
            return Claim(True) if cur.rowcount == 1 else Claim(False, refusal=Refusal.HELD)

    def daily_room(self, limit: int, now: datetime | None = None) -> DailyRoom:
        """How much of the team's 24-hour limit is left (what Review & send and the dry run show)."""
        with self.db.read() as conn:
            return self._daily_room(conn, limit, now or utcnow())

    def _daily_room(self, conn: Connection, limit: int, now: datetime) -> DailyRoom:
        row = (
            self.db.execute(conn, _DAILY.format(sends=self.db.table("sends")), {"since": iso(now - WINDOW)})
            .mappings()
            .first()
        )
        return DailyRoom(limit, int(row["used"] or 0), row["oldest"])

    def record_outcome(
        self,
        list_key: str,
        email: str,
        state: SendState,
        *,
        gift_request_id: str | None = None,
        redemption_url: str | None = None,
        error: str | None = None,
        request_id: str | None = None,
        at: str | None = None,
    ) -> None:
        """An upsert: an outcome is never dropped, even if the line was cleared meanwhile. `at` is
        the moment the row shows as `Sent at`, so a later rewrite from the journal matches it."""
        with self.db.write() as conn:
            sends = self.db.table("sends")
            self.db.execute(
                conn,
                _OUTCOME.format(sends=sends, resolved=_RESOLVED.format(sends=sends)),
                {
                    "list_key": list_key,
                    "email": normalize_email(email),
                    "state": SendState(state).value,
                    "gift": gift_request_id,
                    "url": redemption_url,
                    "error": error,
                    "request_id": request_id,
                    "now": at or iso(utcnow()),
                },
            )

    def forget_attempt(self, list_key: str, email: str, run_id: str) -> None:
        """Undo a begin_attempt that never sent anything (the run stopped first)."""
        with self.db.write() as conn:
            self.db.execute(
                conn,
                f"DELETE FROM {self.db.table('sends')} WHERE list_key=:l AND email=:e "
                "AND run_id=:r AND state='attempting'",
                {"l": list_key, "e": normalize_email(email), "r": run_id},
            )

    def journal(self, list_key: str) -> dict[str, JournalEntry]:
        with self.db.read() as conn:
            rows = (
                self.db.execute(conn, f"SELECT * FROM {self.db.table('sends')} WHERE list_key=:l", {"l": list_key})
                .mappings()
                .all()
            )
        return {r["email"]: entry_from(r) for r in rows}

    def held_elsewhere(self, list_key: str) -> dict[str, JournalEntry]:
        """Email → a send from another list whose outcome is unknown (an attempt whose run died
        counts: it is unknown, only not marked so yet): that person is held in this list too,
        whatever its look-back, until it resolves or is cleared. An attempt of a live run is not:
        it becomes sent or unknown within seconds, and the claim checks again."""
        with self.db.read() as conn:
            rows = self.db.execute(conn, _ELSEWHERE.format(sends=self.db.table("sends")), {"list_key": list_key})
            entries = [entry_from(r) for r in rows.mappings().all()]
        live = {r.run_id for r in self.live_runs()} if any(e.state == SendState.ATTEMPTING for e in entries) else set()
        return {e.email: e for e in entries if e.state == SendState.UNKNOWN or e.run_id not in live}

    def all_sends(self) -> list[JournalEntry]:
        """Every journalled send in every list (for the look-back check)."""
        with self.db.read() as conn:
            rows = self.db.execute(conn, f"SELECT * FROM {self.db.table('sends')}").mappings().all()
        return [entry_from(r) for r in rows]

    def mark_orphans_unknown(self, list_key: str) -> int:
        """Attempts left by a run that is no longer alive become UNKNOWN: the request may
        have reached &Open before the process died. First, what runs on this host learned while
        the store was away (unsaved.py): a claim never sent is no attempt at all."""
        self.settle_unsaved()
        live = {r.run_id for r in self.live_runs(list_key)}
        sends = self.db.table("sends")
        with self.db.write() as conn:
            rows = self.db.execute(
                conn, f"SELECT email, run_id FROM {sends} WHERE list_key=:l AND state='attempting'", {"l": list_key}
            ).all()
            orphaned = [email for email, run_id in rows if run_id not in live]
            if orphaned:
                self.db.execute(
                    conn,
                    f"UPDATE {sends} SET state='unknown', error=:err, finished_at=:now "
                    "WHERE list_key=:l AND email=:e AND state='attempting'",
                    [{"err": UNKNOWN_AFTER_CRASH, "now": iso(utcnow()), "l": list_key, "e": e} for e in orphaned],
                )
        return len(orphaned)

    def adopt_row_gifts(self, list_key: str, gift_ids: Mapping[str, str]) -> int:
        """Unknown lines whose row carries a gift id (email -> id) become sent with that id: Giftrun
        wrote it there from &Open's answer while the store was away, or a person did after checking
        &Open. Either way the gift exists, so the row is not "unknown". Audited; how many changed."""
        sends, adopted = self.db.table("sends"), 0
        with self.db.write() as conn:
            for email, gift_id in gift_ids.items():
                cur = self.db.execute(
                    conn,
                    f"UPDATE {sends} SET state='sent', gift_request_id=:g, error=NULL, "
                    "finished_at=COALESCE(finished_at, :now) "
                    "WHERE list_key=:l AND email=:e AND state='unknown' AND gift_request_id IS NULL",
                    {"g": gift_id, "now": iso(utcnow()), "l": list_key, "e": normalize_email(email)},
                )
                if cur.rowcount:
                    adopted += 1
                    self._audit(conn, "list", "adopt-gift-id", list_key, email, f"the row carries gift {gift_id}")
        return adopted

    def clear_unknown(self, list_key: str, email: str, actor: str, *, every_list: bool = False) -> bool:
        """A person checked &Open and found no gift: the row may be sent again. `every_list`: the
        person's unknown outcomes in other lists too (they hold this list's row just the same)."""
        sends, key = self.db.table("sends"), normalize_email(email)
        with self.db.write() as conn:
            where = "email=:e AND state='unknown'" + ("" if every_list else " AND list_key=:l")
            lists = [
                r[0]
                for r in self.db.execute(conn, f"SELECT list_key FROM {sends} WHERE {where}", {"l": list_key, "e": key})
            ]
            self.db.execute(conn, f"DELETE FROM {sends} WHERE {where}", {"l": list_key, "e": key})
            for cleared in lists:
                self._audit(conn, actor, "clear-unknown", cleared, email, "checked &Open: no gift; may be sent again")
            return bool(lists)
