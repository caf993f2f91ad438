"""The embedded store (SQLite, WAL): send journal, run locks and audit, status history.

It is the single place where sends and status events are recorded; sheets and CSVs are
views written back from it. Every public method is one short transaction and is safe to
call from several threads and processes at once.
"""
from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .history import latest_status
from .models import EventSource, Recipient, SendState, StatusEvent, iso, normalize_email, utcnow

SCHEMA = """
CREATE TABLE IF NOT EXISTS sends (
    list_key TEXT NOT NULL,
    email TEXT NOT NULL,             -- normalised: the identity of a person in a list
    state TEXT NOT NULL,
    run_id TEXT,
    row_key TEXT,
    first_name TEXT, last_name TEXT, email_as_typed TEXT,
    campaign_id TEXT,
    gift_request_id TEXT,
    redemption_url TEXT,
    error TEXT,
    request_id TEXT,
    attempted_at TEXT,
    finished_at TEXT,
    PRIMARY KEY (list_key, email)
);
CREATE INDEX IF NOT EXISTS sends_email ON sends(email);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    list_key TEXT NOT NULL,
    actor TEXT NOT NULL,
    started_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    finished_at TEXT,
    state TEXT NOT NULL,             -- running / completed / stopped
    host TEXT, pid INTEGER,
    counts TEXT,
    message TEXT,
    stop_requested_by TEXT          -- set by anyone, in any process; the run polls it
);
CREATE INDEX IF NOT EXISTS runs_list ON runs(list_key, state);
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY,
    gift_request_id TEXT NOT NULL,
    email TEXT,
    status TEXT,
    event_type TEXT,
    source TEXT NOT NULL,
    occurred_at TEXT,
    received_at TEXT NOT NULL,
    redemption_url TEXT,
    actor TEXT
);
CREATE INDEX IF NOT EXISTS events_gift ON events(gift_request_id);
CREATE INDEX IF NOT EXISTS events_email ON events(email);
CREATE TABLE IF NOT EXISTS gifts (
    gift_request_id TEXT PRIMARY KEY,
    email TEXT,
    status TEXT,
    redemption_url TEXT,
    first_seen_at TEXT,
    updated_at TEXT
);
CREATE INDEX IF NOT EXISTS gifts_email ON gifts(email);
CREATE TABLE IF NOT EXISTS overrides (
    list_key TEXT NOT NULL,
    email TEXT NOT NULL,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    reason TEXT,
    PRIMARY KEY (list_key, email)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,           -- override / clear-unknown
    list_key TEXT,
    email TEXT,
    detail TEXT
);
CREATE TABLE IF NOT EXISTS lists (
    list_key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    csv BLOB NOT NULL,              -- the list as the user last left it (approvals included)
    mapping TEXT,                   -- the user's column choices, JSON
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,            -- e.g. a sheet key: events waiting to be appended there
    event_id TEXT NOT NULL,
    done_at TEXT,                    -- copied: kept so the same event is never appended twice
    UNIQUE (target, event_id)
);
"""

STALE_RUN_SECONDS = 30.0
NO_LOOKBACK = object()  # claim(): the look-back check is off


@dataclass(frozen=True)
class Claim:
    claimed: bool
    reason: str = ""  # why not, when the look-back refused it


@dataclass(frozen=True)
class JournalEntry:
    list_key: str
    email: str
    state: SendState
    run_id: str | None
    row_key: str | None
    gift_request_id: str | None
    redemption_url: str | None
    error: str | None
    request_id: str | None
    attempted_at: str | None
    finished_at: str | None
    campaign_id: str | None = None


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    list_key: str
    actor: str
    started_at: str
    finished_at: str | None
    state: str
    counts: dict
    message: str | None


@dataclass(frozen=True)
class GiftRecord:
    gift_request_id: str
    email: str
    status: str | None
    redemption_url: str | None
    first_seen_at: str | None
    updated_at: str | None


class RunInProgress(Exception):
    """Another run holds this list; the message says who and since when."""


