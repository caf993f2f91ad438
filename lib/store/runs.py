"""Run locks: one run per list across every process and host sharing the store, with
heartbeats and stop requests that work from anywhere."""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from ..models import iso, parse_iso, utcnow
from ..timefmt import shown
from .database import Database
from .records import STALE_RUN_SECONDS, RunInProgress, RunRecord, run_from


@lru_cache(maxsize=1)
def host_id() -> str:
    """This machine and process namespace: a pid means something only where it was taken
    (two containers may share a hostname, never a boot id and a pid namespace)."""
    parts = [socket.gethostname()]
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            parts.append(fh.read().strip())
        parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
    except OSError:
        pass
    return "|".join(parts)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_alive(row: Mapping[str, Any], now: datetime) -> bool:
    if row["host"] == host_id() and row["pid"] and not _pid_alive(row["pid"]):
        return False
    beat = parse_iso(row["heartbeat_at"])
    return beat is not None and (now - beat).total_seconds() < STALE_RUN_SECONDS


class RunsMixin:
    db: Database

    if TYPE_CHECKING:  # provided by ListsMixin

        def _audit(
            self, conn: Connection, actor: str, action: str, list_key: str | None, email: str | None, detail: str
        ) -> None: ...

    def acquire_run(self, list_key: str, actor: str, *, max_gifts: int | None = None, run_id: str | None = None) -> str:
        """Take the list's run lock (RunInProgress when a live run holds it); `max_gifts` is
        the cap the person set on this run, kept for the audit trail. Given a `run_id`, trying
        again after a lost answer is safe: a lock already held by that id is that run's."""
        db, runs = self.db, self.db.table("runs")
        run_id = run_id or uuid.uuid4().hex
        now = utcnow()
        with db.write() as conn:
            db.lock(conn, f"run:{list_key}")
            for r in (
                db.execute(conn, f"SELECT * FROM {runs} WHERE list_key=:l AND state='running'", {"l": list_key})
                .mappings()
                .all()
            ):
                if r["run_id"] == run_id:
                    return run_id  # taken by this very call before its answer was lost
                if _is_alive(r, now):
                    raise RunInProgress(
                        f"A run on this list is in progress (started by {r['actor']} at "
                        f"{shown(r['started_at'])}). Wait for it to finish or stop it."
                    )
                db.execute(
                    conn,
                    f"UPDATE {runs} SET state='stopped', finished_at=:now, message=:m WHERE run_id=:r",
                    {"now": iso(now), "m": "the process running it ended unexpectedly", "r": r["run_id"]},
                )
            db.execute(
                conn,
                f"INSERT INTO {runs} (run_id, list_key, actor, started_at, heartbeat_at, state, host, "
                "pid, counts, max_gifts) VALUES (:r, :l, :a, :now, :now, 'running', :h, :p, '{}', :cap)",
                {
                    "r": run_id,
                    "l": list_key,
                    "a": actor,
                    "now": iso(now),
                    "h": host_id(),
                    "p": os.getpid(),
                    "cap": max_gifts,
                },
            )
            if max_gifts is not None:
                self._audit(conn, actor, "run cap", list_key, None, f"run {run_id[:8]}: at most {max_gifts:,} gifts")
        return run_id

    def heartbeat(self, run_id: str, counts: dict | None = None) -> None:
        with self.db.write() as conn:
            self.db.execute(
                conn,
                f"UPDATE {self.db.table('runs')} SET heartbeat_at=:now, "
                "counts=COALESCE(CAST(:c AS TEXT), counts) WHERE run_id=:r",
                {"now": iso(utcnow()), "c": json.dumps(counts) if counts is not None else None, "r": run_id},
            )

    def request_stop(self, run_id: str, actor: str) -> bool:
        """Ask a run to stop, whichever process or host is running it."""
        with self.db.write() as conn:
            cur = self.db.execute(
                conn,
                f"UPDATE {self.db.table('runs')} SET stop_requested_by=:a WHERE run_id=:r AND state='running'",
                {"a": actor, "r": run_id},
            )
            return cur.rowcount == 1

    def stop_requested(self, run_id: str) -> str | None:
        with self.db.read() as conn:
            return self.db.execute(
                conn, f"SELECT stop_requested_by FROM {self.db.table('runs')} WHERE run_id=:r", {"r": run_id}
            ).scalar()

    def finish_run(self, run_id: str, state: str, counts: dict, message: str | None = None) -> None:
        now = iso(utcnow())
        with self.db.write() as conn:
            self.db.execute(
                conn,
                f"UPDATE {self.db.table('runs')} SET state=:s, finished_at=:now, heartbeat_at=:now, "
                "counts=:c, message=:m WHERE run_id=:r",
                {"s": state, "now": now, "c": json.dumps(counts), "m": message, "r": run_id},
            )

    def live_runs(self, list_key: str | None = None) -> list[RunRecord]:
        now = utcnow()
        sql = f"SELECT * FROM {self.db.table('runs')} WHERE state='running'" + (" AND list_key=:l" if list_key else "")
        with self.db.read() as conn:
            rows = self.db.execute(conn, sql, {"l": list_key} if list_key else {}).mappings().all()
        return [run_from(r) for r in rows if _is_alive(r, now)]

    def runs(self, limit: int = 200) -> list[RunRecord]:
        with self.db.read() as conn:
            rows = (
                self.db.execute(
                    conn, f"SELECT * FROM {self.db.table('runs')} ORDER BY started_at DESC LIMIT :n", {"n": limit}
                )
                .mappings()
                .all()
            )
        return [run_from(r) for r in rows]

    def run(self, run_id: str) -> RunRecord | None:
        with self.db.read() as conn:
            r = (
                self.db.execute(conn, f"SELECT * FROM {self.db.table('runs')} WHERE run_id=:r", {"r": run_id})
                .mappings()
                .first()
            )
        return run_from(r) if r else None
