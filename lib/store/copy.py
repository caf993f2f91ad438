"""Move a store into another (a team that started on one server's SQLite file moves to a
shared database): every table, idempotently, never losing a held send."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import Connection

from .database import Database
from .donotgift import REMOVED
from .store import Store

CHUNK = 1000

# table -> (conflict target, what to do on conflict). Autoincrement ids are never copied.
_RULES: dict[str, tuple[str, str]] = {
    "runs": ("(run_id)", "DO NOTHING"),
    "events": ("(event_id)", "DO NOTHING"),
    "gifts": ("(gift_request_id)", "DO NOTHING"),
    "overrides": ("(list_key, email)", "DO NOTHING"),
    "outbox": ("(target, event_id)", "DO NOTHING"),
    "do_not_gift": ("(value)", "DO NOTHING"),  # the target's entry is kept; one it removed stays removed (below)
    # a newer copy of a saved list wins
    "lists": (
        "(list_key)",
        "DO UPDATE SET name=excluded.name, csv=excluded.csv, mapping=excluded.mapping, "
        "updated_at=excluded.updated_at WHERE excluded.updated_at > {t}.updated_at",
    ),
    # an email the source holds (sent, unknown, in flight) replaces one the target could send again
    "invitations": (
        "(gift_request_id, kind)",
        "DO UPDATE SET {all} WHERE {t}.state IN ('failed', 'refused') "
        "AND excluded.state IN ('sent', 'unknown', 'attempting')",
    ),
    "invite_templates": (
        "(list_key, kind)",
        "DO UPDATE SET text=excluded.text, updated_by=excluded.updated_by, updated_at=excluded.updated_at "
        "WHERE excluded.updated_at > {t}.updated_at",
    ),
    # a send the source holds (sent, unknown, in flight) replaces one the target could send again
    "sends": (
        "(list_key, email)",
        "DO UPDATE SET {all} WHERE {t}.state IN ('rejected', 'failed') "
        "AND excluded.state IN ('sent', 'unknown', 'attempting')",
    ),
}
_SKIP_COLUMNS = {"id", "seq"}


@dataclass
class CopyReport:
    copied: dict[str, int] = field(default_factory=dict)  # rows new in the target (or replaced)
    already: dict[str, int] = field(default_factory=dict)  # rows the target had

    def lines(self) -> list[str]:
        return [
            f"{t}: {self.copied.get(t, 0)} copied, {self.already.get(t, 0)} already there" for t in [*_RULES, "audit"]
        ]


def copy_store(source: Store, target: Store) -> CopyReport:
    report = CopyReport()
    order = ["runs", "sends", "events", "gifts", "overrides", "lists", "audit", "outbox", "do_not_gift"]
    order += ["invitations", "invite_templates"]
    for table in order:
        with source.db.read() as conn:
            rows = [
                dict(r)
                for r in source.db.execute(
                    conn, f"SELECT * FROM {source.db.table(table)} ORDER BY {_order(source.db, table)}"
                ).mappings()
            ]
        rows = [{k: v for k, v in r.items() if k not in _SKIP_COLUMNS} for r in rows]
        new = 0
        for start in range(0, len(rows), CHUNK):
            with target.db.write() as conn:
                new += _insert(target.db, conn, table, rows[start : start + CHUNK])
        report.copied[table], report.already[table] = new, len(rows) - new
    with target.db.write() as conn:  # each gift's latest status, from all the events now in the target
        ids = [r[0] for r in target.db.execute(conn, f"SELECT gift_request_id FROM {target.db.table('gifts')}")]
        target._refresh_gifts(conn, ids)
    return report


def _order(db: Database, table: str) -> str:
    return {"events": db.seq, "audit": "id", "outbox": "id"}.get(table, "1")


def _insert(db: Database, conn: Connection, table: str, rows: list[dict]) -> int:
    if not rows:
        return 0
    t = db.table(table)
    cols = list(rows[0])
    names, values = ", ".join(cols), ", ".join(f":{c}" for c in cols)
    typed = ", ".join(f"CAST(:{c} AS TEXT)" for c in cols)
    if table == "audit":  # no natural key: a line equal in every field is the same line
        same = " AND ".join(f"COALESCE({c}, '') = COALESCE(CAST(:{c} AS TEXT), '')" for c in cols)
        sql = f"INSERT INTO {t} ({names}) SELECT {typed} WHERE NOT EXISTS (SELECT 1 FROM {t} WHERE {same})"
    elif table == "do_not_gift":  # copied again later, an entry removed in the target since is not brought back
        sql = (
            f"INSERT INTO {t} ({names}) SELECT {typed} WHERE NOT EXISTS (SELECT 1 FROM {db.table('audit')} "
            f"WHERE action='{REMOVED}' AND email=CAST(:value AS TEXT) AND at >= CAST(:added_at AS TEXT)) "
            "ON CONFLICT (value) DO NOTHING"
        )
    else:
        target, action = _RULES[table]
        update_all = ", ".join(f"{c}=excluded.{c}" for c in cols)
        sql = f"INSERT INTO {t} ({names}) VALUES ({values}) ON CONFLICT {target} " + action.format(t=t, all=update_all)
    return sum(db.execute(conn, sql, r).rowcount for r in rows)
