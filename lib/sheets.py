"""Google Sheets through gspread 6: open a list by its link, read it as text, write results
back in one batched call per flush, and keep a shared `Gift history` tab.

Every call goes through gspread's own HTTP client (`client.http_client`), opened by key
only (no Drive API). Errors come out as one tree rooted at `SheetsError`, whose str is a
message a user can act on.

Row identity
------------
Results must land on the right person's row even when people insert, delete or sort
rows while a run is going, so a row is never addressed by its position alone.

* A row's key is its normalised email plus its occurrence number among rows with that
  email, in sheet order: ``alice@x.com#1``. A row without an email is keyed by its
  normalised first and last name: ``#name:alice|smith#1``; a row with neither is
  ``#blank#N``. Fully blank rows have no key (and are not in `read()`'s frame).
  `row_keys()` computes them; the caller sets them as the frame's index right after
  `read()` (before any edits in the app, since they must describe the sheet's content).
* At every flush the sink re-reads the tab (one values batchGet: a read, not a write),
  recomputes the keys and maps each result's key to the row where that person is now.
  A key no longer present (row deleted, email edited) falls back to the result's email
  when exactly one row has it; otherwise the result is kept (`sink.unplaced`), retried at
  every later flush, and reported in `FlushReport.unplaced`.
* The Sheets API has no conditional write, so an edit that lands between a flush's read
  and its write (a few hundred milliseconds) can still shift a write onto a neighbour.
  The next flush's read checks the cells written by the previous flush, by key: cells
  that are missing from their person's row are written again, and cells that landed on
  someone else's row are put back as they were. `sink.settle()` runs that check once at
  the end of a run (one read, and a write only when something moved).
* Duplicate emails share one identity (the send journal is keyed by email too), so which
  of two duplicates gets `#1` may change when they are sorted; both are the same person.

Write-back
----------
Missing result columns (`writeback.RESULT_COLUMNS`, canonical order) are added after the
user's last used column, never reordering the user's own; existing ones are matched
loosely ("gift_request_id" is "Gift request ID"). The grid is widened first when needed
(Google refuses writes outside it). Only cells whose value differs from what the flush
read are written, grouped into rectangles, in ONE `values:batchUpdate` with
valueInputOption RAW (so "=HYPERLINK(...)" or "00123" stay text). A payload above ~1.8 MB
is split into several calls. 429 and 5xx are retried with capped exponential backoff
(sleep injected); a 429 that outlasts the attempts raises `SheetsQuotaError` and the
caller keeps the results pending (they live in the run journal) and retries them later.

Quota: Google allows 60 write requests a minute per user, and one service account is one
user for everybody. A flush costs one read and at most one write (plus one
`appendDimension` the first time the grid is too narrow).

Emulator
--------
Like Google's own emulators, `make_client(..., emulator_host="host:port")` (callers pass
``os.environ.get("SHEETS_EMULATOR_HOST")``) talks to http://host:port with no Google
auth: a requests transport adapter mounted for https://sheets.googleapis.com (and
www.googleapis.com) rewrites each request's URL to the emulator and ignores proxies.
gspread itself is unchanged: `gspread.Client(auth=None, session=that_session)`.
"""
from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import gspread
import pandas as pd
import requests
from gspread.exceptions import APIError, SpreadsheetNotFound, WorksheetNotFound
from gspread.utils import absolute_range_name, rowcol_to_a1

from .models import EventSource, StatusEvent, normalize_email
from .headers import normalise_header
from .writeback import RESULT_COLUMNS, RowResult, merge_results, result_positions

SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)
SHEETS_HOST = "https://sheets.googleapis.com"
GOOGLE_HOSTS = ("https://sheets.googleapis.com", "https://www.googleapis.com")
HISTORY_TITLE = "Gift history"
HISTORY_HEADER: tuple[str, ...] = (
    "Received at", "Event id", "Type", "Gift request ID", "Email", "Status", "Source",
    "Occurred at", "Redemption URL", "Actor", "Campaign ID", "Created at",
)
MAX_PAYLOAD_BYTES = 1_800_000  # Google recommends keeping requests under ~2 MB
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


