"""The store's side of `spill.py`: take what a run kept on disk while the store was away.

Each fact changes only the line its own run claimed (same run id, still `attempting` or
marked `unknown` since): a later run's line, a person's decision or the run's own settled
write is never overwritten. A gift is an exception only in being kept at all costs: when its
line is gone or another run's, the gift still enters the status history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from ..models import SendState, StatusEvent, iso, normalize_email, utcnow
from .database import Database
from .spill import Fact, JournalSpill, SpilledFact, sent_event

_NEVER_SENT = """
DELETE FROM {sends} WHERE list_key=:l AND email=:e AND run_id=:r
  AND state IN ('attempting', 'unknown') AND gift_request_id IS NULL"""

_OWN_OUTCOME = """
UPDATE {sends} SET state=:state, gift_request_id=COALESCE(:gift, gift_request_id),
    redemption_url=COALESCE(:url, redemption_url), error=:error, request_id=:request_id, finished_at=:at
WHERE list_key=:l AND email=:e AND run_id=:r AND state IN ('attempting', 'unknown')"""


class UnsavedMixin:
    db: Database
    spill: JournalSpill | None

    if TYPE_CHECKING:  # provided by the other parts of Store

        def _audit(
            self, conn: Connection, actor: str, action: str, list_key: str | None, email: str | None, detail: str
        ) -> None: ...

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
        ) -> None: ...

        def add_events(self, events: list[StatusEvent]) -> list[StatusEvent]: ...

    def keep_unsaved(self, fact: SpilledFact) -> None:
        """A fact the store refused just now, kept on this host's disk (when it has a folder)."""
        if self.spill is not None:
            self.spill.add(fact)

    def settle_unsaved(self) -> int:
        """Apply the facts runs on this host kept while the store was away; how many changed a line."""
        if self.spill is None:
            return 0
        with self.spill.taken() as facts:
            if not facts:
                return 0
            changed, gifts = 0, []
            sends = self.db.table("sends")
            with self.db.write() as conn:
                for f in facts:
                    changed += self._apply(conn, sends, f)
                    if f.fact == Fact.OUTCOME and f.fields.get("gift_request_id"):
                        gifts.append(f)
            for f in gifts:  # after the lines: a gift whose line is not its run's still gets there
                if not self._line_holds(sends, f):
                    self.record_outcome(f.list_key, f.email, SendState.SENT, **_outcome_fields(f))
                self.add_events([sent_event(f)])
            return changed

    def _apply(self, conn: Connection, sends: str, f: SpilledFact) -> int:
        key = {"l": f.list_key, "e": normalize_email(f.email), "r": f.run_id}
        if f.fact == Fact.NEVER_SENT:
            done = self.db.execute(conn, _NEVER_SENT.format(sends=sends), key).rowcount
            what, detail = "never-sent", f"run {f.run_id[:8]} stopped before sending this row (kept on disk)"
        else:
            params = {**key, **_outcome_fields(f), "state": SendState(f.fields["state"]).value}
            params["gift"], params["url"] = params.pop("gift_request_id"), params.pop("redemption_url")
            done = self.db.execute(conn, _OWN_OUTCOME.format(sends=sends), params).rowcount
            what = "late-outcome"
            detail = f"run {f.run_id[:8]}: {f.fields['state']} (kept on disk while the store was away)"
        if done:
            self._audit(conn, "giftrun", what, f.list_key, f.email, detail)
        return int(done)

    def _line_holds(self, sends: str, f: SpilledFact) -> bool:
        """The row's line already carries this gift, or another run's gift or attempt (left alone)."""
        with self.db.read() as conn:
            row = (
                self.db.execute(
                    conn,
                    f"SELECT state, gift_request_id FROM {sends} WHERE list_key=:l AND email=:e",
                    {"l": f.list_key, "e": normalize_email(f.email)},
                )
                .mappings()
                .first()
            )
        if row is None:
            return False
        return row["gift_request_id"] == f.fields["gift_request_id"] or row["state"] in ("sent", "attempting")


def _outcome_fields(f: SpilledFact) -> dict[str, str | None]:
    keys = ("gift_request_id", "redemption_url", "error", "request_id", "at")
    return {k: f.fields.get(k) for k in keys} | {"at": f.fields.get("at") or iso(utcnow())}
