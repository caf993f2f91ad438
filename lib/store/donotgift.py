"""The do-not-gift list in the store: entries shared by every user, host and run, each with
its reason, who added it and when; every addition, change and removal is in the audit trail.
The claim checks it again (journal.py), so an entry added mid-run still stops the gift."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from ..donotgift import Entry, blocking_keys, canonical
from ..models import iso, utcnow
from .database import Database

ADDED, CHANGED, REMOVED = "do-not-gift add", "do-not-gift change", "do-not-gift remove"
LOCK = "do-not-gift"


@dataclass(frozen=True)
class AddReport:
    added: int = 0
    changed: int = 0
    unchanged: int = 0


def _entry(r) -> Entry:
    return Entry(r["value"], r["reason"] or "", r["added_by"], r["added_at"], r["typed"] or "")


class DoNotGiftMixin:
    db: Database

    if TYPE_CHECKING:  # provided by ListsMixin

        def _audit(
            self, conn: Connection, actor: str, action: str, list_key: str | None, email: str | None, detail: str
        ) -> None: ...

    def add_do_not_gift(
        self, entries: Sequence[Entry], actor: str, *, source: str = "", set_reason: bool = False
    ) -> AddReport:
        """Add entries (checked with `donotgift.new_entry`) in one transaction. An entry already
        listed keeps who added it and when; its reason changes to a new non-empty one (to an
        empty one too with `set_reason`, as an edit in the Settings table means)."""
        t = self.db.table("do_not_gift")
        added = changed = unchanged = 0
        now = iso(utcnow())
        with self.db.write() as conn:
            self.db.lock(conn, LOCK)  # edits are rare: one writer at a time keeps each audit line true
            for e in entries:
                old = self.db.execute(conn, f"SELECT * FROM {t} WHERE value=:v", {"v": e.value}).mappings().first()
                where = f" ({source})" if source else ""
                if old is None:
                    self.db.execute(
                        conn,
                        f"INSERT INTO {t} (value, typed, reason, added_by, added_at) "
                        "VALUES (:v, :typed, :r, :a, :at) ON CONFLICT (value) DO NOTHING",
                        {"v": e.value, "typed": e.typed or e.value, "r": e.reason, "a": actor, "at": now},
                    )
                    self._audit(conn, actor, ADDED, None, e.value, (e.reason or "no reason given") + where)
                    added += 1
                elif (e.reason or set_reason) and e.reason != (old["reason"] or ""):
                    self.db.execute(conn, f"UPDATE {t} SET reason=:r WHERE value=:v", {"r": e.reason, "v": e.value})
                    self._audit(
                        conn, actor, CHANGED, None, e.value, f"reason '{old['reason'] or ''}' → '{e.reason}'{where}"
                    )
                    changed += 1
                else:
                    unchanged += 1
        return AddReport(added, changed, unchanged)

    def remove_do_not_gift(self, value: str, actor: str) -> Entry | None:
        """Remove an entry (any spelling of it); the removed entry, or None when it was not listed."""
        key = canonical(value)
        t = self.db.table("do_not_gift")
        with self.db.write() as conn:
            self.db.lock(conn, LOCK)
            row = self.db.execute(conn, f"DELETE FROM {t} WHERE value=:v RETURNING *", {"v": key}).mappings().first()
            if row is None:
                return None
            gone = _entry(row)
            self._audit(
                conn,
                actor,
                REMOVED,
                None,
                gone.value,
                f"was added by {gone.added_by} on {gone.added_at[:10]}" + (f" ({gone.reason})" if gone.reason else ""),
            )
            return gone

    def do_not_gift(self) -> list[Entry]:
        """Every entry, domains first, then people, alphabetically."""
        with self.db.read() as conn:
            rows = self.db.execute(conn, f"SELECT * FROM {self.db.table('do_not_gift')}").mappings().all()
        return sorted((_entry(r) for r in rows), key=lambda e: (not e.is_domain, e.value))

    def do_not_gift_entry(self, email: str) -> Entry | None:
        """The entry that blocks this address now, or None."""
        with self.db.read() as conn:
            return self._blocking(conn, email)

    def _blocking(self, conn: Connection, email: str) -> Entry | None:
        keys = blocking_keys(email)
        if not keys:
            return None
        rows = (
            self.db.execute(
                conn, f"SELECT * FROM {self.db.table('do_not_gift')} WHERE value IN :keys", {"keys": list(keys)}
            )
            .mappings()
            .all()
        )
        found = {r["value"]: r for r in rows}
        return next((_entry(found[k]) for k in keys if k in found), None)
