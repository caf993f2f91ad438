"""The gspread client: signed in as the service account, or pointed at an emulator.

Like Google's own emulators, `make_client(..., emulator_host="host:port")` (callers pass
the `SHEETS_EMULATOR_HOST` setting) talks to http://host:port with no Google auth: a
requests transport adapter mounted for https://sheets.googleapis.com (and
www.googleapis.com) rewrites each request's URL to the emulator and ignores proxies.
gspread itself is unchanged: `gspread.Client(auth=None, session=that_session)`. Every call
goes through gspread's own HTTP client (`client.http_client`), opened by key only (no
Drive API)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import gspread
import requests

from .errors import SheetsAuthError, SheetsError, shorten

SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)
SHEETS_HOST = "https://sheets.googleapis.com"
GOOGLE_HOSTS = ("https://sheets.googleapis.com", "https://www.googleapis.com")


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
                request.url = self.base + url[len(prefix) :]
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
            raise SheetsAuthError(f"The Google service account JSON is not valid: {shorten(str(exc), 160)}") from None
        if session is not None:
            client = GiftrunClient(auth=creds, session=session)
        else:
            client = GiftrunClient(auth=creds)
    client.service_account_email = email
    client.set_timeout(timeout)
    return client
