"""lib.andopen speaks the documented &Open API, classifies every failure once, and never
shows the token: checked against the sandbox over real HTTP on 127.0.0.1."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from functools import partial
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from lib.andopen import (
    API_VERSION,
    DEFAULT_TIMEOUT,
    AndOpenClient,
    AndOpenError,
    ApiVersionError,
    AuthenticationError,
    CampaignError,
    ConfigError,
    NotFoundError,
    NotSentError,
    PermissionDeniedError,
    RateLimitedError,
    RejectedError,
    RetryableError,
    ServiceUnavailableError,
    UnknownOutcomeError,
    campaign_from_json,
    error_for,
    gift_from_json,
    resolve_base_url,
)
from lib.models import Outcome
from lib.sandbox import Faults, Sandbox
from tests.support import archived_campaign, available_campaign, closed_port

TOKEN = "ao-v1-staging-fakeTestToken9876"
WRONG_TOKEN = "ao-v1-staging-fakeOtherToken5432"
FAST = (2.0, 0.3)  # (connect, read): short enough that a hang or a slow answer times out


@pytest.fixture
def make_sandbox(make_sandbox):
    """The shared factory, but every sandbox here takes this module's TOKEN."""
    return partial(make_sandbox, TOKEN)


def client_for(http, sb: Sandbox, token: str = TOKEN, timeout=(5.0, 10.0)) -> AndOpenClient:
    return AndOpenClient(http, token, sb.url, timeout=timeout)


def create(
    c: AndOpenClient,
    sb: Sandbox,
    email: str = "alice@example.com",
    campaign: str | None = None,
    first: str = "Alice",
    last: str = "Smith",
):
    return c.create_gift_request(campaign or available_campaign(sb), first, last, email)


def secret_part(token: str) -> str:
    parts = token.split("-", 3)
    return parts[3] if len(parts) == 4 and parts[0] == "ao" else token


def assert_no_token(exc: BaseException, *tokens: str) -> None:
    shown = [str(exc), repr(exc), "".join(traceback.format_exception(exc)), *map(str, exc.args)]
    if isinstance(exc, AndOpenError):
        shown.append(exc.message)
    for token in tokens:
        for text in shown:
            assert token not in text
            assert secret_part(token) not in text  # not even the secret part alone


# ------------------------------------------------------------------ headers and success


def test_every_request_carries_the_version_header_and_bearer_token(http, sandbox):
    c = client_for(http, sandbox)
    gift = create(c, sandbox)
    c.get_gift_request(gift.id)
    c.list_campaigns()
    c.get_campaign(sandbox.campaign_ids[0])
    paths = [r.path.split("?")[0] for r in sandbox.requests]
    assert paths == [
        "/gift_requests",
        f"/gift_requests/{gift.id}",
        "/campaigns",
        "/campaigns",
        f"/campaigns/{sandbox.campaign_ids[0]}",
    ]
    for r in sandbox.requests:
        assert r.header("AndOpen-API-Version") == API_VERSION == "2026-05"
        assert r.header("Authorization") == f"Bearer {TOKEN}"
        assert r.status == (201 if r.method == "POST" else 200)
    post = sandbox.requests[0]
    assert post.header("Content-Type") == "application/json"
    assert post.json == {
        "campaign_id": available_campaign(sandbox),
        "recipient": {"first_name": "Alice", "last_name": "Smith", "email": "alice@example.com"},
    }


def test_create_returns_the_gift_request_with_id_status_and_redemption_url(http, sandbox):
    gift = create(client_for(http, sandbox), sandbox, email="bob@example.com", first="Bob", last="Jones")
    [stored] = sandbox.gifts.values()
    assert gift.id == stored["id"]
    assert gift.status == "submitted"
    assert gift.redemption_url == stored["redemption_url"] and gift.redemption_url.startswith(f"{sandbox.url}/r/")
    assert (gift.email, gift.first_name, gift.last_name) == ("bob@example.com", "Bob", "Jones")
    assert gift.campaign_id == available_campaign(sandbox)
    assert gift.created_at and gift.updated_at


