"""What a run knew while the store was away, kept on this host's disk until the store takes it.

A run decides facts the journal must hear: "this claim was never sent", "this row was not
created (429)", "this row became gift G". When the store is away the run keeps them in memory
and tries again (`run_journal.py`); if the process ends first (the store never came back, a
kill), the memory is gone, and the next run would take the row's `attempting` line for an
attempt that may have reached &Open and mark it unknown. So each fact is also appended here,
fsynced, the moment the store refuses it; the next run on this host applies the file before
it marks orphans (`JournalMixin.settle_spilled`). Every fact names the run that decided it
and only changes that run's own line, so applying it twice, late, or after the run settled it
itself changes nothing more.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

from ..models import EventSource, GiftRequest, SendState, StatusEvent

log = logging.getLogger(__name__)

FILE_PREFIX = "unsaved-journal"


class Fact(StrEnum):
    NEVER_SENT = "never_sent"  # the claim's line may exist, but no request left for it
    OUTCOME = "outcome"  # the row's answer: sent (with the gift), failed, rejected, unknown


@dataclass(frozen=True)
class SpilledFact:
    """One fact a run could not write; `fields` are `record_outcome`'s keyword arguments."""

    fact: Fact
    list_key: str
    email: str
    run_id: str
    fields: dict = field(default_factory=dict)


class JournalSpill:
    """An append-only file of facts for one store (named after it), locked across processes."""

    def __init__(self, folder: Path, store_identity: str) -> None:
        digest = hashlib.sha256(store_identity.encode()).hexdigest()[:16]
        self.path = folder / f"{FILE_PREFIX}-{digest}.jsonl"

    def add(self, item: SpilledFact) -> None:
        """Append and fsync: the fact survives the process. A disk that refuses loses only this
        second copy (the run still holds it in memory), so it is logged, not raised."""
        line = json.dumps({**asdict(item), "fact": item.fact.value}, separators=(",", ":")) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._locked("a") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            log.warning("could not keep a journal fact on disk (%s): %s", self.path, exc)

    @contextmanager
    def taken(self) -> Iterator[list[SpilledFact]]:
        """The facts kept so far; emptied when the block ends without an error (applied)."""
        if not self.path.exists():
            yield []
            return
        with self._locked("r+") as fh:
            facts = [_parse(line) for line in fh.read().splitlines() if line.strip()]
            yield [f for f in facts if f is not None]
            fh.seek(0)
            fh.truncate()
            fh.flush()
            os.fsync(fh.fileno())

    @contextmanager
    def _locked(self, mode: str) -> Iterator:
        with open(self.path, mode, encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield fh
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def _parse(line: str) -> SpilledFact | None:
    """A torn last line (a crash mid-append) is skipped: its fact is still in the run's memory
    or, if the run died, the row stays unknown, the safe side."""
    try:
        raw = json.loads(line)
        return SpilledFact(Fact(raw["fact"]), raw["list_key"], raw["email"], raw["run_id"], dict(raw["fields"]))
    except (ValueError, KeyError, TypeError):
        log.warning("skipped an unreadable journal fact: %r", line[:80])
        return None


def gift_fact(list_key: str, run_id: str, email: str, gift: GiftRequest, *, at: str, actor: str) -> SpilledFact:
    """A created gift as a fact: its line's outcome and what its status history's first event needs."""
    fields = {
        "state": SendState.SENT.value,
        "gift_request_id": gift.id,
        "redemption_url": gift.redemption_url,
        "at": at,
        "status": gift.status or "submitted",
        "created_at": gift.created_at,
        "campaign_id": gift.campaign_id,
        "actor": actor,
    }
    return SpilledFact(Fact.OUTCOME, list_key, email, run_id, fields)


def sent_event(fact: SpilledFact) -> StatusEvent:
    """The gift's first status event, the same whether written by the run or from the disk."""
    f = fact.fields
    return StatusEvent(
        event_id=f"send:{f['gift_request_id']}",
        gift_request_id=f["gift_request_id"],
        status=f.get("status") or "submitted",
        source=EventSource.SEND,
        email=fact.email,
        event_type="gift_request_created",
        occurred_at=f.get("created_at"),
        redemption_url=f.get("redemption_url"),
        actor=f.get("actor") or "",
        campaign_id=f.get("campaign_id"),
        created_at=f.get("created_at"),
    )
