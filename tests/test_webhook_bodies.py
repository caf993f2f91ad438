"""Hostile but correctly signed webhook bodies: a malformed or unstorable one gets 400 (so
&Open stops retrying it), never a 5xx, on both receivers, and is logged once, without a
traceback. 5xx stays for our own transient faults (a store that cannot write)."""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from lib.webhooks import FIELD_LIMITS, MalformedError, verify
from tests.receivers import (
    SECRET,
    WEBHOOK_PATH,
    gift_body,
    raw_request,
    raw_signed,
    signed_headers,
    start_app,
    start_standalone,
    stop,
)


def _nested(depth: int, open_: bytes, close: bytes) -> bytes:
    return b'{"id": "g-deep", "status": "submitted", "x": ' + open_ * depth + b"1" + close * depth + b"}"


def _utf16() -> bytes:
    return gift_body("g-utf16").decode().encode("utf-16")


BIG = 10**6
# (id, body, expected status). Every body is signed with the right secret and a fresh timestamp.
BODY_CASES = [
    ("nested-10000-arrays", _nested(10_000, b"[", b"]"), 400),
    ("nested-5000-objects", b'{"id": "g-deep", "x": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5000 + b"}", 400),
    ("lone-surrogate-status", b'{"id": "g-s1", "status": "\\ud800"}', 400),
    ("lone-surrogate-id", b'{"id": "g-\\udfff", "status": "submitted"}', 400),
    ("lone-surrogate-email", b'{"id": "g-s2", "recipient": {"email": "a\\ud800@x.com"}}', 400),
    ("lone-surrogate-url", b'{"id": "g-s3", "redemption_url": "https://x.example/\\udc00"}', 400),
    ("lone-surrogate-unused-field", b'{"id": "g-s4", "status": "submitted", "note": "\\ud800"}', 200),
    ("paired-surrogates-are-fine", b'{"id": "g-s5", "status": "submitted", "note": "\\ud83c\\udf81"}', 200),
    ("surrogate-as-raw-bytes", b'{"id": "g-\xed\xa0\x80", "status": "submitted"}', 400),
    ("utf-16", _utf16(), 400),
    ("utf-8-bom", b"\xef\xbb\xbf" + gift_body("g-bom"), 400),
    ("nan", b'{"id": "g-n", "amount": NaN}', 400),
    ("infinity", b'{"id": "g-n", "amount": Infinity}', 400),
    ("minus-infinity", b'{"id": "g-n", "amount": -Infinity}', 400),
    ("huge-float", b'{"id": "g-n", "amount": 1e999}', 400),
    ("long-float", b'{"id": "g-n", "amount": 0.' + b"1" * 5000 + b"}", 400),
    ("duplicate-id-key", b'{"id": "g-a", "id": "g-b", "status": "submitted"}', 400),
    ("duplicate-nested-key", b'{"id": "g-a", "recipient": {"email": "a@x.com", "email": "b@x.com"}}', 400),
    ("nul-in-id", b'{"id": "g-\\u0000", "status": "submitted"}', 400),
    ("nul-in-status", b'{"id": "g-z", "status": "sub\\u0000mitted"}', 400),
    ("nul-in-email", b'{"id": "g-z", "recipient": {"email": "a\\u0000@x.com"}}', 400),
    ("nul-in-url", b'{"id": "g-z", "redemption_url": "https://x.example/\\u0000"}', 400),
    ("nul-in-updated-at", b'{"id": "g-z", "updated_at": "2026\\u0000"}', 400),
    ("escape-in-id", b'{"id": "g-\\u001b[2J", "status": "submitted"}', 400),
    ("newline-in-id", b'{"id": "g-1\\ng-2", "status": "submitted"}', 400),
    ("c1-control-in-status", b'{"id": "g-c1", "status": "\\u0085"}', 400),
    ("enormous-gift-id", json.dumps({"id": "g" * 100_000}).encode(), 400),
    ("enormous-status", json.dumps({"id": "g-big", "status": "s" * 1000}).encode(), 400),
    ("enormous-email", json.dumps({"id": "g-big", "recipient": {"email": "a" * 5000 + "@x.com"}}).encode(), 400),
    ("enormous-url", json.dumps({"id": "g-big", "redemption_url": "https://x/" + "a" * 5000}).encode(), 400),
    ("fine", gift_body("g-fine"), 200),
]  # the 200s are controls: what is not stored (or is fine) must not be refused
FIELD_AT_LIMIT = {"id": "g" * FIELD_LIMITS["gift request id"], "status": "s" * FIELD_LIMITS["status"]}


# -- verify() itself: fast, the whole table --------------------------------------------------
@pytest.mark.parametrize("case, body, expected", BODY_CASES, ids=[c[0] for c in BODY_CASES])
def test_verify_refuses_malformed_or_unstorable(case, body, expected):
    headers = signed_headers(body)
    if expected == 400:
        with pytest.raises(MalformedError):
            verify(headers, body, SECRET)
    else:
        verify(headers, body, SECRET)


@pytest.mark.parametrize(
    "field, value",
    [
        ("AndOpen-Webhook-Event-Id", "e" * 201),
        ("AndOpen-Webhook-Event-Id", "e-\x00"),
        ("AndOpen-Webhook-Event-Id", "e-\ud800"),
        ("AndOpen-Webhook-Event-Id", "e-\x1b[2J"),
        ("AndOpen-Webhook-Event-Type", "gift_request_\ud800"),
        ("AndOpen-Webhook-Event-Type", "t" * 101),
        ("AndOpen-Webhook-Event-Type", "gift_request_\x00"),
    ],
)
def test_verify_refuses_unstorable_headers(field, value):
    body = gift_body(status=None) if "Type" in field else gift_body()
    headers = signed_headers(body) | {field: value}
    with pytest.raises(MalformedError):
        verify(headers, body, SECRET)


def test_values_at_the_limit_are_accepted():
    body = json.dumps(FIELD_AT_LIMIT).encode()
    event = verify(signed_headers(body, event_id="e" * FIELD_LIMITS["event id"]), body, SECRET)
    assert event.gift_request_id == FIELD_AT_LIMIT["id"] and event.status == FIELD_AT_LIMIT["status"]


# -- both real receivers over HTTP ------------------------------------------------------------
@pytest.fixture(scope="module", params=["standalone", "app"])
def receiver(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"bodies-{request.param}")
    if request.param == "standalone":
        rec = start_standalone(tmp)
        yield rec
        stop(rec.proc)
    else:
        rec, server = start_app(tmp)
        yield rec
        server.stop()


@pytest.fixture(scope="module")
def http():
    with requests.Session() as s:
        s.trust_env = False
        yield s


def _post(http, receiver, body: bytes, **kw) -> requests.Response:
    return http.post(receiver.url + WEBHOOK_PATH, data=body, headers=signed_headers(body, **kw), timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("case, body, expected", BODY_CASES, ids=[c[0] for c in BODY_CASES])
def test_no_body_gets_a_5xx(receiver, http, case, body, expected):
    r = _post(http, receiver, body)
    assert r.status_code == expected, f"{receiver.name}/{case}: {r.status_code} {r.text[:200]}"
    assert "error" in r.json() if expected == 400 else r.json()["status"] == "accepted"


# (id, raw header bytes added to a signed POST, raw event id or None, expected)
HEADER_CASES = [
    ("control-char-in-event-id", b"", b"e-\x01-1", 400),
    ("enormous-event-id", b"", b"e" * 10_000, 400),
    ("latin-1-event-id", b"", f"e-café-{uuid.uuid4()}".encode("latin-1"), 200),
    ("non-ascii-bytes-in-another-header", b"X-Pad: \xff\xfe\xed\xa0\x80\r\n", None, 200),
]


@pytest.mark.parametrize("case, extra, event_id, expected", HEADER_CASES, ids=[c[0] for c in HEADER_CASES])
def test_odd_header_bytes_never_get_a_5xx(receiver, case, extra, event_id, expected):
    body = gift_body()
    status = raw_request(receiver.port, raw_signed(body, extra=extra, event_id=event_id), body)
    assert status == expected, f"{receiver.name}/{case}: {status}"


def test_a_refused_body_is_logged_once_without_a_traceback(receiver, http):
    body = _nested(10_000, b"[", b"]")
    for _ in range(3):  # &Open retries with the same body
        assert _post(http, receiver, body, event_id="e-deep-retried").status_code == 400
    assert _post(http, receiver, gift_body()).status_code == 200  # still serving
    r = http.get(receiver.url + receiver.health_path, timeout=10)
    assert r.status_code == 200
    log = receiver.log()
    assert "Traceback" not in log and "RecursionError" not in log, log[-3000:]
    assert log.count("nested too deeply") == 1, log[-3000:]