@pytest.mark.parametrize("status", ["delivered", "cancelled", "lost_in_transit"])
def test_get_gift_request_follows_the_status_including_unknown_ones(http, sandbox, status):
    c = client_for(http, sandbox)
    gift = create(c, sandbox)
    sandbox.set_status(gift.id, status)
    again = c.get_gift_request(gift.id)
    assert (again.id, again.status, again.redemption_url) == (gift.id, status, gift.redemption_url)


def test_list_campaigns_follows_after_paging_and_returns_each_campaign_once(http, sandbox):
    campaigns = client_for(http, sandbox).list_campaigns()
    assert len(sandbox.campaign_ids) == 30
    assert [c.id for c in campaigns] == sandbox.campaign_ids
    assert [c.name for c in campaigns] == [c["name"] for c in sandbox.campaigns]
    queries = [parse_qs(urlsplit(r.path).query) for r in sandbox.requests]
    assert queries == [{"limit": ["25"]}, {"limit": ["25"], "after": [sandbox.campaign_ids[24]]}]


def test_get_campaign_reads_name_and_state(http, sandbox):
    cid = archived_campaign(sandbox)
    campaign = client_for(http, sandbox).get_campaign(cid)
    assert (campaign.id, campaign.name, campaign.state) == (cid, "Demo campaign 07", "archived")


def test_timeouts_are_set_by_default():
    c = AndOpenClient(requests.Session(), TOKEN, "http://127.0.0.1:9")
    assert c.timeout == DEFAULT_TIMEOUT
    assert all(0 < t < 120 for t in c.timeout)


# ------------------------------------------------------------------ failures against the sandbox

Call = Callable[[AndOpenClient, Sandbox], object]


def _create_twice(c: AndOpenClient, sb: Sandbox) -> None:
    create(c, sb, email="first@example.com")  # takes the one token of the bucket
    create(c, sb, email="second@example.com")


def _create_then_get(c: AndOpenClient, sb: Sandbox) -> None:
    gift = create(c, sb)
    sb.faults.latency = 3.0
    c.get_gift_request(gift.id)


def _list_slowly(c: AndOpenClient, sb: Sandbox) -> None:
    sb.faults.latency = 3.0
    c.list_campaigns()


