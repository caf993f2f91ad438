"""&Open 2026-05 client: the only code that speaks to &Open.

The caller passes the transport (a `requests.Session`), base URL and timeouts. Every
failure is one exception of the `AndOpenError` tree, classified once in `error_for()` into
the outcome classes of docs/andopen-contract.md "Errors", so callers never inspect status
codes themselves. The token never appears in a message, repr or log line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import requests
import urllib3

from .andopen_hosts import DEFAULT_HOST, host_stage
from .errors import EXIT_STOPPED, GiftrunError
from .models import ApiErrorDetail, Campaign, GiftRequest, Outcome
from .settings import Secret, mask_token

API_VERSION = "2026-05"
DEFAULT_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds: never wait forever
MAX_CAMPAIGN_PAGES = 200  # 5,000 campaigns: a bound, not an expectation


# -- error tree -------------------------------------------------------------------------
class AndOpenError(GiftrunError):
    """Root of every &Open failure. `message` is safe to show; `request_id` is what
    &Open support asks for, added to str(e). The CLI exits 1: the run was stopped."""

    outcome: Outcome = Outcome.UNKNOWN
    exit_code = EXIT_STOPPED

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        details: tuple[ApiErrorDetail, ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.request_id = request_id
        self.details = details

    @property
    def user_message(self) -> str:
        """The old name of `message`, kept while other branches still read it."""
        return self.message

    def __str__(self) -> str:
        return self.message + (f" (Request-Id {self.request_id})" if self.request_id else "")


class RunStoppingError(AndOpenError):
    """Nothing more can be sent in this run: the key, the campaign or the version is wrong."""

    outcome = Outcome.RUN_STOPPING


class ConfigError(RunStoppingError):
    """Refused before any request (a staging key aimed at production, a malformed key)."""


class AuthenticationError(RunStoppingError):
    pass


class PermissionDeniedError(RunStoppingError):
    pass


class CampaignError(RunStoppingError):
    pass


class ApiVersionError(RunStoppingError):
    pass


class RejectedError(AndOpenError):
    """&Open refused this row; the details say what to fix. Other rows can go on."""

    outcome = Outcome.REJECTED


class NotFoundError(AndOpenError):
    outcome = Outcome.REJECTED


class RetryableError(AndOpenError):
    """&Open certainly did not process the request: safe to send again after a pause."""

    outcome = Outcome.RETRYABLE

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class RateLimitedError(RetryableError):
    pass


class ServiceUnavailableError(RetryableError):
    pass


class NotSentError(RetryableError):
    """The connection failed before the request went out."""


class UnknownOutcomeError(AndOpenError):
    """The request may have been processed: never retried automatically."""

    outcome = Outcome.UNKNOWN


# -- classification (one function, tested as a table) -----------------------------------
# Error codes are an open set, and a campaign problem is the same for every row of a run,
# so any problem on campaign_id stops the run (see error_for).


def parse_error_details(body: Any) -> tuple[ApiErrorDetail, ...]:
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return ()
    out = []
    for e in errors:
        if isinstance(e, dict):
            out.append(
                ApiErrorDetail(
                    type=str(e.get("type") or ""),
                    code=str(e.get("code") or ""),
                    message=str(e.get("message") or ""),
                    param=(str(e["param"]) if e.get("param") else None),
                )
            )
    return tuple(out)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP-date: fall back to our own backoff


def error_for(
    status: int, body: Any, *, request_id: str | None = None, retry_after: str | None = None, creating: bool = False
) -> AndOpenError:
    """Map a non-2xx answer to its error class. `creating` is True for POST /gift_requests,
    where a 5xx may hide a created gift."""
    details = parse_error_details(body)
    kw: dict[str, Any] = dict(status=status, request_id=request_id, details=details)
    codes = {d.code for d in details}
    text = "; ".join(d.describe() for d in details) or f"HTTP {status}"
    if status == 400 and "unsupported_api_version" in codes:
        return ApiVersionError(f"&Open refused the API version: {text}", **kw)
    if status == 401:
        return AuthenticationError(
            "&Open rejected the API key (invalid, expired, or for another environment or region).", **kw
        )
    if status == 403:
        return PermissionDeniedError("This &Open key is not allowed to do that.", **kw)
    if status == 429:
        return RateLimitedError("&Open is rate limiting requests.", retry_after=_retry_after(retry_after), **kw)
    if status == 503:
        return ServiceUnavailableError("&Open is temporarily unavailable.", retry_after=_retry_after(retry_after), **kw)
    if status >= 500:
        if creating:
            return UnknownOutcomeError(f"&Open answered {status}: the gift may or may not have been created.", **kw)
        return RetryableError(f"&Open answered {status}.", **kw)
    campaign_problems = [d for d in details if d.param == "campaign_id"]
    if creating and (campaign_problems or status == 404):
        why = "; ".join(d.describe() for d in campaign_problems) or "not found"
        return CampaignError(f"The campaign cannot be used ({why}). Pick another campaign.", **kw)
    if status == 404:
        return NotFoundError(f"Not found in &Open: {text}", **kw)
    return RejectedError(text, **kw)


# -- the client -------------------------------------------------------------------------
def token_stage(token: str) -> str | None:
    parts = token.split("-", 3)
    if len(parts) == 4 and parts[0] == "ao" and parts[1] == "v1" and parts[2] in DEFAULT_HOST and parts[3]:
        return parts[2]
    return None


def resolve_base_url(token: str, base_url: str | None) -> str:
    """The host to use, refusing a staging key aimed at production (or the reverse)
    before any request is made."""
    stage = token_stage(token)
    if not base_url:
        if stage is None:
            raise ConfigError(
                f"The &Open key ({mask_token(token)}) is not in the form ao-v1-production-… or "
                "ao-v1-staging-…; set ANDOPEN_BASE_URL or check the key."
            )
        return DEFAULT_HOST[stage]
    url = base_url.rstrip("/")
    hstage = host_stage(url)
    if hstage and stage and hstage != stage:
        raise ConfigError(
            f"The &Open key is a {stage} key ({mask_token(token)}) but ANDOPEN_BASE_URL is {url}, "
            f"a {hstage} host. Use {DEFAULT_HOST[stage]} or a {hstage} key."
        )
    if hstage and stage is None:
        raise ConfigError(f"The &Open key ({mask_token(token)}) is not a valid &Open key for {url}.")
    if hstage and not url.lower().startswith("https://"):
        raise ConfigError(f"ANDOPEN_BASE_URL {url} must use https:// — the key would travel unencrypted.")
    return url


class AndOpenClient:
    def __init__(
        self,
        session: requests.Session,
        token: Secret | str,
        base_url: str | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        self._token = token if isinstance(token, Secret) else Secret(token)
        self.base_url = resolve_base_url(self._token.reveal(), base_url)
        self.session = session
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"AndOpenClient({self.base_url}, {self._token.masked()})"

    @property
    def masked_token(self) -> str:
        return self._token.masked()

    def keep_connections(self, n: int) -> None:
        """Let the session keep at least n connections to &Open, so n requests in flight reuse
        theirs rather than opening new ones and throwing them away. A session whose pool is
        already that large (runtime.http_session's) is left alone."""
        adapter = self.session.get_adapter(self.base_url + "/")
        if isinstance(adapter, requests.adapters.HTTPAdapter) and getattr(adapter, "_pool_maxsize", 0) >= n:
            return
        max_retries = getattr(adapter, "max_retries", 0)
        self.session.mount(
            self.base_url + "/",
            requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=n, max_retries=max_retries),
        )

    # -- endpoints --
    def create_gift_request(self, campaign_id: str, first_name: str, last_name: str, email: str) -> GiftRequest:
        body = {
            "campaign_id": campaign_id,
            "recipient": {"first_name": first_name, "last_name": last_name, "email": email},
        }
        return gift_from_json(self._call("POST", "/gift_requests", json_body=body, creating=True))

    def get_gift_request(self, gift_id: str) -> GiftRequest:
        return gift_from_json(self._call("GET", f"/gift_requests/{gift_id}"))

    def get_campaign(self, campaign_id: str) -> Campaign:
        return campaign_from_json(self._call("GET", f"/campaigns/{campaign_id}"))

    def iter_campaigns(self) -> Iterator[Campaign]:
        """Every campaign once, following `after` paging; stops if the server repeats itself."""
        after: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_CAMPAIGN_PAGES):
            params = {"limit": 25} | ({"after": after} if after else {})
            page = self._call("GET", "/campaigns", params=params)
            data = page.get("data") if isinstance(page, dict) else None
            if not isinstance(data, list):
                raise RetryableError("&Open sent a campaign list that could not be read.")
            fresh = [c for c in map(campaign_from_json, data) if c.id not in seen]
            seen.update(c.id for c in fresh)
            yield from fresh
            if not page.get("has_more") or not fresh:
                return
            after = data[-1].get("id")

    def list_campaigns(self) -> list[Campaign]:
        return list(self.iter_campaigns())

    # -- transport --
    def _call(
        self, method: str, path: str, *, json_body: Any = None, params: dict | None = None, creating: bool = False
    ) -> Any:
        headers = {
            "AndOpen-API-Version": API_VERSION,
            "Authorization": f"Bearer {self._token.reveal()}",
            "Accept": "application/json",
        }
        data = None
        if json_body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(json_body).encode()
        try:
            resp = self.session.request(
                method, self.base_url + path, data=data, params=params, headers=headers, timeout=self.timeout
            )
        except requests.exceptions.ConnectTimeout:
            raise NotSentError("Could not connect to &Open (timed out).") from None
        except requests.exceptions.Timeout:
            if creating:
                raise UnknownOutcomeError(
                    "&Open did not answer in time: the gift may or may not have been created."
                ) from None
            raise RetryableError("&Open did not answer in time.") from None
        except requests.exceptions.ConnectionError as exc:
            if _failed_before_sending(exc):
                raise NotSentError("Could not connect to &Open.") from None
            if creating:
                raise UnknownOutcomeError(
                    "The connection to &Open dropped: the gift may or may not have been created."
                ) from None
            raise RetryableError("The connection to &Open dropped.") from None
        except _NEVER_SENT as exc:
            raise NotSentError(f"The request to &Open could not be made ({type(exc).__name__}).") from None
        except requests.exceptions.RequestException as exc:
            # e.g. a body cut off mid-answer: the request went out, so a gift may exist
            if creating:
                raise UnknownOutcomeError(
                    f"&Open's answer was broken ({type(exc).__name__}): the gift may or may not have been created."
                ) from None
            raise RetryableError(f"&Open's answer was broken ({type(exc).__name__}).") from None
        request_id = resp.headers.get("Request-Id")
        try:
            body = resp.json() if resp.content else None
        except ValueError:
            body = None
        if 200 <= resp.status_code < 300:
            if body is None:
                if creating:
                    raise UnknownOutcomeError(
                        "&Open accepted the request but its answer could not be read.",
                        status=resp.status_code,
                        request_id=request_id,
                    )
                raise RetryableError(
                    "&Open sent an answer that could not be read.", status=resp.status_code, request_id=request_id
                )
            return body
        raise error_for(
            resp.status_code,
            body,
            request_id=request_id,
            retry_after=resp.headers.get("Retry-After"),
            creating=creating,
        )