class Store:
    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / "giftrun.sqlite3"
        self._local = threading.local()
        self._conn().executescript(SCHEMA)

    # -- plumbing -------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # a journal line survives a power cut, not only a kill
            conn.execute("PRAGMA busy_timeout=10000")  # well under STALE_RUN_SECONDS
            self._local.conn = conn
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- send journal ---------------------------------------------------------------
    def begin_attempt(
        self, list_key: str, recipient: Recipient, *, row_key: str, campaign_id: str, run_id: str,
        lookback_since: str | None | object = NO_LOOKBACK,
    ) -> bool:
        """Journal a send before it is attempted. False when this person must not be sent
        (already sent, outcome unknown, attempted by a live run, or, with a look-back, just
        gifted from another list)."""
        return self.claim(list_key, recipient, row_key=row_key, campaign_id=campaign_id, run_id=run_id,
                          lookback_since=lookback_since).claimed

    def claim(
        self, list_key: str, recipient: Recipient, *, row_key: str, campaign_id: str, run_id: str,
        lookback_since: str | None | object = NO_LOOKBACK,
    ) -> "Claim":
        """`begin_attempt` with the reason for a refusal. The look-back is checked again here,
        in the same transaction as the journal line, so two lists sent at the same moment
        cannot both gift one person: `lookback_since` is an ISO time (None = forever)."""
        email = normalize_email(recipient.email)
        now = iso(utcnow())
        with self._tx() as db:
            if lookback_since is not NO_LOOKBACK and not db.execute(
                    "SELECT 1 FROM overrides WHERE list_key=? AND email=?", (list_key, email)).fetchone():
                other = db.execute(
                    "SELECT list_key, attempted_at FROM sends WHERE email=? AND list_key<>? AND state IN (?,?,?) "
                    "AND (? IS NULL OR attempted_at>=?) ORDER BY attempted_at DESC LIMIT 1",
                    (email, list_key, SendState.SENT, SendState.ATTEMPTING, SendState.UNKNOWN,
                     lookback_since, lookback_since),
                ).fetchone()
                if other:
                    return Claim(False, f"Gifted {other['attempted_at'][:10]} from another list while this "
                                        "run was going — inside the look-back window")
            cur = db.execute(
                """INSERT INTO sends (list_key, email, state, run_id, row_key, first_name, last_name,
                       email_as_typed, campaign_id, attempted_at)
                   VALUES (?,?,?,?,?,?,?,?,?,?)
                   ON CONFLICT(list_key, email) DO UPDATE SET
                       state=excluded.state, run_id=excluded.run_id, row_key=excluded.row_key,
                       first_name=excluded.first_name, last_name=excluded.last_name,
                       email_as_typed=excluded.email_as_typed, campaign_id=excluded.campaign_id,
                       attempted_at=excluded.attempted_at, error=NULL, request_id=NULL,
                       finished_at=NULL
                   WHERE sends.state IN (?, ?)""",
                (list_key, email, SendState.ATTEMPTING, run_id, row_key, recipient.first_name,
                 recipient.last_name, recipient.email, campaign_id, now,
                 SendState.REJECTED, SendState.FAILED),
            )
            return Claim(cur.rowcount == 1)

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
    ) -> None:
        now = iso(utcnow())
        with self._tx() as db:
            # An upsert: an outcome is never dropped, even if the line was cleared meanwhile.
            db.execute(
                """INSERT INTO sends (list_key, email, state, gift_request_id, redemption_url, error, request_id,
                       attempted_at, finished_at)
                   VALUES (?,?,?,?,?,?,?,?,?)
                   ON CONFLICT(list_key, email) DO UPDATE SET state=excluded.state,
                       gift_request_id=COALESCE(excluded.gift_request_id, sends.gift_request_id),
                       redemption_url=COALESCE(excluded.redemption_url, sends.redemption_url),
                       error=excluded.error, request_id=excluded.request_id, finished_at=excluded.finished_at""",
                (list_key, normalize_email(email), state, gift_request_id, redemption_url, error, request_id,
                 now, now),
            )

    def forget_attempt(self, list_key: str, email: str, run_id: str) -> None:
        """Undo a begin_attempt that never sent anything (the run stopped first)."""
        with self._tx() as db:
            db.execute(
                "DELETE FROM sends WHERE list_key=? AND email=? AND run_id=? AND state=?",
                (list_key, normalize_email(email), run_id, SendState.ATTEMPTING),
            )

    def journal(self, list_key: str) -> dict[str, JournalEntry]:
        rows = self._conn().execute("SELECT * FROM sends WHERE list_key=?", (list_key,)).fetchall()
        return {r["email"]: _entry(r) for r in rows}

    def all_sends(self) -> list[JournalEntry]:
        """Every journalled send in every list (for the look-back check)."""
        rows = self._conn().execute("SELECT * FROM sends").fetchall()
        return [_entry(r) for r in rows]

    def mark_orphans_unknown(self, list_key: str) -> int:
        """Attempts left by a run that is no longer alive become UNKNOWN: the request may
        have reached &Open before the process died."""
        live = {r.run_id for r in self.live_runs(list_key)}
        with self._tx() as db:
            rows = db.execute(
                "SELECT email, run_id FROM sends WHERE list_key=? AND state=?",
                (list_key, SendState.ATTEMPTING),
            ).fetchall()
            orphaned = [r["email"] for r in rows if r["run_id"] not in live]
            for email in orphaned:
                db.execute(
                    "UPDATE sends SET state=?, error=?, finished_at=? WHERE list_key=? AND email=?",
                    (SendState.UNKNOWN, UNKNOWN_AFTER_CRASH, iso(utcnow()), list_key, email),
                )
        return len(orphaned)

    def clear_unknown(self, list_key: str, email: str, actor: str) -> bool:
        """A person checked &Open and found no gift: the row may be sent again."""
        with self._tx() as db:
            cur = db.execute(
                "DELETE FROM sends WHERE list_key=? AND email=? AND state=?",
                (list_key, normalize_email(email), SendState.UNKNOWN),
            )
            if cur.rowcount:
                _audit(db, actor, "clear-unknown", list_key, email, "checked &Open: no gift; may be sent again")
            return cur.rowcount == 1

    # -- runs: one at a time per list, across processes -----------------------------
    def acquire_run(self, list_key: str, actor: str) -> str:
        run_id = uuid.uuid4().hex
        now = utcnow()
        with self._tx() as db:
            for r in db.execute(
                "SELECT * FROM runs WHERE list_key=? AND state='running'", (list_key,)
            ).fetchall():
                if _is_alive(r, now):
                    raise RunInProgress(
                        f"A run on this list is in progress (started by {r['actor']} at "
                        f"{r['started_at'][:19].replace('T', ' ')} UTC). Wait for it to finish or stop it."
                    )
                db.execute(
                    "UPDATE runs SET state='stopped', finished_at=?, message=? WHERE run_id=?",
                    (iso(now), "the process running it ended unexpectedly", r["run_id"]),
                )
            db.execute(
                "INSERT INTO runs (run_id, list_key, actor, started_at, heartbeat_at, state, host, pid, counts) "
                "VALUES (?,?,?,?,?,?,?,?,?)",
                (run_id, list_key, actor, iso(now), iso(now), "running", socket.gethostname(), os.getpid(), "{}"),
            )
        return run_id

    def heartbeat(self, run_id: str, counts: dict | None = None) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET heartbeat_at=?, counts=COALESCE(?, counts) WHERE run_id=?",
                (iso(utcnow()), json.dumps(counts) if counts is not None else None, run_id),
            )

    def request_stop(self, run_id: str, actor: str) -> bool:
        """Ask a run to stop, whichever process or server is running it."""
        with self._tx() as db:
            cur = db.execute("UPDATE runs SET stop_requested_by=? WHERE run_id=? AND state='running'",
                             (actor, run_id))
            return cur.rowcount == 1

    def stop_requested(self, run_id: str) -> str | None:
        r = self._conn().execute("SELECT stop_requested_by FROM runs WHERE run_id=?", (run_id,)).fetchone()
        return r["stop_requested_by"] if r else None

    def finish_run(self, run_id: str, state: str, counts: dict, message: str | None = None) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET state=?, finished_at=?, heartbeat_at=?, counts=?, message=? WHERE run_id=?",
                (state, iso(utcnow()), iso(utcnow()), json.dumps(counts), message, run_id),
            )

    def live_runs(self, list_key: str | None = None) -> list[RunRecord]:
        now = utcnow()
        sql = "SELECT * FROM runs WHERE state='running'" + (" AND list_key=?" if list_key else "")
        rows = self._conn().execute(sql, (list_key,) if list_key else ()).fetchall()
        return [_run(r) for r in rows if _is_alive(r, now)]

    def runs(self, limit: int = 200) -> list[RunRecord]:
        rows = self._conn().execute(
            "SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", (limit,)
        ).fetchall()
        return [_run(r) for r in rows]

    def run(self, run_id: str) -> RunRecord | None:
        r = self._conn().execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
        return _run(r) if r else None

    # -- status history -------------------------------------------------------------
    def add_event(self, event: StatusEvent) -> bool:
        """Store one event durably; False for a duplicate event id. Keeps each gift's
        latest status current, whatever order events arrive in."""
        return bool(self.add_events([event]))

    def add_events(self, events: list[StatusEvent]) -> list[StatusEvent]:
        """Store many events in one transaction; returns the ones that were new."""
        added: list[StatusEvent] = []
        with self._tx() as db:
            for event in events:
                cur = db.execute(
                    """INSERT OR IGNORE INTO events (event_id, gift_request_id, email, status, event_type,
                           source, occurred_at, received_at, redemption_url, actor)
                       VALUES (?,?,?,?,?,?,?,?,?,?)""",
                    (event.event_id, event.gift_request_id, normalize_email(event.email), event.status,
                     event.event_type, str(event.source), event.occurred_at, event.received_at,
                     event.redemption_url, event.actor),
                )
                if cur.rowcount:
                    added.append(event)
                    self._refresh_gift(db, event)
        return added

    def _refresh_gift(self, db: sqlite3.Connection, event: StatusEvent) -> None:
        evs = [_event(r) for r in db.execute(
            "SELECT * FROM events WHERE gift_request_id=?", (event.gift_request_id,)
        ).fetchall()]
        status = latest_status(evs)
        email = next((e.email for e in evs if e.email), "")
        url = next((e.redemption_url for e in sorted(evs, key=lambda e: e.received_at, reverse=True)
                    if e.redemption_url), None)
        first = min(e.occurred_at or e.received_at for e in evs)
        last = max(e.occurred_at or e.received_at for e in evs)
        db.execute(
            """INSERT INTO gifts (gift_request_id, email, status, redemption_url, first_seen_at, updated_at)
               VALUES (?,?,?,?,?,?)
               ON CONFLICT(gift_request_id) DO UPDATE SET email=excluded.email, status=excluded.status,
                   redemption_url=excluded.redemption_url, first_seen_at=excluded.first_seen_at,
                   updated_at=excluded.updated_at""",
            (event.gift_request_id, email, status, url, first, last),
        )

    def events(self, *, gift_request_id: str | None = None, email: str | None = None) -> list[StatusEvent]:
        sql, args = "SELECT * FROM events", []
        if gift_request_id:
            sql, args = sql + " WHERE gift_request_id=?", [gift_request_id]
        elif email:
            sql, args = sql + " WHERE email=?", [normalize_email(email)]
        rows = self._conn().execute(sql + " ORDER BY received_at, rowid", args).fetchall()
        return [_event(r) for r in rows]

    def senders(self) -> dict[str, str]:
        """gift id -> who sent it, for the gifts this project sent (audit filter)."""
        rows = self._conn().execute(
            "SELECT gift_request_id, actor FROM events WHERE source=? AND actor<>''", (str(EventSource.SEND),))
        return {r["gift_request_id"]: r["actor"] for r in rows.fetchall()}

    def gifts(self) -> list[GiftRecord]:
        rows = self._conn().execute("SELECT * FROM gifts ORDER BY updated_at DESC").fetchall()
        return [GiftRecord(**{k: r[k] for k in r.keys()}) for r in rows]

    def gift(self, gift_request_id: str) -> GiftRecord | None:
        r = self._conn().execute("SELECT * FROM gifts WHERE gift_request_id=?", (gift_request_id,)).fetchone()
        return GiftRecord(**{k: r[k] for k in r.keys()}) if r else None

    # -- look-back overrides --------------------------------------------------------
    def record_override(self, list_key: str, email: str, actor: str, reason: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO overrides (list_key, email, actor, at, reason) VALUES (?,?,?,?,?) "
                "ON CONFLICT(list_key, email) DO UPDATE SET actor=excluded.actor, at=excluded.at, "
                "reason=excluded.reason",
                (list_key, normalize_email(email), actor, iso(utcnow()), reason),
            )
            _audit(db, actor, "override", list_key, email, reason)

    def audit_log(self, limit: int = 500) -> list[dict]:
        """Deliberate decisions by people (look-back overrides, cleared unknowns), newest first."""
        rows = self._conn().execute("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [dict(r) for r in rows]

    def overrides(self, list_key: str) -> dict[str, tuple[str, str, str]]:
        rows = self._conn().execute("SELECT * FROM overrides WHERE list_key=?", (list_key,)).fetchall()
        return {r["email"]: (r["actor"], r["at"], r["reason"]) for r in rows}

    # -- local lists: an upload survives a closed tab -------------------------------
    def save_list(self, list_key: str, name: str, csv: bytes, mapping: dict | None = None) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO lists (list_key, name, csv, mapping, updated_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT(list_key) DO UPDATE SET name=excluded.name, csv=excluded.csv, "
                "mapping=excluded.mapping, updated_at=excluded.updated_at",
                (list_key, name, csv, json.dumps(mapping or {}), iso(utcnow())),
            )

    def saved_lists(self) -> list[tuple[str, str, str]]:
        """(list_key, name, updated_at), newest first."""
        rows = self._conn().execute("SELECT list_key, name, updated_at FROM lists ORDER BY updated_at DESC")
        return [(r["list_key"], r["name"], r["updated_at"]) for r in rows.fetchall()]

    def load_list(self, list_key: str) -> tuple[str, bytes, dict] | None:
        r = self._conn().execute("SELECT * FROM lists WHERE list_key=?", (list_key,)).fetchone()
        return (r["name"], bytes(r["csv"]), json.loads(r["mapping"] or "{}")) if r else None

    # -- outbox: events waiting to be copied to another store (a sheet's history tab) -
    def enqueue(self, target: str, event_ids: list[str]) -> None:
        with self._tx() as db:
            db.executemany(
                "INSERT OR IGNORE INTO outbox (target, event_id) VALUES (?, ?)",
                [(target, e) for e in event_ids],
            )

    def pending(self, target: str, limit: int = 5000) -> list[StatusEvent]:
        rows = self._conn().execute(
            "SELECT e.* FROM outbox o JOIN events e ON e.event_id=o.event_id "
            "WHERE o.target=? AND o.done_at IS NULL ORDER BY o.id LIMIT ?", (target, limit)
        ).fetchall()
        return [_event(r) for r in rows]

    def done(self, target: str, event_ids: list[str]) -> None:
        with self._tx() as db:
            now = iso(utcnow())
            db.executemany(
                "UPDATE outbox SET done_at=? WHERE target=? AND event_id=?", [(now, target, e) for e in event_ids]
            )


def _audit(db: sqlite3.Connection, actor: str, action: str, list_key: str, email: str, detail: str) -> None:
    db.execute("INSERT INTO audit (at, actor, action, list_key, email, detail) VALUES (?,?,?,?,?,?)",
               (iso(utcnow()), actor, action, list_key, normalize_email(email), detail))


UNKNOWN_AFTER_CRASH = (
    "Unknown outcome — the app stopped while this gift was being sent. "
    "Check in &Open before sending again."
)


def _is_alive(row: sqlite3.Row, now) -> bool:
    from .models import parse_iso

    if row["host"] == socket.gethostname() and row["pid"] and not _pid_alive(row["pid"]):
        return False
    beat = parse_iso(row["heartbeat_at"])
    return beat is not None and (now - beat).total_seconds() < STALE_RUN_SECONDS


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _entry(r: sqlite3.Row) -> JournalEntry:
    return JournalEntry(
        list_key=r["list_key"], email=r["email"], state=SendState(r["state"]), run_id=r["run_id"],
        row_key=r["row_key"], gift_request_id=r["gift_request_id"], redemption_url=r["redemption_url"],
        error=r["error"], request_id=r["request_id"], attempted_at=r["attempted_at"],
        finished_at=r["finished_at"], campaign_id=r["campaign_id"],
    )


def _run(r: sqlite3.Row) -> RunRecord:
    return RunRecord(
        run_id=r["run_id"], list_key=r["list_key"], actor=r["actor"], started_at=r["started_at"],
        finished_at=r["finished_at"], state=r["state"], counts=json.loads(r["counts"] or "{}"),
        message=r["message"],
    )


def _event(r: sqlite3.Row) -> StatusEvent:
    return StatusEvent(
        event_id=r["event_id"], gift_request_id=r["gift_request_id"], status=r["status"] or "",
        source=EventSource(r["source"]), email=r["email"] or "", event_type=r["event_type"] or "",
        occurred_at=r["occurred_at"], received_at=r["received_at"], redemption_url=r["redemption_url"],
        actor=r["actor"] or "",
    )

