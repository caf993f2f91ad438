"""Status history: every update for every gift, deduplicated on the event id, with each
gift's latest status kept current whatever order the events arrive in; and the outbox of
events waiting to be copied elsewhere (a sheet's history tab)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from ..history import latest_status
from ..models import EventSource, StatusEvent, iso, normalize_email, utcnow
from .database import Database
from .records import GiftRecord, event_from, gift_from

_CHUNK = 200  # rows per multi-row statement (2,000 parameters: inside SQLite's and Postgres's limits)

_UPSERT_GIFT = """
INSERT INTO {gifts} (gift_request_id, email, status, redemption_url, first_seen_at, updated_at)
VALUES (:gift, :email, :status, :url, :first, :last)
ON CONFLICT (gift_request_id) DO UPDATE SET email=excluded.email, status=excluded.status,
    redemption_url=excluded.redemption_url, first_seen_at=excluded.first_seen_at, updated_at=excluded.updated_at"""


class EventsMixin:
    db: Database

    if TYPE_CHECKING:  # ResolutionMixin

        def _resolve_unknowns(self, conn: Connection, events: list[StatusEvent]) -> None: ...

    def add_event(self, event: StatusEvent) -> bool:
        """Store one event durably; False for a duplicate event id."""
        return bool(self.add_events([event]))

    def add_events(self, events: list[StatusEvent]) -> list[StatusEvent]:
        """Store many events in one transaction; returns the ones that were new. Each gift
        touched is locked first (in a fixed order), so receivers on several hosts never
        compute a gift's status from half of its events."""
        if not events:
            return []
        db = self.db
        new_ids: set[str] = set()
        with db.write() as conn:
            # one sorted acquisition: the gifts, and the people an update may resolve a lost send for
            db.lock(
                conn,
                *(f"gift:{e.gift_request_id}" for e in events),
                *(f"person:{normalize_email(e.email)}" for e in events if e.created_at and e.email),
            )
            for start in range(0, len(events), _CHUNK):
                new_ids |= self._insert_events(conn, events[start : start + _CHUNK])
            added = []
            for e in events:  # the first copy of an id in the batch is the new one
                if e.event_id in new_ids:
                    new_ids.discard(e.event_id)
                    added.append(e)
            self._refresh_gifts(conn, list(dict.fromkeys(e.gift_request_id for e in added)))
            self._resolve_unknowns(conn, added)
        return added

    def _insert_events(self, conn: Connection, events: list[StatusEvent]) -> set[str]:
        """One multi-row INSERT; the ids it returns are the events that were not there yet."""
        values = ", ".join(
            f"(:i{n}, :g{n}, :e{n}, :s{n}, :t{n}, :o{n}, :oc{n}, :r{n}, :u{n}, :a{n}, :c{n}, :ca{n})"
            for n in range(len(events))
        )
        params: dict[str, object] = {}
        for n, e in enumerate(events):
            params.update(
                {
                    f"i{n}": e.event_id,
                    f"g{n}": e.gift_request_id,
                    f"e{n}": normalize_email(e.email),
                    f"s{n}": e.status,
                    f"t{n}": e.event_type,
                    f"o{n}": str(e.source),
                    f"oc{n}": e.occurred_at,
                    f"r{n}": e.received_at,
                    f"u{n}": e.redemption_url,
                    f"a{n}": e.actor,
                    f"c{n}": e.campaign_id,
                    f"ca{n}": e.created_at,
                }
            )
        sql = (
            f"INSERT INTO {self.db.table('events')} (event_id, gift_request_id, email, status, event_type, "
            f"source, occurred_at, received_at, redemption_url, actor, campaign_id, created_at) VALUES {values} "
            "ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
        )
        return {r[0] for r in self.db.execute(conn, sql, params)}

    def _refresh_gifts(self, conn: Connection, gift_ids: list[str]) -> None:
        """Each gift's row from all of its events: one read, one write, for any number of gifts."""
        if not gift_ids:
            return
        db = self.db
        by_gift: dict[str, list[StatusEvent]] = {}
        for start in range(0, len(gift_ids), _CHUNK):
            for r in db.execute(
                conn,
                f"SELECT * FROM {db.table('events')} WHERE gift_request_id IN :ids",
                {"ids": gift_ids[start : start + _CHUNK]},
            ).mappings():
                by_gift.setdefault(r["gift_request_id"], []).append(event_from(r))
        rows = [
            {
                "gift": gift_id,
                "email": next((e.email for e in evs if e.email), ""),
                "status": latest_status(evs),
                "url": next(
                    (
                        e.redemption_url
                        for e in sorted(evs, key=lambda e: e.received_at, reverse=True)
                        if e.redemption_url
                    ),
                    None,
                ),
                "first": min(e.occurred_at or e.received_at for e in evs),
                "last": max(e.occurred_at or e.received_at for e in evs),
            }
            for gift_id, evs in by_gift.items()
        ]
        db.execute(conn, _UPSERT_GIFT.format(gifts=db.table("gifts")), rows)

    def _refresh_gift(self, conn: Connection, gift_id: str) -> None:
        self._refresh_gifts(conn, [gift_id])

    def events(self, *, gift_request_id: str | None = None, email: str | None = None) -> list[StatusEvent]:
        db = self.db
        sql, args = f"SELECT * FROM {db.table('events')}", {}
        if gift_request_id:
            sql, args = sql + " WHERE gift_request_id=:g", {"g": gift_request_id}
        elif email:
            sql, args = sql + " WHERE email=:e", {"e": normalize_email(email)}
        with db.read() as conn:
            rows = db.execute(conn, sql + f" ORDER BY received_at, {db.seq}", args).mappings().all()
        return [event_from(r) for r in rows]

    def senders(self) -> dict[str, str]:
        """gift id -> who sent it, for the gifts this project sent (audit filter)."""
        with self.db.read() as conn:
            rows = self.db.execute(
                conn,
                f"SELECT gift_request_id, actor FROM {self.db.table('events')} WHERE source=:s AND actor<>''",
                {"s": str(EventSource.SEND)},
            ).all()
        return {gid: actor for gid, actor in rows}

    def status_reached(self) -> list[tuple[str, str, str, str | None]]:
        """(gift id, status, when the gift first reached it, the campaign an event named): one row
        per status a gift has had however many events said so (a send and &Open's `created`)."""
        with self.db.read() as conn:
            rows = self.db.execute(
                conn,
                "SELECT gift_request_id, status, MIN(COALESCE(occurred_at, received_at)), MAX(campaign_id) "
                f"FROM {self.db.table('events')} WHERE status IS NOT NULL AND status<>'' "
                "GROUP BY gift_request_id, status",
            ).all()
        return [(g, s, at, campaign) for g, s, at, campaign in rows]

    def gifts(self) -> list[GiftRecord]:
        with self.db.read() as conn:
            rows = self.db.execute(conn, f"SELECT * FROM {self.db.table('gifts')} ORDER BY updated_at DESC").mappings()
            return [gift_from(r) for r in rows]

    def gift(self, gift_request_id: str) -> GiftRecord | None:
        with self.db.read() as conn:
            r = (
                self.db.execute(
                    conn, f"SELECT * FROM {self.db.table('gifts')} WHERE gift_request_id=:g", {"g": gift_request_id}
                )
                .mappings()
                .first()
            )
        return gift_from(r) if r else None

    # -- outbox: events waiting to be copied to another store (a sheet's history tab) ---
    def enqueue(self, target: str, event_ids: list[str]) -> None:
        if not event_ids:
            return
        with self.db.write() as conn:
            self.db.execute(
                conn,
                f"INSERT INTO {self.db.table('outbox')} (target, event_id) VALUES (:t, :e) "
                "ON CONFLICT (target, event_id) DO NOTHING",
                [{"t": target, "e": e} for e in event_ids],
            )

    def pending(self, target: str, limit: int = 5000) -> list[StatusEvent]:
        db = self.db
        with db.read() as conn:
            rows = (
                db.execute(
                    conn,
                    f"SELECT e.* FROM {db.table('outbox')} o JOIN {db.table('events')} e "
                    "ON e.event_id=o.event_id WHERE o.target=:t AND o.done_at IS NULL "
                    "ORDER BY o.id LIMIT :n",
                    {"t": target, "n": limit},
                )
                .mappings()
                .all()
            )
        return [event_from(r) for r in rows]

    def done(self, target: str, event_ids: list[str]) -> None:
        if not event_ids:
            return
        now = iso(utcnow())
        with self.db.write() as conn:
            self.db.execute(
                conn,
                f"UPDATE {self.db.table('outbox')} SET done_at=:now WHERE target=:t AND event_id=:e",
                [{"now": now, "t": target, "e": e} for e in event_ids],
            )