# -- errors ------------------------------------------------------------------------------
class SheetsError(Exception):
    """Root of every Google Sheets problem; str(e) is a message for the user."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return self.message


class SheetNotFoundError(SheetsError):
    """No spreadsheet with that key."""


class SheetNotSharedError(SheetsError):
    """The spreadsheet exists but the service account may not open (or edit) it."""


class WorksheetNotFoundError(SheetsError):
    """No tab with that title or gid."""


class NoHeaderRowError(SheetsError):
    """The tab is empty or its first row is blank."""


class SheetsQuotaError(SheetsError):
    """Google still answered 429 after backing off: retry later."""


class SheetsAuthError(SheetsError):
    """The service account JSON is missing, malformed, or refused by Google."""


class RowsNotFoundError(SheetsError):
    """Some results could not be placed: their rows are gone (only with raise_on_unplaced)."""


def _share_hint(service_email: str | None) -> str:
    who = service_email or "the app's Google service account (its client_email)"
    return f"Share the sheet with {who} as an Editor, then try again."


def sheets_error(
    exc: BaseException, *, key: str | None = None, service_email: str | None = None,
) -> SheetsError:
    """The one mapping from gspread / HTTP / auth failures to the SheetsError tree."""
    if isinstance(exc, SheetsError):
        return exc
    status = status_of(exc)
    detail = _api_message(exc)
    what = f"the Google Sheet {key}" if key else "the Google Sheet"
    if isinstance(exc, WorksheetNotFound):
        return WorksheetNotFoundError(f"There is no tab called {exc} in {what}.")
    if _is_transport_failure(exc):
        return SheetsError("Could not reach Google to sign in (network problem). Try again in a minute.")
    if _is_auth_failure(exc):
        return SheetsAuthError(
            "Google refused the service account's credentials "
            f"({_short(str(exc))}). Check that its key is current and not deleted."
        )
    if status is None:
        if isinstance(exc, requests.Timeout):
            return SheetsError("Google Sheets did not answer in time. Try again in a minute.")
        if isinstance(exc, requests.RequestException):
            return SheetsError("Could not reach Google Sheets (network problem). Try again in a minute.")
        return SheetsError(f"Google Sheets failed: {_short(str(exc)) or type(exc).__name__}")
    if status == 404:
        return SheetNotFoundError(
            f"No Google Sheet was found at that link (ID {key or '?'}). Check that the link is "
            "complete and the sheet was not deleted.", status=status,
        )
    if status == 403:
        low = detail.lower()
        if "has not been used" in low or "is disabled" in low or "service_disabled" in low:
            return SheetsAuthError(
                "The Google Sheets API is not enabled for the service account's Google Cloud "
                "project. Enable it in the Cloud console, wait a minute, and try again.",
                status=status,
            )
        return SheetNotSharedError(
            f"Giftrun is not allowed to open or edit {what}. {_share_hint(service_email)}",
            status=status,
        )
    if status == 401:
        return SheetsAuthError(
            "Google rejected the service account's credentials. Check the service account JSON.",
            status=status,
        )
    if status == 429:
        return SheetsQuotaError(
            "Google Sheets' quota is used up for now (60 writes a minute per service account). "
            "Results are kept and will be written at the next try.", status=status,
        )
    if status >= 500:
        return SheetsError(
            f"Google Sheets is having trouble (HTTP {status}). Try again in a minute.", status=status
        )
    return SheetsError(f"Google Sheets refused the request: {_short(detail)}", status=status)


def status_of(exc: BaseException) -> int | None:
    """HTTP status behind a gspread/requests exception, None for a network failure."""
    if isinstance(exc, APIError):
        try:
            return int(exc.response.status_code)
        except Exception:
            return int(exc.code) if isinstance(exc.code, int) and exc.code > 0 else None
    if isinstance(exc, SpreadsheetNotFound):
        return 404
    if isinstance(exc, PermissionError) and isinstance(exc.__cause__, APIError):
        return status_of(exc.__cause__)
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return exc.response.status_code
    if isinstance(exc, SheetsError):
        return exc.status
    return None


def _api_message(exc: BaseException) -> str:
    if isinstance(exc, APIError):
        return str(exc.error.get("message", "")) + " " + str(exc.error.get("status", ""))
    if isinstance(exc, PermissionError) and isinstance(exc.__cause__, APIError):
        return _api_message(exc.__cause__)
    return str(exc)


def _is_auth_failure(exc: BaseException) -> bool:
    """google-auth failures (refused or unreachable token endpoint): never retried here."""
    try:
        from google.auth.exceptions import GoogleAuthError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, GoogleAuthError)


def _is_transport_failure(exc: BaseException) -> bool:
    try:
        from google.auth.exceptions import TransportError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, TransportError)


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- retries -----------------------------------------------------------------------------
def retry_delay(
    status: int | None, attempt: int, *, idempotent: bool = True, max_attempts: int = 5,
    base: float = 1.0, cap: float = 32.0,
) -> float | None:
    """Seconds to wait after failed attempt number `attempt` (1-based), or None to give up.
    Retried: 429 and 5xx; network failures (status None) only for idempotent calls (an
    append that timed out may have been applied)."""
    if attempt >= max_attempts:
        return None
    if status is None:
        if not idempotent:
            return None
    elif status not in RETRYABLE_STATUSES:
        return None
    return min(cap, base * 2 ** (attempt - 1))


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 32.0
    sleep: Callable[[float], None] = time.sleep


class _Caller:
    """Runs one API call with backoff, counts it, and maps its failure."""

    def __init__(self, retry: RetryPolicy, key: str, service_email: str | None) -> None:
        self.retry = retry
        self.key = key
        self.service_email = service_email
        self.read_calls = 0
        self.write_calls = 0
        self.sleeps: list[float] = []

    def read(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        return self._run("read", fn, args, kw, idempotent=True)

    def write(self, fn: Callable[..., Any], *args: Any, idempotent: bool = True, **kw: Any) -> Any:
        return self._run("write", fn, args, kw, idempotent=idempotent)

    def _run(self, kind: str, fn: Callable[..., Any], args: tuple, kw: dict, *, idempotent: bool) -> Any:
        attempt = 0
        while True:
            attempt += 1
            if kind == "read":
                self.read_calls += 1
            else:
                self.write_calls += 1
            try:
                return fn(*args, **kw)
            except (APIError, SpreadsheetNotFound, PermissionError, requests.RequestException) as exc:
                status = status_of(exc)
                if status is None and _is_auth_failure(exc):
                    raise sheets_error(exc, key=self.key, service_email=self.service_email) from None
                delay = retry_delay(
                    status, attempt, idempotent=idempotent, max_attempts=self.retry.max_attempts,
                    base=self.retry.base_delay, cap=self.retry.max_delay,
                )
                if delay is None:
                    raise sheets_error(exc, key=self.key, service_email=self.service_email) from exc
                self.sleeps.append(delay)
                self.retry.sleep(delay)
            except Exception as exc:
                if _is_auth_failure(exc):
                    raise sheets_error(exc, key=self.key, service_email=self.service_email) from None
                raise


# -- references --------------------------------------------------------------------------
@dataclass(frozen=True)
class SheetRef:
    key: str
    gid: int | None = None

    @property
    def url(self) -> str:
        base = f"https://docs.google.com/spreadsheets/d/{self.key}/edit"
        return base + (f"#gid={self.gid}" if self.gid is not None else "")


_KEY_IN_URL = re.compile(r"/spreadsheets/(?:u/\d+/)?d/([A-Za-z0-9_-]+)")
_OLD_KEY = re.compile(r"[?&]key=([A-Za-z0-9_-]+)")
_GID = re.compile(r"[#?&]gid=(\d+)")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]{25,}$")
MAX_SHEET_LINK = 2048
_NOT_A_SHEET = (
    "That doesn't look like a Google Sheet link. Paste the address from the browser while "
    "the sheet is open (https://docs.google.com/spreadsheets/d/…/edit)."
)


def parse_sheet_ref(text: str) -> SheetRef:
    """A sheet link (…/spreadsheets/d/KEY/edit#gid=123 or ?gid=) or a bare key."""
    raw = (text or "").strip()
    if len(raw) > MAX_SHEET_LINK:  # no real link is this long (and a 5,000-digit gid is no int)
        raise SheetsError(f"That link is {len(raw):,} characters long; a Google Sheet link is at most "
                          f"{MAX_SHEET_LINK:,}. {_NOT_A_SHEET}")
    if "docs.google.com" in raw or "/spreadsheets/" in raw:
        if "/spreadsheets/d/e/" in raw:
            raise SheetsError(
                "That is a 'Publish to web' link, which can't be edited. Paste the address "
                "from the browser while the sheet is open for editing."
            )
        m = _KEY_IN_URL.search(raw) or _OLD_KEY.search(raw)
        if not m:
            raise SheetsError(_NOT_A_SHEET)
        g = _GID.search(raw)
        return SheetRef(m.group(1), int(g.group(1)) if g else None)
    if _BARE_KEY.match(raw):
        return SheetRef(raw)
    raise SheetsError(_NOT_A_SHEET)


def is_sheet_ref(text: str) -> bool:
    """True for a sheet link or bare key (the CLI should check for an existing file first)."""
    try:
        parse_sheet_ref(text)
    except SheetsError:
        return False
    return True


# -- client ------------------------------------------------------------------------------
class GiftrunClient(gspread.Client):
    """A gspread.Client that remembers which service account it acts as (for messages)."""

    service_account_email: str | None = None


class EmulatorAdapter(requests.adapters.HTTPAdapter):
    """Sends requests meant for Google's hosts to an emulator at http://host:port."""

    def __init__(self, emulator_host: str) -> None:
        super().__init__()
        host = emulator_host.strip().rstrip("/")
        self.base = host if host.startswith(("http://", "https://")) else f"http://{host}"

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        url = request.url or ""
        for prefix in GOOGLE_HOSTS:
            if url.startswith(prefix):
                request.url = self.base + url[len(prefix):]
                break
        kwargs["proxies"] = {}
        return super().send(request, **kwargs)


def _service_account_info(service_account: Any) -> dict | None:
    if service_account is None:
        return None
    if isinstance(service_account, (str, bytes)):
        try:
            loaded = json.loads(service_account)
        except ValueError:
            raise SheetsAuthError("The Google service account JSON could not be read (it is not valid JSON).") from None
        service_account = loaded
    if not isinstance(service_account, Mapping):
        raise SheetsAuthError("The Google service account must be the JSON key file's content.")
    return {k: service_account[k] for k in service_account}


def service_account_email(info: Any) -> str | None:
    try:
        data = _service_account_info(info)
    except SheetsError:
        return None
    email = (data or {}).get("client_email")
    return str(email) if email else None


def make_client(
    service_account: Mapping[str, Any] | None,
    *,
    session: requests.Session | None = None,
    timeout: float = 30,
    emulator_host: str | None = None,
) -> gspread.Client:
    """A gspread client with an explicit timeout. With `emulator_host` it talks to that
    emulator without Google auth; otherwise it signs in as the service account. A
    `session` given without an emulator is used as is (it must already be authorised,
    e.g. a google.auth AuthorizedSession)."""
    email = service_account_email(service_account)
    if emulator_host:
        s = session if session is not None else requests.Session()
        adapter = EmulatorAdapter(emulator_host)
        for prefix in GOOGLE_HOSTS:
            s.mount(prefix + "/", adapter)
        client = GiftrunClient(auth=None, session=s)  # type: ignore[arg-type]
    else:
        info = _service_account_info(service_account)
        if not info:
            raise SheetsAuthError(
                "No Google service account is configured. Add [gcp_service_account] to the "
                "secrets or set GOOGLE_SERVICE_ACCOUNT_JSON."
            )
        try:
            from google.oauth2.service_account import Credentials

            creds = Credentials.from_service_account_info(info, scopes=list(SCOPES))
        except Exception as exc:  # malformed key, missing fields
            raise SheetsAuthError(
                f"The Google service account JSON is not valid: {_short(str(exc), 160)}"
            ) from None
        if session is not None:
            client = GiftrunClient(auth=creds, session=session)
        else:
            client = GiftrunClient(auth=creds)
    client.service_account_email = email
    client.set_timeout(timeout)
    return client


# -- row identity ------------------------------------------------------------------------
def _text(value: Any) -> str:
    if value is None:
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def _name_part(value: Any) -> str:
    return " ".join(_text(value).split()).casefold()


def identity(email: Any, first: Any = "", last: Any = "") -> str:
    """A row's identity before numbering (see the module docstring)."""
    e = normalize_email(_text(email))
    if e:
        return e
    f, l = _name_part(first), _name_part(last)
    if f or l:
        return f"#name:{f}|{l}"
    return "#blank"


def identity_keys(triples: Iterable[tuple[Any, Any, Any]]) -> list[str]:
    """Number identities by occurrence, in order: ['a@x.com#1', 'a@x.com#2', …]."""
    seen: dict[str, int] = defaultdict(int)
    out = []
    for email, first, last in triples:
        ident = identity(email, first, last)
        seen[ident] += 1
        out.append(f"{ident}#{seen[ident]}")
    return out


def row_keys(
    df: pd.DataFrame, email_col: str | None, first_col: str | None = None, last_col: str | None = None,
) -> list[str]:
    """Row keys for a frame read from a sheet, in its row order (set them as its index)."""
    n = len(df)

    def col(name: str | None) -> list[Any]:
        return list(df[name]) if name is not None and name in df.columns else [""] * n

    return identity_keys(zip(col(email_col), col(first_col), col(last_col)))


_loose = normalise_header  # headers are matched as everywhere else (lib/headers.py)


def _is_blank_row(row: Sequence[str]) -> bool:
    return not any(str(c).strip() for c in row)


# -- a list on a sheet -------------------------------------------------------------------
class _Counted:
    """Calls made through this object's caller (for tests, benchmarks, quota headroom)."""

    _caller: "_Caller"

    @property
    def read_calls(self) -> int:
        return self._caller.read_calls

    @property
    def write_calls(self) -> int:
        return self._caller.write_calls


class SheetList(_Counted):
    """One tab of a spreadsheet used as a gift list."""

    def __init__(self, client: gspread.Client, ref: SheetRef, metadata: Mapping[str, Any],
                 properties: Mapping[str, Any], caller: _Caller, retry: RetryPolicy) -> None:
        self.client = client
        self.http = client.http_client
        self.ref = ref
        self.key = ref.key
        self._metadata = metadata
        self.properties = dict(properties)
        self._caller = caller
        self.retry = retry
        self.row_numbers: list[int] = []  # sheet row number of each row of the last read()

    @classmethod
    def open(cls, client: gspread.Client, ref: SheetRef | str, worksheet: str | None = None, *,
             retry: RetryPolicy | None = None) -> "SheetList":
        """Open by key (one metadata read); the tab by title, else by the link's gid, else
        the first tab."""
        ref = ref if isinstance(ref, SheetRef) else parse_sheet_ref(ref)
        retry = retry or RetryPolicy()
        caller = _Caller(retry, ref.key, getattr(client, "service_account_email", None))
        meta = caller.read(client.http_client.fetch_sheet_metadata, ref.key)
        sheets = [s.get("properties", {}) for s in meta.get("sheets", [])]
        titles = [p.get("title", "") for p in sheets]
        chosen = None
        if worksheet:
            chosen = next((p for p in sheets if p.get("title") == worksheet), None) or next(
                (p for p in sheets if p.get("title", "").strip().casefold() == worksheet.strip().casefold()), None
            )
            if chosen is None:
                raise WorksheetNotFoundError(
                    f"There is no tab called '{worksheet}' in this spreadsheet. Tabs: "
                    + ", ".join(f"'{t}'" for t in titles) + "."
                )
        elif ref.gid is not None:
            chosen = next((p for p in sheets if p.get("sheetId") == ref.gid), None)
            if chosen is None:
                raise WorksheetNotFoundError(
                    f"The tab in that link (gid={ref.gid}) no longer exists. Tabs: "
                    + ", ".join(f"'{t}'" for t in titles) + "."
                )
        elif sheets:
            chosen = sheets[0]
        if chosen is None:
            raise WorksheetNotFoundError("This spreadsheet has no tabs.")
        return cls(client, ref, meta, chosen, caller, retry)

    # -- facts -------------------------------------------------------------------------
    @property
    def title(self) -> str:
        return self.properties["title"]

    @property
    def sheet_id(self) -> int:
        return int(self.properties.get("sheetId", 0))

    @property
    def spreadsheet_title(self) -> str:
        return self._metadata.get("properties", {}).get("title", "")

    @property
    def list_key(self) -> str:
        return f"sheet:{self.key}:{self.sheet_id}"

    @property
    def col_count(self) -> int:
        return int(self.properties.get("gridProperties", {}).get("columnCount", 26))

    @property
    def row_count(self) -> int:
        return int(self.properties.get("gridProperties", {}).get("rowCount", 1000))

    @property
    def service_email(self) -> str | None:
        return self._caller.service_email

    def worksheet_titles(self) -> list[str]:
        return [s.get("properties", {}).get("title", "") for s in self._metadata.get("sheets", [])]

    def refresh(self, caller: _Caller | None = None) -> None:
        """Re-read the spreadsheet's metadata (this tab's title and grid size)."""
        meta = (caller or self._caller).read(self.http.fetch_sheet_metadata, self.key)
        for s in meta.get("sheets", []):
            p = s.get("properties", {})
            if p.get("sheetId") == self.sheet_id:
                self._metadata = meta
                self.properties = dict(p)
                return
        raise WorksheetNotFoundError(f"The tab '{self.title}' was deleted from the spreadsheet.")

    # -- reading -----------------------------------------------------------------------
    def values(self, caller: _Caller | None = None) -> list[list[str]]:
        """All values of the tab as displayed text (one values batchGet). Follows a
        renamed tab once."""
        caller = caller or self._caller
        params = {"valueRenderOption": "FORMATTED_VALUE", "majorDimension": "ROWS"}
        for tries in (1, 2):
            try:
                res = caller.read(self.http.values_batch_get, self.key,
                                  [absolute_range_name(self.title)], params=params)
                break
            except SheetsError as exc:
                if tries == 2 or exc.status != 400:
                    raise
                self.refresh(caller)  # the tab was renamed: find it by its id
        ranges = res.get("valueRanges") or [{}]
        return [[_text(c) for c in row] for row in ranges[0].get("values", [])]

    def read(self) -> pd.DataFrame:
        """The tab as a frame of text: header = first row (trimmed), ragged rows padded,
        fully blank rows dropped, RangeIndex (set `row_keys(...)` as the index)."""
        values = self.values()
        if not values or _is_blank_row(values[0]):
            raise NoHeaderRowError(
                f"The tab '{self.title}' has no header row. Put the column names (First Name, "
                "Last Name, Email, …) in row 1, with one person per row below."
            )
        width = max(len(r) for r in values)
        rows, numbers = [], []
        for i, row in enumerate(values[1:], start=2):
            if _is_blank_row(row):
                continue
            rows.append(row + [""] * (width - len(row)))
            numbers.append(i)
        header = [c.strip() for c in values[0]] + [""] * (width - len(values[0]))
        names: list[str] = []
        keep: list[int] = []
        for j, h in enumerate(header):
            if not h:
                if not any(r[j] for r in rows):
                    continue  # a blank spacer column
                h = f"Column {rowcol_to_a1(1, j + 1)[:-1]}"
            base, n = h, 2
            while h in names:
                h, n = f"{base} ({n})", n + 1
            names.append(h)
            keep.append(j)
        data = [[r[j] for j in keep] for r in rows]
        self.row_numbers = numbers
        return pd.DataFrame(data, columns=names, dtype=str)

    def sink(self, email_col: str | None, first_col: str | None = None, last_col: str | None = None,
             **kwargs: Any) -> "SheetSink":
        return SheetSink(self, email_col, first_col, last_col, **kwargs)

    def history_tab(self, *, create: bool = False) -> "HistoryTab":
        """The `Gift history` tab of this spreadsheet (no extra metadata read)."""
        tab = HistoryTab(self.client, self.ref, self._metadata, self._caller, self.retry)
        if create:
            tab.ensure()
        return tab


# -- write-back --------------------------------------------------------------------------
@dataclass
class FlushReport:
    rows_written: int = 0
    cells_written: int = 0
    columns_added: list[str] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)  # row keys not found in the sheet
    repaired: int = 0  # cells fixed after a concurrent edit moved an earlier write
    read_calls: int = 0
    write_calls: int = 0


