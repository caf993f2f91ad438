"""The sandbox keeps every documented &Open behaviour, over real HTTP on loopback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from lib.models import parse_iso
from lib.sandbox import DEFAULT_TOKEN, Faults, Lifecycle, Sandbox, sign
from tests import support
from tests.support import closed_port, run_threads

VERSION = {"AndOpen-API-Version": "2026-05"}
AUTH = {**VERSION, "Authorization": f"Bearer {DEFAULT_TOKEN}"}
VERSION_ERROR = {
    "errors": [
        {
            "type": "api_error",
            "code": "unsupported_api_version",
            "message": "Requests must include header 'AndOpen-API-Version: 2026-05'.",
        }
    ]
}
AUTH_ERROR = {
    "errors": [
        {
            "type": "authentication_error",
            "code": "invalid_token",
            "message": "The access token provided is invalid or has expired.",
        }
    ]
}
LIMIT_ERROR = {
    "errors": [
        {
            "type": "invalid_request_error",
            "code": "invalid_parameter",
            "message": "limit must be a positive integer",
            "param": "limit",
        }
    ]
}
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
SECRET = "whsec_test_secret"


until = partial(support.until, timeout=5.0)  # the sandbox answers and delivers in-process


def recipient(n: int = 1, **overrides) -> dict:
    return {"first_name": "Alice", "last_name": "Smith", "email": f"alice{n}@example.com", **overrides}


def gift_body(sb: Sandbox, n: int = 1) -> dict:
    return {"campaign_id": sb.campaign_ids[0], "recipient": recipient(n)}


def post_gift(http, sb: Sandbox, n: int = 1, **kwargs) -> requests.Response:
    return http.post(f"{sb.url}/gift_requests", headers=AUTH, json=gift_body(sb, n), **kwargs)


class Receiver:
    """A tiny webhook endpoint that records raw bodies and headers."""

    def __init__(self, fail_first: int = 0) -> None:
        self.calls: list[tuple[dict, bytes]] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    receiver.calls.append((dict(self.headers.items()), body))
                    failing = len(receiver.calls) <= receiver.fail_first
                self.send_response(500 if failing else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/andopen"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def events(self) -> list[dict]:
        return [
            {"id": h["AndOpen-Webhook-Event-Id"], "type": h["AndOpen-Webhook-Event-Type"], "gift": json.loads(b)}
            for h, b in list(self.calls)
        ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


# -- every request: version before token, exact bodies, Request-Id ---------------------

ENDPOINTS = [("GET", "/campaigns"), ("GET", "/campaigns/x"), ("POST", "/gift_requests"), ("GET", "/gift_requests/x")]
HEADER_CASES = [
    ({}, 400, VERSION_ERROR),  # neither header: the version error, not 401
    ({"Authorization": "Bearer nope"}, 400, VERSION_ERROR),
    ({"AndOpen-API-Version": "2025-10", "Authorization": f"Bearer {DEFAULT_TOKEN}"}, 400, VERSION_ERROR),
    ({"AndOpen-API-Version": "2026-06", "Authorization": f"Bearer {DEFAULT_TOKEN}"}, 400, VERSION_ERROR),
    (VERSION, 401, AUTH_ERROR),
    ({**VERSION, "Authorization": "Bearer ao-v1-staging-wrong"}, 401, AUTH_ERROR),
    ({**VERSION, "Authorization": DEFAULT_TOKEN}, 401, AUTH_ERROR),
    ({**VERSION, "Authorization": f"Basic {DEFAULT_TOKEN}"}, 401, AUTH_ERROR),
    ({**VERSION, "Authorization": "Bearer"}, 401, AUTH_ERROR),
]


@pytest.mark.parametrize("method,path", ENDPOINTS)
@pytest.mark.parametrize("headers,status,body", HEADER_CASES)
def test_version_is_checked_before_the_token(http, sandbox, method, path, headers, status, body):
    r = http.request(method, sandbox.url + path, headers=headers, json=gift_body(sandbox))
    assert (r.status_code, r.json()) == (status, body)
    assert not sandbox.gifts


def test_health_needs_neither_version_nor_token(http, sandbox):
    r = http.get(f"{sandbox.url}/health")
    assert (r.status_code, r.json()) == (200, {"ok": True})


def test_another_token_is_the_sandbox_token(http, make_sandbox):
    sb = make_sandbox(token="ao-v1-production-other")
    assert http.get(f"{sb.url}/campaigns", headers=AUTH).status_code == 401
    r = http.get(f"{sb.url}/campaigns", headers={**VERSION, "Authorization": "Bearer ao-v1-production-other"})
    assert r.status_code == 200


REQUEST_ID_CASES = [
    ("GET", "/health", {}, None),
    ("GET", "/campaigns", AUTH, None),
    ("GET", "/campaigns", {}, None),
    ("GET", "/campaigns", VERSION, None),
    ("GET", "/campaigns?limit=0", AUTH, None),
    ("GET", "/campaigns/nope", AUTH, None),
    ("GET", "/gift_requests/nope", AUTH, None),
    ("POST", "/gift_requests", AUTH, b"{not json"),
    ("POST", "/gift_requests", AUTH, b"{}"),
    ("POST", "/gift_requests", AUTH, b"x" * (1024 * 1024 + 1)),
    ("GET", "/no/such/path", AUTH, None),
    ("GET", "/gift_requests", AUTH, None),  # 405
    ("DELETE", "/campaigns", AUTH, None),  # 405
    ("BREW", "/campaigns", AUTH, None),  # a method http.server knows nothing about
]


@pytest.mark.parametrize("method,path,headers,data", REQUEST_ID_CASES)
def test_every_response_has_a_request_id_and_a_json_body(http, sandbox, method, path, headers, data):
    r = http.request(method, sandbox.url + path, headers=headers, data=data)
    assert re.fullmatch(r"req_[0-9a-f]{32}", r.headers["Request-Id"])
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    if r.status_code >= 400:
        assert body["errors"] and all({"type", "code", "message"} <= set(e) for e in body["errors"])
    assert sandbox.requests[-1].request_id == r.headers["Request-Id"]
    assert sandbox.requests[-1].status == r.status_code


def test_request_ids_are_unique(http, sandbox):
    ids = {http.get(f"{sandbox.url}/health").headers["Request-Id"] for _ in range(20)}
    assert len(ids) == 20


@pytest.mark.parametrize(
    "method,path,status,code,allow",
    [
        ("GET", "/nope", 404, "not_found", None),
        ("POST", "/campaigns/abc/extra", 404, "not_found", None),
        ("GET", "/gift_requests", 405, "method_not_allowed", "POST"),
        ("POST", "/campaigns", 405, "method_not_allowed", "GET"),
        ("PUT", "/gift_requests/abc", 405, "method_not_allowed", "GET"),
        ("POST", "/health", 405, "method_not_allowed", "GET"),
    ],
)
def test_unknown_paths_and_wrong_methods(http, sandbox, method, path, status, code, allow):
    r = http.request(method, sandbox.url + path, headers=AUTH)
    assert r.status_code == status
    assert r.json()["errors"][0]["code"] == code
    assert r.headers.get("Allow") == allow


def test_body_over_one_mebibyte_is_413_and_creates_nothing(http, sandbox):
    big = json.dumps({**gift_body(sandbox), "pad": "x" * (1024 * 1024)}).encode()
    r = http.post(f"{sandbox.url}/gift_requests", headers={**AUTH, "Content-Type": "application/json"}, data=big)
    assert r.status_code == 413 and r.json()["errors"][0]["type"] == "invalid_request_error"
    assert not sandbox.gifts
    assert post_gift(http, sandbox).status_code == 201  # the connection is still usable


def test_requests_are_recorded(http, sandbox):
    post_gift(http, sandbox, 7)
    rec = sandbox.requests[-1]
    assert (rec.method, rec.path, rec.status) == ("POST", "/gift_requests", 201)
    assert rec.header("andopen-api-version") == "2026-05"
    assert rec.json["recipient"]["email"] == "alice7@example.com"
    assert json.loads(rec.body) == rec.json


# -- POST /gift_requests ----------------------------------------------------------------


def test_created_gift_has_the_documented_shape(http, sandbox):
    r = post_gift(http, sandbox)
    assert r.status_code == 201
    gift = r.json()
    assert list(gift) == [
        "id",
        "status",
        "campaign_id",
        "redemption_url",
        "recipient",
        "shipping_address",
        "line_items",
        "created_at",
        "updated_at",
    ]
    assert UUID.match(gift["id"]) and UUID.match(gift["recipient"]["id"])
    assert gift["status"] == "submitted"
    assert gift["campaign_id"] == sandbox.campaign_ids[0]
    assert {k: v for k, v in gift["recipient"].items() if k != "id"} == recipient(1)
    assert gift["shipping_address"] is None and gift["line_items"] is None
    assert ISO_MS.match(gift["created_at"]) and gift["created_at"] == gift["updated_at"]
    assert gift["redemption_url"].startswith(f"{sandbox.url}/r/")
    assert sandbox.gifts[gift["id"]] == gift

    got = http.get(f"{sandbox.url}/gift_requests/{gift['id']}", headers=AUTH)
    assert (got.status_code, got.json()) == (200, gift)

    page = http.get(gift["redemption_url"])
    assert page.status_code == 200 and "Your gift is waiting" in page.text
    assert page.headers["Content-Type"].startswith("text/html") and "Request-Id" in page.headers


def test_unknown_gift_is_404_with_errors_body(http, sandbox):
    r = http.get(f"{sandbox.url}/gift_requests/abc-123", headers=AUTH)
    assert (r.status_code, r.json()) == (
        404,
        {
            "errors": [
                {"type": "invalid_request_error", "code": "not_found", "message": "No such gift request: 'abc-123'"}
            ]
        },
    )
    assert http.get(f"{sandbox.url}/r/nope").status_code == 404


def V(code: str, param: str | None) -> tuple[str, str | None]:
    return (code, param)


@pytest.mark.parametrize(
    "body,expected",
    [
        (
            {},
            {
                V("required", "campaign_id"),
                V("required", "recipient.first_name"),
                V("required", "recipient.last_name"),
                V("required", "recipient.email"),
            },
        ),
        (
            {
                "campaign_id": "CAMPAIGN",
                "recipient": {"first_name": "A", "last_name": "x" * 256, "email": "not an@email"},
            },
            {
                V("invalid_length", "recipient.first_name"),
                V("invalid_length", "recipient.last_name"),
                V("invalid_format", "recipient.email"),
            },
        ),
        (
            {"campaign_id": "no-such-campaign", "recipient": recipient(1, email="a@b")},
            {V("invalid_reference", "campaign_id"), V("invalid_format", "recipient.email")},
        ),
        (
            {"campaign_id": "CAMPAIGN", "recipient": recipient(1, first_name=None, email="")},
            {V("required", "recipient.first_name"), V("invalid_format", "recipient.email")},
        ),
        (
            {"campaign_id": "CAMPAIGN", "recipient": recipient(1, email="@example.com")},
            {V("invalid_format", "recipient.email")},
        ),
        (
            {"campaign_id": "CAMPAIGN", "recipient": recipient(1, email="a@@example.com")},
            {V("invalid_format", "recipient.email")},
        ),
        (
            {"campaign_id": "CAMPAIGN", "recipient": recipient(1, email="a@example")},
            {V("invalid_format", "recipient.email")},
        ),
        (
            {"campaign_id": "CAMPAIGN", "recipient": recipient(1, first_name="  ")},
            {V("invalid_length", "recipient.first_name")},
        ),
        ({"campaign_id": "CAMPAIGN", "recipient": "Alice"}, {V("invalid_type", "recipient")}),
        (
            {"campaign_id": "CAMPAIGN", "recipient": recipient(), "shipping_address": {"line1": "1 Main St"}},
            {V("required", "line_items")},
        ),
        (
            {"campaign_id": "CAMPAIGN", "recipient": recipient(), "line_items": [{"id": "x"}]},
            {V("required", "shipping_address")},
        ),
        (["not", "an", "object"], {V("invalid_type", None)}),
        ("just a string", {V("invalid_type", None)}),
    ],
)
def test_validation_reports_every_problem_at_once(http, sandbox, body, expected):
    if isinstance(body, dict) and body.get("campaign_id") == "CAMPAIGN":
        body = {**body, "campaign_id": sandbox.campaign_ids[0]}
    r = http.post(f"{sandbox.url}/gift_requests", headers=AUTH, json=body)
    assert r.status_code == 422
    errors = r.json()["errors"]
    assert {(e["code"], e.get("param")) for e in errors} == expected
    assert len(errors) == len(expected)
    assert all(e["type"] == "validation_error" and e["message"] for e in errors)
    messages = {e["code"]: e["message"] for e in errors}
    assert messages.get("invalid_reference", "does not exist") == "does not exist"
    assert messages.get("invalid_format", "is not a valid email address") == "is not a valid email address"
    assert "2 and 255" in messages.get("invalid_length", "2 and 255")
    assert not sandbox.gifts


def test_names_of_exactly_2_and_255_characters_are_fine(http, sandbox):
    body = {"campaign_id": sandbox.campaign_ids[0], "recipient": recipient(1, first_name="Al", last_name="x" * 255)}
    assert http.post(f"{sandbox.url}/gift_requests", headers=AUTH, json=body).status_code == 201


def test_shipping_address_and_line_items_together_are_accepted(http, sandbox):
    extra = {"shipping_address": {"line1": "1 Main St", "country": "US"}, "line_items": [{"id": "item", "quantity": 1}]}
    r = http.post(f"{sandbox.url}/gift_requests", headers=AUTH, json={**gift_body(sandbox), **extra})
    assert r.status_code == 201
    assert (r.json()["shipping_address"], r.json()["line_items"]) == (extra["shipping_address"], extra["line_items"])


def test_invalid_json_is_400(http, sandbox):
    r = http.post(
        f"{sandbox.url}/gift_requests", headers={**AUTH, "Content-Type": "application/json"}, data=b'{"campaign_id": '
    )
    assert r.status_code == 400
    assert [(e["type"], e["code"]) for e in r.json()["errors"]] == [("invalid_request_error", "invalid_json")]


def test_archived_campaign_is_refused(http, sandbox):
    archived = [c for c in sandbox.campaigns if c["state"] == "archived"]
    assert len(archived) == 1 and archived[0]["archived_at"]
    r = http.post(
        f"{sandbox.url}/gift_requests", headers=AUTH, json={"campaign_id": archived[0]["id"], "recipient": recipient()}
    )
    assert (r.status_code, r.json()) == (
        422,
        {
            "errors": [
                {
                    "type": "validation_error",
                    "code": "campaign_archived",
                    "message": "is archived",
                    "param": "campaign_id",
                }
            ]
        },
    )


def test_gifts_by_email_normalises_addresses(http, sandbox):
    for email in ("Alice@Example.COM", "alice@example.com", "bob@example.com"):
        body = {"campaign_id": sandbox.campaign_ids[0], "recipient": recipient(email=email)}
        assert http.post(f"{sandbox.url}/gift_requests", headers=AUTH, json=body).status_code == 201
    by_email = sandbox.gifts_by_email()
    assert {k: len(v) for k, v in by_email.items()} == {"alice@example.com": 2, "bob@example.com": 1}


def test_concurrent_clients_each_get_exactly_one_gift(make_sandbox):
    sb = make_sandbox()
    results: list[int] = []

    def worker(w: int) -> None:
        with requests.Session() as s:
            s.trust_env = False
            for i in range(25):
                results.append(post_gift(s, sb, w * 100 + i, timeout=5).status_code)

    run_threads(worker, 8, timeout=15)
    assert results == [201] * 200
    assert len(sb.gifts) == 200
    assert all(len(v) == 1 for v in sb.gifts_by_email().values()) and len(sb.gifts_by_email()) == 200


# -- campaigns ----------------------------------------------------------------------------


def test_campaign_paging_collects_every_campaign_once(http, sandbox):
    seen, after, pages = [], None, 0
    while True:
        params = {"after": after} if after else {}
        r = http.get(f"{sandbox.url}/campaigns", headers=AUTH, params=params)
        assert r.status_code == 200
        body = r.json()
        assert set(body) == {"data", "has_more"}
        seen += body["data"]
        pages += 1
        if not body["has_more"]:
            break
        after = body["data"][-1]["id"]
        assert pages < 10
    ids = [c["id"] for c in seen]
    assert pages == 2 and len(ids) == len(set(ids)) == 30
    assert ids == sandbox.campaign_ids
    created = [parse_iso(c["created_at"]) for c in seen]
    assert created == sorted(created, reverse=True)
    assert [c["name"] for c in seen[:3]] == [
        "Holiday thank-you 2026",
        "Q4 prospecting — coffee & treats",
        "Customer win-back",
    ]
    for c in seen:
        assert {"id", "name", "description", "state", "archived_at", "created_at", "catalogue"} <= set(c)
        assert c["state"] in ("available", "archived") and c["catalogue"]
        assert all({"id", "name", "price"} <= set(item) for item in c["catalogue"])


@pytest.mark.parametrize(
    "limit,status,count",
    [
        (None, 200, 25),
        ("100", 200, 25),
        ("25", 200, 25),
        ("5", 200, 5),
        ("1", 200, 1),
        ("0", 400, None),
        ("-1", 400, None),
        ("abc", 400, None),
        ("", 400, None),
        ("1.5", 400, None),
    ],
)
def test_limit_rules(http, sandbox, limit, status, count):
    params = {} if limit is None else {"limit": limit}
    r = http.get(f"{sandbox.url}/campaigns", headers=AUTH, params=params)
    assert r.status_code == status
    if status == 400:
        assert r.json() == LIMIT_ERROR
    else:
        assert len(r.json()["data"]) == count and r.json()["has_more"] is True


def test_small_pages_reach_the_end(http, sandbox):
    r = http.get(f"{sandbox.url}/campaigns", headers=AUTH, params={"limit": 5, "after": sandbox.campaign_ids[24]})
    assert [c["id"] for c in r.json()["data"]] == sandbox.campaign_ids[25:30] and r.json()["has_more"] is False


def test_unknown_after_is_400(http, sandbox):
    r = http.get(f"{sandbox.url}/campaigns", headers=AUTH, params={"after": "nope"})
    assert r.status_code == 400
    assert [(e["type"], e["code"], e["param"]) for e in r.json()["errors"]] == [
        ("invalid_request_error", "invalid_parameter", "after")
    ]


def test_get_one_campaign_and_an_unknown_one(http, sandbox):
    cid = sandbox.campaign_ids[3]
    r = http.get(f"{sandbox.url}/campaigns/{cid}", headers=AUTH)
    assert r.status_code == 200 and r.json()["id"] == cid and r.json()["catalogue"]
    r = http.get(f"{sandbox.url}/campaigns/nope", headers=AUTH)
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "not_found"


def test_campaigns_can_be_given(http, make_sandbox):
    sb = make_sandbox(
        campaigns=[
            {"id": "old", "name": "Old", "created_at": "2026-01-01T00:00:00.000Z"},
            {"id": "new", "name": "New", "created_at": "2026-02-01T00:00:00.000Z"},
        ]
    )
    assert sb.campaign_ids == ["new", "old"]
    body = http.get(f"{sb.url}/campaigns", headers=AUTH).json()
    assert [c["id"] for c in body["data"]] == ["new", "old"] and body["has_more"] is False


# -- faults ---------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after_and_creates_nothing(http, make_sandbox):
    sb = make_sandbox(faults=Faults(rate_limit=5))
    responses = [post_gift(http, sb, i) for i in range(12)]
    statuses = [r.status_code for r in responses]
    assert statuses[:5] == [201] * 5 and 429 in statuses
    for r in responses:
        if r.status_code == 429:
            assert int(r.headers["Retry-After"]) >= 1
            assert [(e["type"], e["code"]) for e in r.json()["errors"]] == [("rate_limit_error", "too_many_requests")]
    assert len(sb.gifts) == statuses.count(201)
    assert http.get(f"{sb.url}/campaigns", headers=AUTH).status_code == 200  # reads are not limited


def test_503_creates_nothing(http, make_sandbox):
    sb = make_sandbox(faults=Faults(error_503=1.0))
    r = post_gift(http, sb)
    assert r.status_code == 503 and r.json()["errors"][0]["type"] == "api_error"
    assert not sb.gifts


def test_500_after_create_leaves_the_gift_behind(http, make_sandbox):
    sb = make_sandbox(faults=Faults(error_500_after_create=1.0))
    r = post_gift(http, sb)
    assert r.status_code == 500
    assert [(e["type"], e["code"]) for e in r.json()["errors"]] == [("api_error", "internal_error")]
    assert [g["recipient"]["email"] for g in sb.gifts.values()] == ["alice1@example.com"]


def test_hang_after_create_times_out_the_client_but_the_gift_exists(http, make_sandbox):
    sb = make_sandbox(faults=Faults(hang_after_create=1.0, hang_seconds=1))
    with pytest.raises(requests.exceptions.ReadTimeout):
        post_gift(http, sb, timeout=0.3)
    assert len(sb.gifts) == 1
    assert sb.requests[-1].status is None


def test_hang_ends_by_closing_the_connection_without_an_answer(http, make_sandbox):
    sb = make_sandbox(faults=Faults(hang_after_create=1.0, hang_seconds=0.2))
    with pytest.raises(requests.exceptions.ConnectionError):
        post_gift(http, sb, timeout=3)
    assert len(sb.gifts) == 1


def test_stop_does_not_wait_for_hanging_answers(http):
    sb = Sandbox(faults=Faults(hang_after_create=1.0, hang_seconds=30)).start()
    with pytest.raises(requests.exceptions.ReadTimeout):
        post_gift(http, sb, timeout=0.2)
    t0 = time.monotonic()
    sb.stop()
    assert time.monotonic() - t0 < 2


def test_stop_closes_kept_alive_connections(http):
    sb = Sandbox().start()
    assert http.get(f"{sb.url}/health").status_code == 200  # leaves a pooled keep-alive connection
    sb.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        http.get(f"{sb.url}/health", timeout=2)


def test_latency_is_added_to_every_request(http, make_sandbox):
    sb = make_sandbox(faults=Faults(latency=0.2))
    t0 = time.monotonic()
    assert http.get(f"{sb.url}/health").status_code == 200
    assert time.monotonic() - t0 >= 0.2


@pytest.mark.parametrize(
    "faults",
    [
        Faults(error_503=0.5, seed=7),
        Faults(error_503=0.3, error_500_after_create=0.3, seed=11),
    ],
)
def test_seeded_faults_repeat_exactly(http, make_sandbox, faults):
    runs = []
    for _ in range(2):
        sb = make_sandbox(faults=Faults(**vars(faults)))
        runs.append([post_gift(http, sb, i).status_code for i in range(20)])
        assert len(sb.gifts) == sum(s in (201, 500) for s in runs[-1])
    assert runs[0] == runs[1]
    assert len(set(runs[0])) > 1


def test_faults_can_change_while_running(http, sandbox):
    assert post_gift(http, sandbox).status_code == 201
    sandbox.faults.error_503 = 1.0
    assert post_gift(http, sandbox).status_code == 503
    sandbox.faults = Faults()
    assert post_gift(http, sandbox).status_code == 201


def test_faults_come_after_validation(http, make_sandbox):
    sb = make_sandbox(faults=Faults(error_503=1.0))
    assert http.post(f"{sb.url}/gift_requests", headers=AUTH, json={}).status_code == 422
    assert http.post(f"{sb.url}/gift_requests", headers=VERSION, json=gift_body(sb)).status_code == 401


# -- webhooks and lifecycle ----------------------------------------------------------------

QUIET = dict(redeem_after=(1e6, 1e6), duplicate_share=0.0, reorder_share=0.0, speed=100)


def assert_signed(headers: dict, body: bytes) -> None:
    ts = int(headers["AndOpen-Webhook-Dispatch-Timestamp"])
    assert abs(ts - time.time()) < 60
    assert headers["AndOpen-Webhook-Signature"] == sign(SECRET, ts, body)
    assert headers["Content-Type"] == "application/json"
    assert headers["AndOpen-Webhook-API-Version"] == "2026-05"


def test_status_changes_send_signed_webhooks(http, make_sandbox, receiver):
    sb = make_sandbox(webhook_url=receiver.url, webhook_secret=SECRET)
    gift = post_gift(http, sb).json()
    moved = sb.set_status(gift["id"], "redeemed")
    assert moved["status"] == "redeemed" and moved["updated_at"] >= gift["updated_at"]
    assert until(lambda: len(receiver.calls) >= 2)
    time.sleep(0.05)
    assert len(receiver.calls) == 2
    for headers, body in receiver.calls:
        assert_signed(headers, body)
        assert (
            sign("wrong", int(headers["AndOpen-Webhook-Dispatch-Timestamp"]), body)
            != headers["AndOpen-Webhook-Signature"]
        )
    events = receiver.events()
    assert [e["type"] for e in events] == ["gift_request_created", "gift_request_redeemed"]
    assert events[0]["gift"] == gift and events[1]["gift"]["status"] == "redeemed"
    assert events[0]["id"] != events[1]["id"] and all(UUID.match(e["id"]) for e in events)
    got = http.get(f"{sb.url}/gift_requests/{gift['id']}", headers=AUTH).json()
    assert got["status"] == "redeemed"
    assert [d.ok for d in sb.deliveries] == [True, True]


def test_failed_deliveries_are_retried_with_the_same_event_id(http, make_sandbox):
    receiver = Receiver(fail_first=2)
    try:
        sb = make_sandbox(webhook_url=receiver.url, webhook_secret=SECRET, lifecycle=Lifecycle(**QUIET))
        post_gift(http, sb)
        assert until(lambda: len(receiver.calls) >= 3)
        assert len({h["AndOpen-Webhook-Event-Id"] for h, _ in receiver.calls}) == 1
        for headers, body in receiver.calls:
            assert_signed(headers, body)
        assert until(lambda: len(sb.deliveries) == 3)
        assert [(d.attempt, d.status_code) for d in sb.deliveries] == [(1, 500), (2, 500), (3, 204)]
    finally:
        receiver.close()


def test_deliveries_give_up_after_five_retries(http, make_sandbox):
    sb = make_sandbox(
        webhook_url=f"http://127.0.0.1:{closed_port()}/hook", webhook_secret=SECRET, lifecycle=Lifecycle(**QUIET)
    )
    post_gift(http, sb)
    assert until(lambda: len(sb.deliveries) >= 6)
    time.sleep(0.3)
    assert [d.attempt for d in sb.deliveries] == [1, 2, 3, 4, 5, 6]
    assert all(d.status_code is None and d.error for d in sb.deliveries)


def test_duplicates_repeat_the_event_id(http, make_sandbox, receiver):
    sb = make_sandbox(
        webhook_url=receiver.url,
        webhook_secret=SECRET,
        lifecycle=Lifecycle(**{**QUIET, "duplicate_share": 1.0, "reorder_share": 1.0}),
    )
    for i in range(3):
        post_gift(http, sb, i)
    assert until(lambda: len(receiver.calls) >= 6)
    ids = [h["AndOpen-Webhook-Event-Id"] for h, _ in receiver.calls]
    assert len(set(ids)) == 3 and all(ids.count(i) == 2 for i in ids)
    for headers, body in receiver.calls:
        assert_signed(headers, body)


@pytest.mark.parametrize(
    "cancel_share,final,types",
    [
        (
            0.0,
            "delivered",
            {"gift_request_created", "gift_request_redeemed", "gift_request_dispatched", "gift_request_delivered"},
        ),
        (1.0, "cancelled", {"gift_request_created", "gift_request_cancelled"}),
    ],
)
def test_lifecycle_moves_gifts_to_the_end(http, make_sandbox, receiver, cancel_share, final, types):
    lc = Lifecycle(cancel_share=cancel_share, speed=200, seed=3)
    sb = make_sandbox(webhook_url=receiver.url, webhook_secret=SECRET, lifecycle=lc)
    ids = [post_gift(http, sb, i).json()["id"] for i in range(10)]
    assert until(lambda: all(sb.gifts[i]["status"] == final for i in ids), timeout=8)
    for gid in ids:
        assert http.get(f"{sb.url}/gift_requests/{gid}", headers=AUTH).json()["status"] == final

    def all_events_in():
        got: dict[str, set] = {}
        for e in receiver.events():
            got.setdefault(e["gift"]["id"], set()).add(e["type"])
        return all(got.get(gid) == types for gid in ids)

    assert until(all_events_in, timeout=5)
    for headers, body in receiver.calls:
        assert_signed(headers, body)
        assert (
            headers["AndOpen-Webhook-Event-Type"] == f"gift_request_{json.loads(body)['status']}"
            or headers["AndOpen-Webhook-Event-Type"] == "gift_request_created"
        )


def test_lifecycle_works_without_webhooks(http, make_sandbox):
    sb = make_sandbox(lifecycle=Lifecycle(cancel_share=0.0, speed=200))
    gid = post_gift(http, sb).json()["id"]
    assert until(
        lambda: http.get(f"{sb.url}/gift_requests/{gid}", headers=AUTH).json()["status"] == "delivered", timeout=8
    )
    assert not sb.deliveries


def test_a_manual_move_wins_over_the_lifecycle(http, make_sandbox):
    sb = make_sandbox(lifecycle=Lifecycle(redeem_after=(0.1, 0.1), cancel_share=0.0, speed=1))
    gid = post_gift(http, sb).json()["id"]
    sb.set_status(gid, "cancelled")
    time.sleep(0.3)
    assert sb.gifts[gid]["status"] == "cancelled"


def test_without_lifecycle_gifts_stay_put_until_moved(http, sandbox):
    gid = post_gift(http, sandbox).json()["id"]
    time.sleep(0.1)
    assert sandbox.gifts[gid]["status"] == "submitted"
    assert sandbox.set_status(gid, "dispatched")["status"] == "dispatched"
    with pytest.raises(KeyError):
        sandbox.set_status("nope", "redeemed")


def test_sandbox_module_does_not_import_streamlit():
    code = "import sys, lib.sandbox; sys.exit('streamlit' in sys.modules)"
    assert (
        subprocess.run(
            [sys.executable, "-c", code], cwd=str(__import__("pathlib").Path(__file__).parents[1])
        ).returncode
        == 0
    )
