"""A cheap fingerprint of everything a review reads from the store, so a page can reuse the
review of an unchanged list while nothing it depends on has changed."""

from __future__ import annotations

from .database import Database

# Per table, aggregates that change whenever a row is added, removed or changes state: counts
# per state catch every transition (attempting → sent, sent → unknown…), the latest times catch
# a row written again in the same state, counts catch inserts and deletes.
_PARTS = {
    "sends": "SELECT state, count(*), max(attempted_at), max(finished_at), count(gift_request_id) "
    "FROM {t} GROUP BY state",
    "runs": "SELECT state, count(*), max(heartbeat_at), max(finished_at) FROM {t} GROUP BY state",
    "events": "SELECT count(*), max(received_at) FROM {t}",
    "gifts": "SELECT count(*), max(updated_at) FROM {t}",
    "overrides": "SELECT count(*), max(at) FROM {t}",
    "audit": "SELECT count(*), max(id) FROM {t}",
    "do_not_gift": "SELECT count(*), max(added_at) FROM {t}",
    "invitations": "SELECT state, count(*), max(attempted_at), max(finished_at) FROM {t} GROUP BY state",
}


class StampMixin:
    db: Database

    def stamp(self) -> tuple:
        """Equal stamps: the journal, runs, events, gift statuses, overrides, decisions, the
        do-not-gift list and invitations are as they were (one short read, milliseconds at
        20,000 sends)."""
        with self.db.read() as conn:
            return tuple(
                (
                    name,
                    tuple(
                        sorted(tuple(map(str, row)) for row in self.db.execute(conn, sql.format(t=self.db.table(name))))
                    ),
                )
                for name, sql in _PARTS.items()
            )
