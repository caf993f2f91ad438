"""SOURCE on the command line: a CSV path or a Google Sheet, loaded, with the sink that writes results back."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence

from ..control_chars import visible
from ..csv_sink import CsvFileSink
from ..recipients import ColumnMappingError
from ..settings import Settings
from ..sources import LoadedList, load_csv_path
from ..store import Store
from ..writeback import GIFT_REQUEST_ID, ResultSink, result_values
from .common import CliError, _out


def _parse_map(pairs: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or ():
        field, sep, column = pair.partition("=")
        field = field.strip().lower().replace("-", "_")
        if not sep or field not in {"first_name", "last_name", "email", "approved"} or not column.strip():
            raise CliError(
                f"--map {pair!r}: use FIELD=COLUMN with FIELD one of first_name, last_name, email, approved."
            )
        if out.get(field, column.strip()) != column.strip():
            raise CliError(f"--map gives {field} twice ('{out[field]}' and '{column.strip()}'): give each field once.")
        out[field] = column.strip()
    return out


class Source:
    """A CSV path or a Google Sheet, loaded, with the sink that writes results back."""

    def __init__(self, text: str, settings: Settings, overrides: dict[str, str], worksheet: str | None) -> None:
        self.text = text
        self.is_sheet = _source_kind(text) == "sheet"
        self.sink: ResultSink
        self.sheet_sink = None
        if self.is_sheet:
            from ..sheet_source import SheetColumnsError, load_sheet
            from ..sheets import SheetsError

            try:
                self.loaded, self.sheet_sink = load_sheet(text, settings, overrides, worksheet)
            except SheetColumnsError as exc:
                raise CliError(f"--map: {exc}") from None
            except SheetsError as exc:
                if _URL.match(text.strip()):
                    raise
                # a bare key that is not a sheet may be a file name mistyped: say both
                raise CliError(
                    f"{exc} There is no file called '{visible(text.strip())}' here either.", exc.exit_code
                ) from None
            self.sink = self.sheet_sink
        else:
            try:
                self.loaded = load_csv_path(text, overrides)
            except ColumnMappingError as exc:
                raise CliError(f"--map: {exc}") from None
            self.sink = CsvFileSink(text, self.loaded)

    def finish(self, store: Store) -> None:
        """For a sheet: settle moved writes and append this list's status events to its
        `Gift history` tab (created when missing)."""
        if self.sheet_sink is None:
            return
        from .. import sheets
        from ..sheet_source import mirror_events

        self.sheet_sink.settle()
        sheet = self.sheet_sink.sheet
        ids = {g.strip() for g in _gift_ids(self.loaded) if g.strip()}
        ids |= {e.gift_request_id for e in store.journal(self.loaded.list_key).values() if e.gift_request_id}
        events = [e for gid in sorted(ids) for e in store.events(gift_request_id=gid)]
        if events:
            n = mirror_events(store, sheets.history_target(sheet.ref), lambda: sheet.history_tab(create=True), events)
            _out(f"Gift history tab: {n} new events appended.")


def _print_notes(loaded: LoadedList) -> None:
    """What reading the file worked around (a title above the header), said once."""
    for note in loaded.document.notes if loaded.document is not None else ():
        _out(f"Note: {note}")


def _gift_ids(loaded: LoadedList) -> list[str]:
    ids = result_values(loaded.frame, GIFT_REQUEST_ID)
    return [] if ids is None else ids.tolist()


def _import_shared_history(settings: Settings, store: Store) -> None:
    if not settings.history_sheet:
        return
    from ..sheet_source import import_shared_history

    try:
        n = import_shared_history(settings, store)
    except Exception as exc:  # the local store still works; say so and go on
        _out(f"Warning: could not read the shared Gift history ({exc}); using the local store only.")
    else:
        if n:
            _out(f"Imported {n} events from the shared Gift history.")


MAX_SOURCE_CHARS = 4096  # PATH_MAX on Linux; a Google Sheet link is shorter still (sheets.MAX_SHEET_LINK)
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def _looks_like_sheet(raw: str) -> bool:
    from ..sheets import looks_like_sheet  # only when needed: a CSV run does not load gspread

    return looks_like_sheet(raw)


def _source_kind(text: str) -> str:
    """ "csv" for a regular file, "sheet" for a Google Sheet link or key. Anything else
    (a folder, a pipe, a device, another kind of URL) is refused before it is opened: a
    pipe or /dev/zero would never finish reading. An existing file wins over a name that
    could also be a sheet key (`sheets.looks_like_sheet` is the one rule for what is a sheet)."""
    raw = text.strip()
    shown = visible(raw if len(raw) <= 80 else raw[:79] + "…")
    if not raw:
        raise CliError("SOURCE is empty: give a CSV file path or a Google Sheet link.")
    if len(text) > MAX_SOURCE_CHARS:
        raise CliError(
            f"SOURCE is {len(text):,} characters long: a file path or a Google Sheet link is at most "
            f"{MAX_SOURCE_CHARS:,}."
        )
    if m := _URL.match(raw):
        scheme = m.group(1).lower()
        if scheme == "file":
            from urllib.parse import unquote, urlsplit

            raise CliError(
                f"'{shown}' is a file URL: give the file's path instead ({visible(unquote(urlsplit(raw).path))})."
            )
        if scheme in ("http", "https") and _looks_like_sheet(raw):
            return "sheet"
        if scheme in ("http", "https"):
            raise CliError(
                f"'{shown}' is a web address but not a Google Sheet link: download the CSV and give its "
                "path, or give the sheet's link (https://docs.google.com/spreadsheets/d/…/edit)."
            )
        raise CliError(
            f"'{shown}': {scheme}:// addresses are not read; SOURCE is a CSV file path or a Google Sheet link."
        )
    try:
        info = os.stat(text)
    except (FileNotFoundError, NotADirectoryError):
        if _looks_like_sheet(raw):  # an existing file by that name wins
            return "sheet"
        raise CliError(f"File not found: {shown}") from None
    except OSError as exc:
        raise CliError(f"Cannot open {shown}: {exc.strerror or exc}.") from None
    except ValueError:  # an embedded NUL byte
        raise CliError(f"'{shown}' is not a usable file path.") from None
    mode = info.st_mode
    if stat.S_ISREG(mode):
        return "csv"
    what = (
        "a folder"
        if stat.S_ISDIR(mode)
        else "a named pipe"
        if stat.S_ISFIFO(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "not a regular file"
    )
    raise CliError(f"'{shown}' is {what}, not a CSV file: save the list to a file and give its path.")


# -- send ---------------------------------------------------------------------------------
