"""The store: the one place where sends and status events are recorded; sheets and CSVs
are views written back from it. One API over two backends (see database.py); every public
method is one short transaction, safe from several threads, processes and hosts."""

from __future__ import annotations

from pathlib import Path

from .database import POOL_SIZE, Database, StoreInfo
from .donotgift import DoNotGiftMixin
from .events import EventsMixin
from .invitations import InvitationsMixin
from .journal import JournalMixin
from .lists import ListsMixin
from .migrations import migrate
from .resolution import ResolutionMixin
from .runs import RunsMixin
from .spill import JournalSpill
from .stamp import StampMixin
from .unsaved import UnsavedMixin

RETRY_SECONDS = 60.0  # how long a run waits for a store that blipped (GIFTRUN_DATABASE_RETRY_SECONDS)


class Store(
    JournalMixin,
    RunsMixin,
    EventsMixin,
    ResolutionMixin,
    ListsMixin,
    DoNotGiftMixin,
    InvitationsMixin,
    StampMixin,
    UnsavedMixin,
):
    """`Store(folder)` is the embedded SQLite store in that folder; `Store(url)` with a
    `postgresql://…` URL is a shared database (tables in `schema`), at most `pool_size`
    connections from this process. Opening migrates. `retry_seconds` is how long a send run
    waits for the store to come back from a blip before it stops. `local_dir` is this host's
    folder for what a run learns while the store is away (spill.py); a SQLite store uses its own."""

    def __init__(
        self,
        location: str | Path,
        *,
        schema: str | None = None,
        pool_size: int = POOL_SIZE,
        retry_seconds: float = RETRY_SECONDS,
        local_dir: Path | None = None,
    ) -> None:
        self.db = Database(location, schema=schema, pool_size=pool_size)
        self.retry_seconds = retry_seconds
        self.data_dir = self.db.data_dir  # the folder of a SQLite store; None for a database
        self.path = self.db.path
        folder = local_dir or self.db.data_dir
        self.spill = JournalSpill(folder, self.db.info.where) if folder is not None else None
        try:
            migrate(self.db)
        except BaseException:
            self.db.dispose()
            raise

    @property
    def info(self) -> StoreInfo:
        return self.db.info

    def close(self) -> None:
        self.db.dispose()

    def __repr__(self) -> str:
        return f"Store({self.info.backend}: {self.info.where})"