# (id, faults, client token, client timeout, call, class (exact), outcome, gifts created, answered)
FAILURES = [
    (
        "invalid-row",
        None,
        TOKEN,
        None,
        lambda c, sb: create(c, sb, email="not-an-email"),
        RejectedError,
        Outcome.REJECTED,
        0,
        True,
    ),
    (
        "wrong-token",
        None,
        WRONG_TOKEN,
        None,
        lambda c, sb: create(c, sb),
        AuthenticationError,
        Outcome.RUN_STOPPING,
        0,
        True,
    ),
    (
        "wrong-token-on-get",
        None,
        WRONG_TOKEN,
        None,
        lambda c, sb: c.list_campaigns(),
        AuthenticationError,
        Outcome.RUN_STOPPING,
        0,
        True,
    ),
    (
        "unknown-campaign",
        None,
        TOKEN,
        None,
        lambda c, sb: create(c, sb, campaign="no-such-campaign"),
        CampaignError,
        Outcome.RUN_STOPPING,
        0,
        True,
    ),
    (
        "archived-campaign",
        None,
        TOKEN,
        None,
        lambda c, sb: create(c, sb, campaign=archived_campaign(sb)),
        CampaignError,
        Outcome.RUN_STOPPING,
        0,
        True,
    ),
    ("rate-limited", Faults(rate_limit=0.1), TOKEN, None, _create_twice, RateLimitedError, Outcome.RETRYABLE, 1, True),
    (
        "503",
        Faults(error_503=1.0),
        TOKEN,
        None,
        lambda c, sb: create(c, sb),
        ServiceUnavailableError,
        Outcome.RETRYABLE,
        0,
        True,
    ),
    (
        "500-after-create",
        Faults(error_500_after_create=1.0),
        TOKEN,
        None,
        lambda c, sb: create(c, sb),
        UnknownOutcomeError,
        Outcome.UNKNOWN,
        1,
        True,
    ),
    (
        "hang-after-create",
        Faults(hang_after_create=1.0, hang_seconds=10),
        TOKEN,
        FAST,
        lambda c, sb: create(c, sb),
        UnknownOutcomeError,
        Outcome.UNKNOWN,
        1,
        False,
    ),
    (
        "dropped-after-create",
        Faults(hang_after_create=1.0, hang_seconds=0.05),
        TOKEN,
        None,
        lambda c, sb: create(c, sb),
        UnknownOutcomeError,
        Outcome.UNKNOWN,
        1,
        False,
    ),
    (
        "slow-create",
        Faults(latency=3.0),
        TOKEN,
        FAST,
        lambda c, sb: create(c, sb),
        UnknownOutcomeError,
        Outcome.UNKNOWN,
        1,
        False,
    ),
    ("slow-get", None, TOKEN, FAST, _create_then_get, RetryableError, Outcome.RETRYABLE, 1, False),
    ("slow-list", None, TOKEN, FAST, _list_slowly, RetryableError, Outcome.RETRYABLE, 0, False),
    (
        "unknown-gift",
        None,
        TOKEN,
        None,
        lambda c, sb: c.get_gift_request("no-such-gift"),
        NotFoundError,
        Outcome.REJECTED,
        0,
        True,
    ),
    (
        "unknown-campaign-on-get",
        None,
        TOKEN,
        None,
        lambda c, sb: c.get_campaign("no-such-campaign"),
        NotFoundError,
        Outcome.REJECTED,
        0,
        True,
    ),
]


@pytest.mark.parametrize(
    "faults,token,timeout,call,cls,outcome,created,answered", [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES]
)
def test_each_failure_has_its_class_outcome_and_request_id(
    http, make_sandbox, faults, token, timeout, call: Call, cls, outcome, created, answered
):
    sb = make_sandbox(faults=Faults(**vars(faults)) if faults else None)
    c = client_for(http, sb, token=token, timeout=timeout or (5.0, 10.0))
    with pytest.raises(AndOpenError) as info:
        call(c, sb)
    exc = info.value
    assert type(exc) is cls
    assert exc.outcome == outcome
    assert len(sb.gifts) == created
    if answered:
        assert exc.request_id == sb.requests[-1].request_id
        assert exc.request_id.startswith("req_") and exc.request_id in str(exc)
        assert exc.status == sb.requests[-1].status
    else:
        assert exc.request_id is None
    assert_no_token(exc, TOKEN, WRONG_TOKEN)
    assert TOKEN not in repr(c) and WRONG_TOKEN not in repr(c)
    assert repr(c) == f"AndOpenClient({sb.url}, {c.masked_token})"


def test_validation_reports_every_problem_at_once_with_its_param(http, sandbox):
    with pytest.raises(RejectedError) as info:
        create(client_for(http, sandbox), sandbox, first="A", last="", email="not-an-email")
    exc = info.value
    assert exc.status == 422
    assert {d.param for d in exc.details} == {"recipient.first_name", "recipient.last_name", "recipient.email"}
    assert "recipient.email: is not a valid email address" in str(exc)
    assert "recipient.first_name: must be between 2 and 255 characters" in str(exc)
    assert not sandbox.gifts


