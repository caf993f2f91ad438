"""What people decide and keep: saved lists (an upload survives a closed tab), look-back
overrides, and the audit trail of deliberate decisions."""

from __future__ import annotations

import json

from sqlalchemy.engine import Connection

from ..models import iso, normalize_email, utcnow
from .database import Database


class ListsMixin:
    db: Database

    def _audit(
        self, conn: Connection, actor: str, action: str, list_key: str | None, email: str | None, detail: str
    ) -> None:
        self.db.execute(
            conn,
            f"INSERT INTO {self.db.table('audit')} (at, actor, action, list_key, email, detail) "
            "VALUES (:at, :actor, :action, :l, :e, :d)",
            {
                "at": iso(utcnow()),
                "actor": actor,
                "action": action,
                "l": list_key,
                "e": normalize_email(email) if email else email,
                "d": detail,
            },
        )

    def audit(
        self, actor: str, action: str, detail: str, *, list_key: str | None = None, email: str | None = None
    ) -> None:
        """Record a decision made outside the store's own operations (a cap set on a run…)."""
        with self.db.write() as conn:
            self._audit(conn, actor, action, list_key, email, detail)

    def audit_log(self, limit: int = 500) -> list[dict]:
        """Deliberate decisions by people (look-back overrides, cleared unknowns…), newest first."""
        with self.db.read() as conn:
            rows = (
                self.db.execute(conn, f"SELECT * FROM {self.db.table('audit')} ORDER BY id DESC LIMIT :n", {"n": limit})
                .mappings()
                .all()
            )
        return [dict(r) for r in rows]

    # -- look-back overrides -------------------------------------------------------------
    def record_override(self, list_key: str, email: str, actor: str, reason: str) -> None:
        with self.db.write() as conn:
            self.db.execute(
                conn,
                f"INSERT INTO {self.db.table('overrides')} (list_key, email, actor, at, reason) "
                "VALUES (:l, :e, :a, :at, :r) ON CONFLICT (list_key, email) DO UPDATE SET "
                "actor=excluded.actor, at=excluded.at, reason=excluded.reason",
                {"l": list_key, "e": normalize_email(email), "a": actor, "at": iso(utcnow()), "r": reason},
            )
            self._audit(conn, actor, "override", list_key, email, reason)

    def overrides(self, list_key: str) -> dict[str, tuple[str, str, str]]:
        with self.db.read() as conn:
            rows = (
                self.db.execute(conn, f"SELECT * FROM {self.db.table('overrides')} WHERE list_key=:l", {"l": list_key})
                .mappings()
                .all()
            )
        return {r["email"]: (r["actor"], r["at"], r["reason"]) for r in rows}

    # -- saved lists ---------------------------------------------------------------------
    def save_list(self, list_key: str, name: str, csv: bytes, mapping: dict | None = None) -> None:
        with self.db.write() as conn:
            self.db.execute(
                conn,
                f"INSERT INTO {self.db.table('lists')} (list_key, name, csv, mapping, updated_at) "
                "VALUES (:l, :n, :c, :m, :at) ON CONFLICT (list_key) DO UPDATE SET "
                "name=excluded.name, csv=excluded.csv, mapping=excluded.mapping, "
                "updated_at=excluded.updated_at",
                {"l": list_key, "n": name, "c": bytes(csv), "m": json.dumps(mapping or {}), "at": iso(utcnow())},
            )

    def saved_lists(self) -> list[tuple[str, str, str]]:
        """(list_key, name, updated_at), newest first."""
        with self.db.read() as conn:
            rows = self.db.execute(
                conn, f"SELECT list_key, name, updated_at FROM {self.db.table('lists')} ORDER BY updated_at DESC"
            ).all()
        return [(k, n, at) for k, n, at in rows]

    def load_list(self, list_key: str) -> tuple[str, bytes, dict] | None:
        with self.db.read() as conn:
            r = (
                self.db.execute(conn, f"SELECT * FROM {self.db.table('lists')} WHERE list_key=:l", {"l": list_key})
                .mappings()
                .first()
            )
        return (r["name"], bytes(r["csv"]), json.loads(r["mapping"] or "{}")) if r else None