class SheetSink(_Counted):
    """Writes RowResults back to a SheetList's tab (implements writeback.ResultSink)."""

    def __init__(self, sheet: SheetList, email_col: str | None, first_col: str | None = None,
                 last_col: str | None = None, *, retry: RetryPolicy | None = None,
                 raise_on_unplaced: bool = False, max_payload_bytes: int = MAX_PAYLOAD_BYTES) -> None:
        self.sheet = sheet
        self.email_col, self.first_col, self.last_col = email_col, first_col, last_col
        self._caller = _Caller(retry or sheet.retry, sheet.key, sheet.service_email)
        self.raise_on_unplaced = raise_on_unplaced
        self.max_payload_bytes = max_payload_bytes
        self._unplaced: dict[str, RowResult] = {}
        # what the previous flush wrote ({key: {loose column: value}}) and what those
        # columns held before it, for every key: used to detect and repair moved writes
        self._recent: dict[str, dict[str, str]] = {}
        self._recent_names: dict[str, str] = {}
        self._before: dict[str, dict[str, str]] = {}
        self.last_report = FlushReport()

    @property
    def sleeps(self) -> list[float]:
        return list(self._caller.sleeps)

    @property
    def unplaced(self) -> list[RowResult]:
        return list(self._unplaced.values())

    def write(self, results: Sequence[RowResult]) -> FlushReport:
        """One flush: re-read the tab, place each result by its row key, write only the
        changed cells in one call. Raises SheetsError (e.g. SheetsQuotaError) with nothing
        written; the caller retries the same results later."""
        return self._flush(list(results))

    def settle(self) -> FlushReport:
        """End of a run: check once that the last flush's cells are on their people's rows
        (repairing moved ones) and retry unplaced results."""
        return self._flush([])

    # -- the flush -----------------------------------------------------------------------
    def _flush(self, results: list[RowResult]) -> FlushReport:
        pending = merge_results([*self._unplaced.values(), *results])
        if not pending and not self._recent:
            self.last_report = FlushReport()
            return self.last_report
        reads0, writes0 = self.read_calls, self.write_calls
        values = self.sheet.values(self._caller)
        if not values or _is_blank_row(values[0]):
            raise NoHeaderRowError(f"The header row of the tab '{self.sheet.title}' is gone.")
        # cells just read exist: the grid is at least that big (users may have grown it)
        gp = self.sheet.properties.setdefault("gridProperties", {})
        gp["rowCount"] = max(self.sheet.row_count, len(values))
        gp["columnCount"] = max(self.sheet.col_count, max(len(r) for r in values))
        header = [c.strip() for c in values[0]]
        pos = {h: j for j, h in reversed(list(enumerate(header))) if h}
        loose_pos = {_loose(h): j for j, h in reversed(list(enumerate(header))) if h}
        loose_pos.update({_loose(c): j for c, j in result_positions(header).items()})  # which one is ours

        def ident_col(name: str | None) -> int | None:
            if name is None:
                return None
            j = pos.get(name.strip(), loose_pos.get(_loose(name)))
            if j is None:
                raise SheetsError(
                    f"The column '{name}' is no longer in the tab '{self.sheet.title}'. Put it back "
                    "(same name) so results can be matched to their rows."
                )
            return j

        ecol, fcol, lcol = ident_col(self.email_col), ident_col(self.first_col), ident_col(self.last_col)

        def cell(row: list[str], j: int | None) -> str:
            return row[j] if j is not None and j < len(row) else ""

        data_rows = [i for i in range(1, len(values)) if not _is_blank_row(values[i])]
        keys = identity_keys((cell(values[i], ecol), cell(values[i], fcol), cell(values[i], lcol))
                             for i in data_rows)
        row_of = dict(zip(keys, data_rows))
        key_of = dict(zip(data_rows, keys))
        by_email: dict[str, list[int]] = defaultdict(list)
        if ecol is not None:
            for i in data_rows:
                e = normalize_email(cell(values[i], ecol))
                if e:
                    by_email[e].append(i)

        # place each result: its key's row now, else the only row with its email
        unplaced: dict[str, RowResult] = {}
        placed: list[tuple[int, RowResult]] = []
        claimed = {row_of[r.row_key] for r in pending if r.row_key in row_of}
        for r in pending:
            i = row_of.get(r.row_key)
            if i is None:
                cands = by_email.get(normalize_email(r.email), []) if r.email else []
                if len(cands) == 1 and cands[0] not in claimed:
                    i = cands[0]
                    claimed.add(i)
                else:
                    unplaced[r.row_key] = r
                    continue
            placed.append((i, r))

        # columns: loose name → index; missing result columns go after the last used one
        names: dict[str, str] = {}  # loose → display name
        for _i, r in placed:
            for name in r.values:
                names.setdefault(_loose(name), name)
        for lname, name in self._recent_names.items():
            names.setdefault(lname, name)
        col_at = {ln: loose_pos[ln] for ln in names if ln in loose_pos}
        added: list[str] = []
        if placed and any(ln not in col_at for ln in names):
            last_used = max((j for row in values for j, v in enumerate(row) if v.strip()), default=-1)
            wanted = [c for c in RESULT_COLUMNS if _loose(c) not in loose_pos]
            wanted += [n for ln, n in names.items() if ln not in loose_pos and n not in wanted]
            for n in wanted:
                last_used += 1
                col_at[_loose(n)] = last_used
                added.append(n)

        def current(i: int, j: int) -> str:
            return values[i][j] if i < len(values) and j < len(values[i]) else ""

        desired: dict[tuple[int, int], str] = {}
        repaired_cells: set[tuple[int, int]] = set()
        # 1) cells written by the previous flush that are not on their person's row
        if self._recent:
            written_by_col: dict[str, set[str]] = defaultdict(set)
            for cells in self._recent.values():
                for ln, v in cells.items():
                    written_by_col[ln].add(v)
            for key, cells in self._recent.items():
                i = row_of.get(key)
                if i is None:
                    continue  # the row was deleted after the write
                for ln, v in cells.items():
                    j = col_at.get(ln, loose_pos.get(ln))
                    # Ours is missing if the cell shows what it held before, or a value we wrote for
                    # someone else (moved); a newer value written by others (a status refresh, a
                    # person) is left alone.
                    cur = current(i, j) if j is not None else v
                    if cur != v and (cur == self._before.get(key, {}).get(ln, "") or cur in written_by_col[ln]):
                        desired[(i, j)] = v
                        repaired_cells.add((i, j))
            for i in data_rows:
                key = key_of[i]
                mine = self._recent.get(key, {})
                for ln, vals in written_by_col.items():
                    j = loose_pos.get(ln)
                    if j is None or ln in mine or (i, j) in desired:
                        continue
                    cur = current(i, j)
                    before = self._before.get(key, {}).get(ln, "")
                    if cur != before and cur in vals:
                        desired[(i, j)] = before  # our write landed on someone else's row
                        repaired_cells.add((i, j))
        # 2) this flush's results
        for i, r in placed:
            for name, v in r.values.items():
                desired[(i, col_at[_loose(name)])] = _text(v)
        for n in added:
            desired[(0, col_at[_loose(n)])] = n
        changes = {p: v for p, v in desired.items() if current(*p) != v}

        if changes:
            self._write_cells(changes)
        # remember what this flush wrote, and what those columns held before, by key
        recent: dict[str, dict[str, str]] = defaultdict(dict)
        loose_of_col = {j: ln for ln, j in col_at.items()}
        for (i, j), v in changes.items():
            if i == 0 or i not in key_of or j not in loose_of_col:
                continue
            recent[key_of[i]][loose_of_col[j]] = v
        written_cols = {(ln, j) for ln, j in col_at.items() if any(ln in c for c in recent.values())}
        self._before = {key_of[i]: {ln: current(i, j) for ln, j in written_cols} for i in data_rows}
        self._recent = dict(recent)
        self._recent_names = {ln: names.get(ln, ln) for ln, _ in written_cols}
        self._unplaced = unplaced
        report = FlushReport(
            rows_written=len({i for (i, _j) in changes if i != 0}),
            cells_written=len(changes),
            columns_added=added,
            unplaced=list(unplaced),
            repaired=len(repaired_cells & set(changes)),
            read_calls=self.read_calls - reads0,
            write_calls=self.write_calls - writes0,
        )
        self.last_report = report
        if unplaced and self.raise_on_unplaced:
            raise RowsNotFoundError(
                f"{len(unplaced)} result(s) could not be written: their rows are no longer in the "
                "sheet (deleted, or the email was changed). They are kept and retried."
            )
        return report

    def _write_cells(self, changes: Mapping[tuple[int, int], str]) -> None:
        need_cols = max(j for _i, j in changes) + 1
        need_rows = max(i for i, _j in changes) + 1
        self._ensure_grid(need_rows, need_cols)
        data = [
            {"range": absolute_range_name(self.sheet.title,
                                          f"{rowcol_to_a1(r0 + 1, c0 + 1)}:{rowcol_to_a1(r0 + len(block), c0 + len(block[0]))}"),
             "majorDimension": "ROWS", "values": block}
            for r0, c0, block in _blocks(changes)
        ]
        for chunk in _chunks(data, self.max_payload_bytes):
            body = {"valueInputOption": "RAW", "data": chunk}
            try:
                self._caller.write(self.sheet.http.values_batch_update, self.sheet.key, body=body)
            except SheetsError as exc:
                if exc.status != 400 or "grid limits" not in exc.message:
                    raise
                # the grid shrank since we last looked (someone deleted columns or rows)
                self.sheet.refresh(self._caller)
                self._ensure_grid(need_rows, need_cols)
                self._caller.write(self.sheet.http.values_batch_update, self.sheet.key, body=body)

    def _ensure_grid(self, rows: int, cols: int) -> None:
        reqs = []
        if cols > self.sheet.col_count:
            reqs.append({"appendDimension": {"sheetId": self.sheet.sheet_id, "dimension": "COLUMNS",
                                             "length": cols - self.sheet.col_count}})
        if rows > self.sheet.row_count:
            reqs.append({"appendDimension": {"sheetId": self.sheet.sheet_id, "dimension": "ROWS",
                                             "length": rows - self.sheet.row_count}})
        if not reqs:
            return
        self._caller.write(self.sheet.http.batch_update, self.sheet.key, {"requests": reqs})
        gp = self.sheet.properties.setdefault("gridProperties", {})
        gp["columnCount"] = max(cols, self.sheet.col_count)
        gp["rowCount"] = max(rows, self.sheet.row_count)