def test_rate_limit_carries_retry_after_from_the_header(http, make_sandbox):
    sb = make_sandbox(faults=Faults(rate_limit=0.1))
    with pytest.raises(RateLimitedError) as info:
        _create_twice(client_for(http, sb), sb)
    # the sandbox asks for ceil(seconds until the next token): 10 at 0.1/s, 9 if this machine is very slow
    assert info.value.retry_after in (9.0, 10.0)
    assert info.value.status == 429


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.create_gift_request("cid", "Alice", "Smith", "alice@example.com"),
        lambda c: c.get_gift_request("gid"),
        lambda c: c.list_campaigns(),
    ],
    ids=["create", "get", "list"],
)
def test_connection_refused_is_not_sent_and_retryable(http, call):
    c = AndOpenClient(http, TOKEN, f"http://127.0.0.1:{closed_port()}", timeout=(2.0, 2.0))
    with pytest.raises(AndOpenError) as info:
        call(c)
    assert type(info.value) is NotSentError
    assert info.value.outcome == Outcome.RETRYABLE and isinstance(info.value, RetryableError)
    assert_no_token(info.value, TOKEN)


# ------------------------------------------------------------------ error_for: a pure table


def errors(*entries: tuple) -> dict:
    out = []
    for e in entries:
        d = {"type": e[0], "code": e[1], "message": e[2]}
        if len(e) > 3:
            d["param"] = e[3]
        out.append(d)
    return {"errors": out}


VERSION_BODY = errors(("api_error", "unsupported_api_version", "Requests must include header ..."))
AUTH_BODY = errors(("authentication_error", "invalid_token", "The access token provided is invalid."))
EMAIL_BODY = errors(("validation_error", "invalid_format", "is not a valid email address", "recipient.email"))
CAMPAIGN_BODY = errors(("validation_error", "invalid_reference", "does not exist", "campaign_id"))
ARCHIVED_BODY = errors(("validation_error", "campaign_archived", "is archived", "campaign_id"))
NEW_CAMPAIGN_CODE = errors(("validation_error", "campaign_paused", "is paused", "campaign_id"))
NOT_FOUND_BODY = errors(("invalid_request_error", "not_found", "No such thing"))
NEW_CODE_BODY = errors(("brand_new_type", "brand_new_code", "Something new", "recipient.nickname"))
SERVER_BODY = errors(("api_error", "internal_error", "An internal error occurred."))

