"""The one error tree for Google Sheets: every gspread, HTTP and google-auth failure comes
out as a `SheetsError` whose str is a message the user can act on (share the sheet, enable
the API, wait for the quota). `sheets_error` is the only place that mapping is made."""

from __future__ import annotations

import requests
from gspread.exceptions import APIError, SpreadsheetNotFound, WorksheetNotFound

from ..errors import GiftrunError


class SheetsError(GiftrunError):
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
    exc: BaseException,
    *,
    key: str | None = None,
    service_email: str | None = None,
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
    if is_auth_failure(exc):
        return SheetsAuthError(
            "Google refused the service account's credentials "
            f"({shorten(str(exc))}). Check that its key is current and not deleted."
        )
    if status is None:
        if isinstance(exc, requests.Timeout):
            return SheetsError("Google Sheets did not answer in time. Try again in a minute.")
        if isinstance(exc, requests.RequestException):
            return SheetsError("Could not reach Google Sheets (network problem). Try again in a minute.")
        return SheetsError(f"Google Sheets failed: {shorten(str(exc)) or type(exc).__name__}")
    if status == 404:
        return SheetNotFoundError(
            f"No Google Sheet was found at that link (ID {key or '?'}). Check that the link is "
            "complete and the sheet was not deleted.",
            status=status,
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
            "Results are kept and will be written at the next try.",
            status=status,
        )
    if status >= 500:
        return SheetsError(f"Google Sheets is having trouble (HTTP {status}). Try again in a minute.", status=status)
    return SheetsError(f"Google Sheets refused the request: {shorten(detail)}", status=status)


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


def is_auth_failure(exc: BaseException) -> bool:
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


def shorten(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