def _blocks(changes: Mapping[tuple[int, int], str]) -> list[tuple[int, int, list[list[str]]]]:
    """Changed cells → rectangles: runs of adjacent changed cells in a row, then runs of
    consecutive rows with the same column span. Only changed cells are covered."""
    by_row: dict[int, list[int]] = defaultdict(list)
    for i, j in changes:
        by_row[i].append(j)
    runs: list[tuple[int, int, int]] = []  # (row, c0, c1 exclusive)
    for i, cols in by_row.items():
        cols.sort()
        start = prev = cols[0]
        for j in cols[1:]:
            if j != prev + 1:
                runs.append((i, start, prev + 1))
                start = j
            prev = j
        runs.append((i, start, prev + 1))
    runs.sort(key=lambda t: (t[1], t[2], t[0]))
    out: list[tuple[int, int, list[list[str]]]] = []
    cur: tuple[int, int, int, int] | None = None  # r0, r1 exclusive, c0, c1
    for i, c0, c1 in runs:
        if cur and cur[2] == c0 and cur[3] == c1 and cur[1] == i:
            cur = (cur[0], i + 1, c0, c1)
            continue
        if cur:
            out.append(_block(cur, changes))
        cur = (i, i + 1, c0, c1)
    if cur:
        out.append(_block(cur, changes))
    return out