# (id, status, body, creating, class (exact), outcome)
ERROR_CASES = [
    ("400-unsupported-version", 400, VERSION_BODY, True, ApiVersionError, Outcome.RUN_STOPPING),
    ("400-unsupported-version-get", 400, VERSION_BODY, False, ApiVersionError, Outcome.RUN_STOPPING),
    (
        "400-other-is-row-problem",
        400,
        errors(("invalid_request_error", "invalid_json", "bad json")),
        True,
        RejectedError,
        Outcome.REJECTED,
    ),
    ("401", 401, AUTH_BODY, True, AuthenticationError, Outcome.RUN_STOPPING),
    ("401-get", 401, AUTH_BODY, False, AuthenticationError, Outcome.RUN_STOPPING),
    ("401-no-body", 401, None, True, AuthenticationError, Outcome.RUN_STOPPING),
    ("403", 403, errors(("permission_error", "forbidden", "no")), True, PermissionDeniedError, Outcome.RUN_STOPPING),
    ("404-creating-is-campaign", 404, NOT_FOUND_BODY, True, CampaignError, Outcome.RUN_STOPPING),
    ("404-not-creating", 404, NOT_FOUND_BODY, False, NotFoundError, Outcome.REJECTED),
    ("422-validation", 422, EMAIL_BODY, True, RejectedError, Outcome.REJECTED),
    ("422-campaign-invalid-reference", 422, CAMPAIGN_BODY, True, CampaignError, Outcome.RUN_STOPPING),
    ("422-campaign-archived", 422, ARCHIVED_BODY, True, CampaignError, Outcome.RUN_STOPPING),
    ("422-campaign-unknown-code", 422, NEW_CAMPAIGN_CODE, True, CampaignError, Outcome.RUN_STOPPING),
    (
        "422-campaign-and-email",
        422,
        {"errors": EMAIL_BODY["errors"] + CAMPAIGN_BODY["errors"]},
        True,
        CampaignError,
        Outcome.RUN_STOPPING,
    ),
    ("409-validation-type-any-status", 409, EMAIL_BODY, True, RejectedError, Outcome.REJECTED),
    ("422-unknown-type-and-code", 422, NEW_CODE_BODY, True, RejectedError, Outcome.REJECTED),
    (
        "413",
        413,
        errors(("invalid_request_error", "request_too_large", "too big")),
        True,
        RejectedError,
        Outcome.REJECTED,
    ),
    (
        "429",
        429,
        errors(("rate_limit_error", "too_many_requests", "slow down")),
        True,
        RateLimitedError,
        Outcome.RETRYABLE,
    ),
    ("429-get", 429, None, False, RateLimitedError, Outcome.RETRYABLE),
    ("503-creating", 503, SERVER_BODY, True, ServiceUnavailableError, Outcome.RETRYABLE),
    ("503-get", 503, SERVER_BODY, False, ServiceUnavailableError, Outcome.RETRYABLE),
    ("500-creating", 500, SERVER_BODY, True, UnknownOutcomeError, Outcome.UNKNOWN),
    ("502-creating", 502, None, True, UnknownOutcomeError, Outcome.UNKNOWN),
    ("504-creating", 504, "<html>gateway timeout</html>", True, UnknownOutcomeError, Outcome.UNKNOWN),
    ("500-get", 500, SERVER_BODY, False, RetryableError, Outcome.RETRYABLE),
    ("502-get", 502, None, False, RetryableError, Outcome.RETRYABLE),
    ("body-is-a-list", 422, [1, 2], True, RejectedError, Outcome.REJECTED),
    ("errors-not-a-list", 422, {"errors": "nope"}, True, RejectedError, Outcome.REJECTED),
    ("error-entries-not-objects", 422, {"errors": ["nope", None, 3]}, True, RejectedError, Outcome.REJECTED),
]


