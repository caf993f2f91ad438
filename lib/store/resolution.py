"""Unknown outcomes resolve themselves from &Open's own updates.

A send whose answer was lost (a timeout, a 500 after create, a kill) is held as unknown and
never retried blindly. &Open reports every gift it creates, and the update carries the gift
(id, campaign, recipient email, created_at). An update whose email and campaign match one
unknown (or still in flight) send, created around that attempt, *is* that send: the journal
line becomes sent with the gift's id and link, and the audit trail says from which event.
Anything less certain resolves nothing and says why.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from ..models import StatusEvent, iso, normalize_email, parse_iso, utcnow
from .database import Database

# How far a gift's created_at may be from the attempt and still be that attempt's gift:
# a little before (two clocks), and within a request's whole life after (timeouts, retries of
# a hung connection, a worker that was killed mid-request).
BEFORE_ATTEMPT = timedelta(seconds=60)
AFTER_ATTEMPT = timedelta(minutes=10)
ACTOR = "&Open update"
RESOLVED = "resolve-unknown"  # an unknown outcome resolved by &Open's update
CONFIRMED_IN_FLIGHT = "confirm-in-flight"  # the update arrived before the run heard &Open's answer


class ResolutionMixin:
    db: Database

    if TYPE_CHECKING:  # ListsMixin

        def _audit(
            self, conn: Connection, actor: str, action: str, list_key: str | None, email: str | None, detail: str
        ) -> None: ...

    def _resolve_unknowns(self, conn: Connection, events: list[StatusEvent]) -> None:
        candidates = {e.gift_request_id: e for e in events if e.email and e.campaign_id and e.created_at}
        if not candidates:
            return
        # One read for the whole batch: most updates are for gifts some line already holds.
        emails = sorted({normalize_email(e.email) for e in candidates.values()})
        lines: dict[str, list] = {}
        for start in range(0, len(emails), 200):
            for r in self.db.execute(
                conn,
                f"SELECT email, state, gift_request_id FROM {self.db.table('sends')} WHERE email IN :emails",
                {"emails": emails[start : start + 200]},
            ).all():
                lines.setdefault(r[0], []).append(r)
        for gift_id, event in candidates.items():
            mine = lines.get(normalize_email(event.email), [])
            if not mine or any(r[2] == gift_id for r in mine):
                continue  # nobody of ours, or already some line's gift: nothing was unknown about it
            self._resolve_one(conn, event)

    def _resolve_one(self, conn: Connection, event: StatusEvent) -> None:
        db, sends = self.db, self.db.table("sends")
        email, gift_id = normalize_email(event.email), event.gift_request_id
        created = parse_iso(event.created_at)
        if (
            created is None
            or db.execute(conn, f"SELECT 1 FROM {sends} WHERE gift_request_id=:g", {"g": gift_id}).first()
        ):
            return  # already some line's gift: nothing was unknown about it
        pending = (
            db.execute(
                conn, f"SELECT * FROM {sends} WHERE email=:e AND state IN ('unknown', 'attempting')", {"e": email}
            )
            .mappings()
            .all()
        )
        if not pending:
            self._second_gift(conn, event, email, created)
            return
        matches, why_not = _fitting_sends(pending, event, created)
        if len(matches) > 1:
            for p in matches:
                self._unresolved(
                    conn,
                    p,
                    event,
                    f"it could be the gift of {len(matches)} sends to this person "
                    "(in different lists); a person must check",
                )
            return
        for p, reason in why_not:
            self._unresolved(conn, p, event, reason)
        if not matches:
            return
        send = matches[0]
        attempted = parse_iso(send["attempted_at"])
        assert attempted is not None  # a journal line always has its attempt time
        rivals = self._rival_gifts(conn, email, event.campaign_id, gift_id, attempted)
        if rivals:
            self._unresolved(
                conn,
                send,
                event,
                f"&Open also reported gift {rivals[0][0]} for this person and campaign "
                "around the same time; a person must check which is this send's",
            )
            return
        db.execute(
            conn,
            f"UPDATE {sends} SET state='sent', gift_request_id=:g, "
            f"redemption_url=COALESCE(:u, redemption_url), error=NULL, finished_at=:now "
            "WHERE list_key=:l AND email=:e AND state IN ('unknown', 'attempting')",
            {"g": gift_id, "u": event.redemption_url, "now": iso(utcnow()), "l": send["list_key"], "e": email},
        )
        after = (created - attempted).total_seconds() if attempted else 0.0
        self._audit(
            conn,
            ACTOR,
            RESOLVED if send["state"] == "unknown" else CONFIRMED_IN_FLIGHT,  # only the first was ever unknown
            send["list_key"],
            email,
            f"Resolved from &Open's update {event.event_id} ({event.event_type or event.source}): gift "
            f"{gift_id}, campaign {event.campaign_id}, created {event.created_at} ({after:+.0f} s from the "
            "attempt)",
        )

    def _rival_gifts(
        self, conn: Connection, email: str, campaign_id: str | None, gift_id: str, attempted: datetime
    ) -> list:
        """Other gifts &Open reported for this person and campaign around the attempt: any one
        makes the match ambiguous."""
        db = self.db
        return [
            r
            for r in db.execute(
                conn,
                f"SELECT gift_request_id, created_at FROM {db.table('events')} WHERE email=:e AND campaign_id=:c "
                "AND gift_request_id<>:g AND created_at IS NOT NULL",
                {"e": email, "c": campaign_id, "g": gift_id},
            )
            if (t := parse_iso(r[1])) is not None and attempted - BEFORE_ATTEMPT <= t <= attempted + AFTER_ATTEMPT
        ]

    def _second_gift(self, conn: Connection, event: StatusEvent, email: str, created) -> None:
        """A line resolved from one gift, and now &Open reports another that fits it just as
        well: which is this send's is no longer certain, so the line goes back to unknown
        (still never sent again) for a person to check."""
        db, sends = self.db, self.db.table("sends")
        audit = db.table("audit")
        for line in (
            db.execute(
                conn,
                f"SELECT * FROM {sends} WHERE email=:e AND state='sent' AND campaign_id=:c",
                {"e": email, "c": event.campaign_id},
            )
            .mappings()
            .all()
        ):
            attempted = parse_iso(line["attempted_at"])
            if attempted is None or not attempted - BEFORE_ATTEMPT <= created <= attempted + AFTER_ATTEMPT:
                continue
            if not db.execute(
                conn,
                f"SELECT 1 FROM {audit} WHERE list_key=:l AND email=:e AND action IN ('{RESOLVED}', "
                f"'{CONFIRMED_IN_FLIGHT}') AND detail LIKE :d",
                {"l": line["list_key"], "e": email, "d": f"%gift {line['gift_request_id']},%"},
            ).first():
                continue  # this line's gift came from &Open's own answer: certain
            reason = (
                f"Unknown outcome — two gifts in &Open fit this send ({line['gift_request_id']} and "
                f"{event.gift_request_id}); check which is this send's in &Open"
            )
            db.execute(
                conn,
                f"UPDATE {sends} SET state='unknown', gift_request_id=NULL, error=:r WHERE list_key=:l AND email=:e",
                {"r": reason, "l": line["list_key"], "e": email},
            )
            self._unresolved(
                conn,
                line,
                event,
                f"a second gift fits the send resolved from {line['gift_request_id']}; "
                "it is unknown again until a person checks",
            )

    def _unresolved(self, conn: Connection, send, event: StatusEvent, reason: str) -> None:
        self._audit(
            conn,
            ACTOR,
            "unresolved",
            send["list_key"],
            send["email"],
            f"Update {event.event_id} (gift {event.gift_request_id}) did not resolve this unknown outcome: {reason}",
        )

    def resolutions(self, list_key: str) -> list[dict]:
        """What &Open's updates did to this list's unknown outcomes, newest first."""
        with self.db.read() as conn:
            rows = (
                self.db.execute(
                    conn,
                    f"SELECT * FROM {self.db.table('audit')} WHERE list_key=:l AND "
                    f"action IN ('{RESOLVED}', 'unresolved') ORDER BY id DESC",
                    {"l": list_key},
                )
                .mappings()
                .all()
            )
        return [dict(r) for r in rows]


def _fitting_sends(pending: list, event: StatusEvent, created: datetime) -> tuple[list, list]:
    """The pending sends this gift could be (same campaign, created around the attempt), and
    for every other one why not."""
    matches, why_not = [], []
    for p in pending:
        attempted = parse_iso(p["attempted_at"])
        if p["campaign_id"] != event.campaign_id:
            why_not.append((p, f"it is for campaign {event.campaign_id}, the send was for {p['campaign_id']}"))
        elif attempted is None or not attempted - BEFORE_ATTEMPT <= created <= attempted + AFTER_ATTEMPT:
            why_not.append(
                (
                    p,
                    f"the gift was created {event.created_at}, too far from the attempt "
                    f"({p['attempted_at']}) to be its gift",
                )
            )
        else:
            matches.append(p)
    return matches, why_not