def _block(span: tuple[int, int, int, int], changes: Mapping[tuple[int, int], str]
           ) -> tuple[int, int, list[list[str]]]:
    r0, r1, c0, c1 = span
    return r0, c0, [[changes[(i, j)] for j in range(c0, c1)] for i in range(r0, r1)]


def _chunks(data: list[dict], limit: int) -> Iterable[list[dict]]:
    chunk: list[dict] = []
    size = 0
    for d in data:
        n = len(json.dumps(d, ensure_ascii=False).encode()) + 2
        if chunk and size + n > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append(d)
        size += n
    if chunk:
        yield chunk


# -- the shared history tab ---------------------------------------------------------------
def history_target(ref: SheetRef | str) -> str:
    """The store outbox target name for a spreadsheet's history tab."""
    key = ref.key if isinstance(ref, SheetRef) else parse_sheet_ref(ref).key
    return f"history:{key}"


class HistoryTab(_Counted):
    """The `Gift history` tab: one row per status event, appended, never rewritten."""

    def __init__(self, client: gspread.Client, ref: SheetRef, metadata: Mapping[str, Any],
                 caller: _Caller, retry: RetryPolicy) -> None:
        self.client = client
        self.http = client.http_client
        self.ref = ref
        self.key = ref.key
        self.retry = retry
        self._caller = _Caller(retry, ref.key, caller.service_email)
        self.properties: dict | None = None
        self._header: list[str] | None = None  # the tab's header as it is: rows are written to match it
        self._load(metadata)

    def _load(self, metadata: Mapping[str, Any]) -> None:
        for s in metadata.get("sheets", []):
            p = s.get("properties", {})
            if p.get("title", "").strip().casefold() == HISTORY_TITLE.casefold():
                self.properties = dict(p)
                return

    @classmethod
    def open(cls, client: gspread.Client, ref: SheetRef | str, *, create: bool = True,
             retry: RetryPolicy | None = None) -> "HistoryTab":
        ref = ref if isinstance(ref, SheetRef) else parse_sheet_ref(ref)
        retry = retry or RetryPolicy()
        caller = _Caller(retry, ref.key, getattr(client, "service_account_email", None))
        meta = caller.read(client.http_client.fetch_sheet_metadata, ref.key)
        tab = cls(client, ref, meta, caller, retry)
        tab._caller = caller  # count the metadata read as the tab's own
        if create:
            tab.ensure()
        return tab

    @property
    def exists(self) -> bool:
        return self.properties is not None

    @property
    def title(self) -> str:
        return (self.properties or {}).get("title", HISTORY_TITLE)

    def ensure(self) -> None:
        """Create the tab with its header when missing (two writes, once)."""
        if self.properties is not None:
            return
        body = {"requests": [{"addSheet": {"properties": {
            "title": HISTORY_TITLE, "gridProperties": {"rowCount": 1000, "columnCount": len(HISTORY_HEADER)},
        }}}]}
        try:
            res = self._caller.write(self.http.batch_update, self.key, body)
            self.properties = dict(res["replies"][0]["addSheet"]["properties"])
        except SheetsError as exc:
            if exc.status != 400 or "already exists" not in exc.message:
                raise
            # someone else created it meanwhile
            self._load(self._caller.read(self.http.fetch_sheet_metadata, self.key))
            return
        self._caller.write(self.http.values_update, self.key, absolute_range_name(HISTORY_TITLE, "A1"),
                           params={"valueInputOption": "RAW"}, body={"values": [list(HISTORY_HEADER)]})
        self._header = list(HISTORY_HEADER)

    def append(self, events: Sequence[StatusEvent]) -> int:
        """Append events in one values.append call (RAW). Not retried on a network failure
        (it may have been applied); read_events() drops the duplicates a retry may leave."""
        if not events:
            return 0
        self.ensure()
        header = self._layout()
        rows = []
        for e in events:
            by_name = {_loose(h): v for h, v in zip(HISTORY_HEADER, _event_row(e))}
            rows.append([by_name.get(_loose(h), "") for h in header])
        self._caller.write(
            self.http.values_append, self.key, absolute_range_name(self.title, "A1"),
            {"valueInputOption": "RAW", "insertDataOption": "INSERT_ROWS"}, {"values": rows},
            idempotent=False,
        )
        return len(events)

    def _layout(self) -> list[str]:
        """The tab's header (read once). Someone may have added or moved columns: rows are
        written under the tab's own headers, and our missing columns are added at its end."""
        if self._header is None:
            first = self._caller.read(self.http.values_get, self.key, absolute_range_name(self.title, "1:1"))
            header = [str(h) for h in (first.get("values") or [[]])[0]]
            known = {_loose(h) for h in header if str(h).strip()}
            missing = [h for h in HISTORY_HEADER if _loose(h) not in known]
            if missing:
                header = (header if known else []) + missing
                self._widen(len(header))
                self._caller.write(self.http.values_update, self.key, absolute_range_name(self.title, "A1"),
                                   params={"valueInputOption": "RAW"}, body={"values": [header]})
            self._header = header
        return self._header

    def _widen(self, cols: int) -> None:
        """A tab made by an older Giftrun is narrower than today's header: Sheets refuses a
        write outside the grid, so add the columns first."""
        grid = (self.properties or {}).setdefault("gridProperties", {})
        have = int(grid.get("columnCount") or 0)
        if self.properties is None or cols <= have:
            return
        self._caller.write(self.http.batch_update, self.key, {"requests": [{"appendDimension": {
            "sheetId": self.properties.get("sheetId"), "dimension": "COLUMNS", "length": cols - have}}]})
        grid["columnCount"] = cols

    def read_events(self) -> list[StatusEvent]:
        """Every event on the tab (first copy of each event id), [] when there is no tab."""
        if self.properties is None:
            return []
        res = self._caller.read(self.http.values_get, self.key, absolute_range_name(self.title),
                                params={"valueRenderOption": "FORMATTED_VALUE"})
        values = res.get("values", [])
        if not values:
            return []
        col = {_loose(h): j for j, h in reversed(list(enumerate(values[0])))}

        def get(row: list, name: str) -> str:
            j = col.get(_loose(name))
            return str(row[j]).strip() if j is not None and j < len(row) else ""

        out: list[StatusEvent] = []
        seen: set[str] = set()
        for row in values[1:]:
            event_id, gift_id = get(row, "Event id"), get(row, "Gift request ID")
            if not event_id or not gift_id or event_id in seen:
                continue
            seen.add(event_id)
            try:
                source = EventSource(get(row, "Source"))
            except ValueError:
                source = EventSource.SHEET
            received = get(row, "Received at") or get(row, "Occurred at")
            kw = {"received_at": received} if received else {}
            out.append(StatusEvent(
                event_id=event_id, gift_request_id=gift_id, status=get(row, "Status"), source=source,
                email=get(row, "Email"), event_type=get(row, "Type"),
                occurred_at=get(row, "Occurred at") or None,
                redemption_url=get(row, "Redemption URL") or None, actor=get(row, "Actor"),
                campaign_id=get(row, "Campaign ID") or None, created_at=get(row, "Created at") or None, **kw,
            ))
        return out