@pytest.mark.parametrize(
    "status,body,creating,cls,outcome", [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_error_for_classifies_every_answer(status, body, creating, cls, outcome):
    exc = error_for(status, body, request_id="req_abc", creating=creating)
    assert type(exc) is cls
    assert exc.outcome == outcome
    assert (exc.status, exc.request_id) == (status, "req_abc")
    assert str(exc) and "req_abc" in str(exc) and exc.message


def test_error_for_keeps_every_detail_with_its_param():
    body = {
        "errors": EMAIL_BODY["errors"]
        + NEW_CODE_BODY["errors"]
        + [{"type": "validation_error", "code": "required", "message": "is required"}]
    }
    exc = error_for(422, body, creating=True)
    assert [(d.code, d.param) for d in exc.details] == [
        ("invalid_format", "recipient.email"),
        ("brand_new_code", "recipient.nickname"),
        ("required", None),
    ]
    assert str(exc) == "recipient.email: is not a valid email address; recipient.nickname: Something new; is required"


@pytest.mark.parametrize(
    "header,expected",
    [
        ("7", 7.0),
        ("0.5", 0.5),
        ("-3", 0.0),
        (None, None),
        ("Wed, 21 Oct 2026 07:28:00 GMT", None),
        ("soon", None),
    ],
    ids=["seconds", "fraction", "negative", "absent", "http-date", "garbage"],
)
def test_error_for_reads_retry_after(header, expected):
    for status in (429, 503):
        exc = error_for(status, None, retry_after=header, creating=True)
        assert isinstance(exc, RetryableError)
        assert exc.retry_after == expected


# ------------------------------------------------------------------ resolve_base_url

PROD = "ao-v1-production-fakeProdToken1234"
STAGING = "ao-v1-staging-fakeStagToken5678"
MALFORMED = "sk_live_NotAnAndOpenKeyAtAll99"
SANDBOX_URL = "http://127.0.0.1:8765"

# (id, token, base_url, expected url or None for ConfigError, words the message must contain)
URL_CASES = [
    ("production-default", PROD, None, "https://api.andopen.co", ()),
    ("staging-default", STAGING, None, "https://api.staging.andopen.co", ()),
    ("production-explicit", PROD, "https://api.andopen.co/", "https://api.andopen.co", ()),
    ("eu-with-production", PROD, "https://api.eu.andopen.co", "https://api.eu.andopen.co", ()),
    ("staging-explicit", STAGING, "https://api.staging.andopen.co", "https://api.staging.andopen.co", ()),
    ("sandbox-staging-token", STAGING, SANDBOX_URL, SANDBOX_URL, ()),
    ("sandbox-production-token", PROD, SANDBOX_URL, SANDBOX_URL, ()),
    ("sandbox-malformed-token", MALFORMED, SANDBOX_URL + "/", SANDBOX_URL, ()),
    (
        "staging-token-production-host",
        STAGING,
        "https://api.andopen.co",
        None,
        ("staging", "production", "https://api.andopen.co", "ao-v1-staging-…5678"),
    ),
    (
        "staging-token-eu-host",
        STAGING,
        "https://api.eu.andopen.co",
        None,
        ("staging", "https://api.eu.andopen.co", "ao-v1-staging-…5678"),
    ),
    (
        "production-token-staging-host",
        PROD,
        "https://api.staging.andopen.co",
        None,
        ("production", "staging", "https://api.staging.andopen.co", "ao-v1-production-…1234"),
    ),
    ("malformed-no-url", MALFORMED, None, None, ("ANDOPEN_BASE_URL", "…ll99")),
    ("malformed-production-host", MALFORMED, "https://api.andopen.co", None, ("https://api.andopen.co",)),
    ("empty-token", "", None, None, ()),
]


@pytest.mark.parametrize("token,base_url,expected,words", [c[1:] for c in URL_CASES], ids=[c[0] for c in URL_CASES])
def test_resolve_base_url(token, base_url, expected, words):
    if expected is not None:
        assert resolve_base_url(token, base_url) == expected
        return
    with pytest.raises(ConfigError) as info:
        resolve_base_url(token, base_url)
    exc = info.value
    assert exc.outcome == Outcome.RUN_STOPPING
    for word in words:
        assert word in str(exc)
    if token:
        assert_no_token(exc, token)


@pytest.mark.parametrize(
    "token,base_url", [(STAGING, "https://api.andopen.co"), (PROD, "https://api.staging.andopen.co"), (MALFORMED, None)]
)
def test_client_refuses_a_mismatched_configuration_before_any_request(token, base_url):
    with pytest.raises(ConfigError) as info:
        AndOpenClient(requests.Session(), token, base_url)
    assert_no_token(info.value, token)


# ------------------------------------------------------------------ tolerant parsing


def test_gift_parsing_tolerates_unknown_fields_and_a_missing_url():
    gift = gift_from_json(
        {
            "id": "g1",
            "status": "teleported",
            "redemption_url": None,
            "campaign_id": "c1",
            "recipient": {"email": "a@example.com", "favourite_colour": "teal"},
            "brand_new": {},
        }
    )
    assert (gift.id, gift.status, gift.redemption_url, gift.email) == ("g1", "teleported", None, "a@example.com")


@pytest.mark.parametrize("obj", [None, [], {}, {"status": "submitted"}], ids=["none", "list", "empty", "no-id"])
def test_a_created_gift_without_an_id_is_an_unknown_outcome(obj):
    with pytest.raises(UnknownOutcomeError):
        gift_from_json(obj)


def test_campaign_parsing_tolerates_missing_name_and_new_fields():
    campaign = campaign_from_json({"id": "c9", "colour": "teal"})
    assert (campaign.id, campaign.name, campaign.state) == ("c9", "c9", None)