# Failures raised while the request is being prepared: nothing reached &Open.
_NEVER_SENT = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
    requests.exceptions.InvalidJSONError,
)


def _failed_before_sending(exc: requests.exceptions.ConnectionError) -> bool:
    """True only when the socket never connected (refused, DNS): then nothing was sent."""
    reason = exc.args[0] if exc.args else None
    return isinstance(getattr(reason, "reason", reason), urllib3.exceptions.NewConnectionError)


# -- tolerant parsing: unknown fields, statuses and codes are fine ---------------------
def gift_from_json(obj: Any) -> GiftRequest:
    if not isinstance(obj, dict) or not obj.get("id"):
        raise UnknownOutcomeError("&Open sent a gift request without an id.")
    rec: dict = obj["recipient"] if isinstance(obj.get("recipient"), dict) else {}
    return GiftRequest(
        id=str(obj["id"]),
        status=str(obj.get("status") or ""),
        campaign_id=obj.get("campaign_id"),
        redemption_url=obj.get("redemption_url") or None,
        email=str(rec.get("email") or ""),
        first_name=str(rec.get("first_name") or ""),
        last_name=str(rec.get("last_name") or ""),
        created_at=_text_or_none(obj.get("created_at")),
        updated_at=_text_or_none(obj.get("updated_at")),
    )


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def campaign_from_json(obj: Any) -> Campaign:
    if not isinstance(obj, dict) or not obj.get("id"):
        raise RetryableError("&Open sent a campaign without an id.")
    return Campaign(
        id=str(obj["id"]),
        name=str(obj.get("name") or obj["id"]),
        state=obj.get("state"),
        created_at=obj.get("created_at"),
    )