def _event_row(e: StatusEvent) -> list[str]:
    return [
        e.received_at or "", e.event_id, e.event_type or "", e.gift_request_id, e.email or "",
        e.status or "", str(e.source), e.occurred_at or "", e.redemption_url or "", e.actor or "",
        e.campaign_id or "", e.created_at or "",
    ]


def sync_outbox(store: Any, target: str, tab: HistoryTab) -> int:
    """Append the store's pending events for `target` to the tab in one call and mark them
    done. On SheetsError they stay pending (retried next time) and the error is raised."""
    events = store.pending(target)
    if not events:
        return 0
    tab.append(events)
    store.done(target, [e.event_id for e in events])
    return len(events)


__all__ = [
    "SheetsError", "SheetNotFoundError", "SheetNotSharedError", "WorksheetNotFoundError",
    "NoHeaderRowError", "SheetsQuotaError", "SheetsAuthError", "RowsNotFoundError",
    "sheets_error", "status_of", "retry_delay", "RetryPolicy",
    "SheetRef", "parse_sheet_ref", "is_sheet_ref",
    "make_client", "service_account_email", "GiftrunClient", "EmulatorAdapter",
    "identity", "identity_keys", "row_keys",
    "SheetList", "SheetSink", "FlushReport", "HistoryTab", "HISTORY_TITLE", "HISTORY_HEADER",
    "history_target", "sync_outbox",
]
