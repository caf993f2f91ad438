"""The sandbox: a fake &Open server on loopback, for demo mode, tests and benchmarks.

It follows the documented behaviour in docs/andopen-contract.md exactly, picks the assumed parts
in the constants below, and adds what a real server cannot be asked to do on purpose:
fault injection (rate limits, 503s, gifts created behind a 500 or a hung answer) and a
lifecycle that moves gifts by itself and announces each move with a signed webhook.
"""

from __future__ import annotations

import copy
import hmac
import html
import json
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import requests

from lib.delay_queue import DelayQueue
from lib.models import GiftStatus, iso, normalize_email, utcnow
from lib.sandbox_api import (
    _dump,
    _error,
    _errors,
    _json,
    _normalise_campaign,
    _Response,
    default_campaigns,
    validate_gift_request,
)
from lib.sandbox_http import _Handler, _Server
from lib.sandbox_limiters import Limiter, LimiterKind, make_limiter, retry_after_header
from lib.webhook_signature import sign

DEFAULT_TOKEN = "ao-v1-staging-sandbox0000demo"
API_VERSION = "2026-05"
PAGE_LIMIT = 25
# Assumptions (docs/andopen-contract.md): statuses and codes the documentation does not give;
# the validation rules it does not give are in lib/sandbox_api.py.
CREATED_STATUS = 201
VALIDATION_STATUS = 422
WEBHOOK_TIMEOUT = 5.0
WEBHOOK_BACKOFF = (1, 2, 4, 8, 16)  # seconds before retry n; so 1 + 5 attempts at most
REORDER_DELAY = (2.0, 12.0)  # seconds a "reordered" delivery is held back
DUPLICATE_DELAY = (0.1, 2.0)  # seconds between a delivery and its duplicate
MAX_SCHEDULED = 100_000  # bound on pending lifecycle steps and pending deliveries
MAX_RECORDED = 100_000  # oldest half of `requests` is dropped beyond this

_VERSION_ERROR = {
    "errors": [
        {
            "type": "api_error",
            "code": "unsupported_api_version",
            "message": "Requests must include header 'AndOpen-API-Version: 2026-05'.",
        }
    ]
}
_AUTH_ERROR = {
    "errors": [
        {
            "type": "authentication_error",
            "code": "invalid_token",
            "message": "The access token provided is invalid or has expired.",
        }
    ]
}


@dataclass
class Faults:
    """What goes wrong on POST /gift_requests. Mutable at runtime; all off by default."""

    latency: float = 0.0  # seconds every answer takes, but a 429: limits are checked before the work
    rate_limit: float | None = None  # gift requests/s; None: no limit
    limiter: LimiterKind = LimiterKind.TOKEN_BUCKET  # how the limit is kept (lib/sandbox_limiters.py)
    retry_after: bool = True  # a 429 says when to retry (Retry-After); False: a bare 429
    error_503: float = 0.0
    error_500_after_create: float = 0.0
    hang_after_create: float = 0.0
    hang_seconds: float = 30.0
    seed: int | None = None
    # Called with each valid create's payload before the gift is made, on the request's thread:
    # a test's hook to act (edit the list, stop a server) while a run is surely in flight.
    before_create: Callable[[dict], None] | None = None


@dataclass
class Lifecycle:
    """Simulated recipients, so statuses move and webhooks flow without anyone clicking."""

    redeem_after: tuple[float, float] = (5, 60)
    dispatch_after: tuple[float, float] = (10, 40)
    deliver_after: tuple[float, float] = (10, 40)
    cancel_share: float = 0.08
    duplicate_share: float = 0.1
    reorder_share: float = 0.1
    speed: float = 1.0
    seed: int | None = None


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # as sent, query included
    headers: dict[str, str]
    body: bytes
    status: int | None  # None: the sandbox never answered (hang fault)
    request_id: str
    at: float = field(default_factory=time.time)

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    def header(self, name: str) -> str | None:
        low = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == low), None)


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery attempt."""

    event_id: str
    event_type: str
    gift_id: str
    attempt: int
    status_code: int | None
    error: str | None
    at: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class _Event:
    event_id: str
    event_type: str
    gift_id: str
    body: bytes
    url: str
    secret: str


class Sandbox:
    """A fake &Open API on 127.0.0.1. `with Sandbox() as sb: ... sb.url ...`"""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        port: int = 0,
        faults: Faults | None = None,
        campaigns: list[dict] | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        lifecycle: Lifecycle | None = None,
    ) -> None:
        self.token = token
        self.url = ""  # set by start()
        self.port = port
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        raw = default_campaigns() if campaigns is None else [_normalise_campaign(c) for c in campaigns]
        self.campaigns: list[dict] = sorted(raw, key=lambda c: c.get("created_at") or "", reverse=True)
        self._campaign_index = {c["id"]: i for i, c in enumerate(self.campaigns)}
        self._campaigns_by_id = {c["id"]: c for c in self.campaigns}
        self.requests: list[RecordedRequest] = []
        self.deliveries: list[Delivery] = []
        self.gifts: dict[str, dict] = {}
        self._codes: dict[str, str] = {}
        self._lock = threading.Lock()  # gifts, codes, requests, deliveries
        self._fault_lock = threading.Lock()
        self._limiter: tuple[tuple, Limiter] | None = None  # ((kind, rate), limiter): rebuilt when either changes
        self._lc_lock = threading.Lock()
        self.faults = faults or Faults()
        self.lifecycle = lifecycle
        self._lifecycle_q = DelayQueue(MAX_SCHEDULED)
        self._delivery_q = DelayQueue(MAX_SCHEDULED)
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self.connections_opened = 0  # TCP connections accepted: shows whether clients reuse theirs
        self._conn_lock = threading.Lock()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []

    # Replacing faults or lifecycle re-seeds their randomness, so seeded runs repeat exactly.
    @property
    def faults(self) -> Faults:
        return self._faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        with self._fault_lock:
            self._faults = value
            self._fault_rng = random.Random(value.seed)

    @property
    def lifecycle(self) -> Lifecycle | None:
        return self._lifecycle

    @lifecycle.setter
    def lifecycle(self, value: Lifecycle | None) -> None:
        with self._lc_lock:
            self._lifecycle = value
            self._lc_rng = random.Random(value.seed if value else None)

    @property
    def campaign_ids(self) -> list[str]:
        return [c["id"] for c in self.campaigns]

    # -- running ------------------------------------------------------------------------
    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        if self._stopping.is_set():
            raise RuntimeError("a stopped Sandbox cannot be started again; make a new one")
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.sandbox = self
        self._server = server
        self.port = server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        for name, target in (
            ("serve", lambda: server.serve_forever(poll_interval=0.05)),
            ("lifecycle", self._lifecycle_loop),
            ("webhooks", self._delivery_loop),
        ):
            t = threading.Thread(target=target, name=f"sandbox-{name}-{self.port}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        """Stops at once: hanging answers and pending webhooks are abandoned."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._conn_lock:
            conns = list(self._conns)
        for conn in conns:  # keep-alive connections would otherwise still be served
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._lifecycle_q.close()
        self._delivery_q.close()
        for t in self._threads:
            t.join(timeout=0.5)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _track(self, conn: socket.socket, alive: bool) -> None:
        with self._conn_lock:
            if alive:
                self._conns.add(conn)
                self.connections_opened += 1
            else:
                self._conns.discard(conn)
        if alive and self._stopping.is_set():
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _record(
        self, method: str, path: str, headers: dict[str, str], body: bytes, status: int | None, request_id: str
    ) -> None:
        rec = RecordedRequest(method, path, headers, body, status, request_id)
        with self._lock:
            self.requests.append(rec)
            if len(self.requests) > MAX_RECORDED:
                del self.requests[: MAX_RECORDED // 2]

    # -- inspection and control ---------------------------------------------------------
    def gifts_by_email(self) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        with self._lock:
            for gift in self.gifts.values():
                out.setdefault(normalize_email(gift["recipient"]["email"]), []).append(copy.deepcopy(gift))
        return out

    def set_status(self, gift_id: str, status: str) -> dict:
        """Move a gift by hand (KeyError if unknown); webhooks go out as for any change."""
        return self._change_status(gift_id, str(status))  # type: ignore[return-value]

    def _change_status(self, gift_id: str, status: str, expected: str | None = None) -> dict | None:
        with self._lock:
            gift = self.gifts[gift_id]
            if expected is not None and gift["status"] != expected:
                return None  # moved by someone else meanwhile: that wins
            gift["status"] = status
            gift["updated_at"] = iso(utcnow())
            body = _dump(gift)
        self._emit(gift_id, f"gift_request_{status}", body)
        return json.loads(body)

    # -- HTTP ---------------------------------------------------------------------------
    def _dispatch(self, method: str, raw_path: str, headers: Any, body: bytes) -> _Response:
        split = urlsplit(raw_path)
        path = split.path.rstrip("/") or "/"
        parts = [unquote(p) for p in path.split("/")[1:]]
        route: tuple[tuple[str, ...], bool, Any] | None = None  # (methods, public, call)
        if path == "/health":
            route = (("GET",), True, lambda: _json(200, {"ok": True}))
        elif len(parts) == 2 and parts[0] == "r":
            route = (("GET",), True, lambda: self._redeem_page(parts[1]))
        elif path == "/gift_requests":
            route = (("POST",), False, lambda: self._post_gift(body))
        elif len(parts) == 2 and parts[0] == "gift_requests":
            route = (("GET",), False, lambda: self._get_gift(parts[1]))
        elif path == "/campaigns":
            route = (("GET",), False, lambda: self._list_campaigns(parse_qs(split.query, keep_blank_values=True)))
        elif len(parts) == 2 and parts[0] == "campaigns":
            route = (("GET",), False, lambda: self._get_campaign(parts[1]))
        if route is None:
            return _errors(
                404, _error("invalid_request_error", "not_found", f"Unrecognized request URL ({method}: {split.path}).")
            )
        methods, public, call = route
        if method not in methods:
            return _errors(
                405,
                _error("invalid_request_error", "method_not_allowed", f"{method} is not allowed on {split.path}."),
                Allow=", ".join(methods),
            )
        if not public:
            if headers.get("AndOpen-API-Version") != API_VERSION:
                return _json(400, _VERSION_ERROR)
            scheme, _, token = (headers.get("Authorization") or "").strip().partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self.token.encode()):
                return _json(401, _AUTH_ERROR, **{"WWW-Authenticate": "Bearer"})
        return call()

    def _redeem_page(self, code: str) -> _Response:
        with self._lock:
            gift = self.gifts.get(self._codes.get(code, ""))
            name = gift["recipient"]["first_name"] if gift else ""
        if gift is None:
            return _errors(404, _error("invalid_request_error", "not_found", f"No such gift link: '{code}'"))
        page = (
            f"<!doctype html><html><head><meta charset='utf-8'><title>Your gift is waiting</title></head>"
            f"<body><h1>Your gift is waiting</h1><p>Hi {html.escape(name)}, pick your gift here. "
            f"(&amp;Open sandbox: nothing will be shipped.)</p></body></html>"
        )
        return _Response(200, page.encode(), content_type="text/html; charset=utf-8")

    def _get_gift(self, gift_id: str) -> _Response:
        with self._lock:
            gift = self.gifts.get(gift_id)
            body = _dump(gift) if gift else None
        if body is None:
            return _errors(404, _error("invalid_request_error", "not_found", f"No such gift request: '{gift_id}'"))
        return _Response(200, body)

    def _get_campaign(self, campaign_id: str) -> _Response:
        campaign = self._campaigns_by_id.get(campaign_id)
        if campaign is None:
            return _errors(404, _error("invalid_request_error", "not_found", f"No such campaign: '{campaign_id}'"))
        return _json(200, campaign)

    def _list_campaigns(self, query: dict[str, list[str]]) -> _Response:
        errs, limit, start = [], PAGE_LIMIT, 0
        if "limit" in query:
            raw = query["limit"][0].strip()
            if not raw.isdecimal() or int(raw) <= 0:
                errs.append(
                    _error("invalid_request_error", "invalid_parameter", "limit must be a positive integer", "limit")
                )
            else:
                limit = min(int(raw), PAGE_LIMIT)
        after = query.get("after", [""])[0]
        if after:
            if after not in self._campaign_index:
                errs.append(
                    _error(
                        "invalid_request_error",
                        "invalid_parameter",
                        "after must be the id of a campaign from this list",
                        "after",
                    )
                )
            else:
                start = self._campaign_index[after] + 1
        if errs:
            return _errors(400, *errs)
        page = self.campaigns[start : start + limit]
        return _json(200, {"data": page, "has_more": start + limit < len(self.campaigns)})

    def _post_gift(self, body: bytes) -> _Response:
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return _errors(
                400, _error("invalid_request_error", "invalid_json", f"The request body is not valid JSON: {exc}")
            )
        errs = validate_gift_request(payload, self._campaigns_by_id)
        if errs:
            return _errors(VALIDATION_STATUS, *errs)
        faults = self.faults
        with self._fault_lock:
            wait = self._rate_limit_wait(faults)
            draws = None if wait else [self._fault_rng.random() for _ in range(3)]
        if draws is None:
            if not faults.retry_after:
                refused = _errors(429, _error("rate_limit_error", "too_many_requests", "Too many requests."))
            else:
                seconds = retry_after_header(wait)
                refused = _errors(
                    429,
                    _error(
                        "rate_limit_error", "too_many_requests", f"Too many requests. Retry after {seconds} seconds."
                    ),
                    **{"Retry-After": seconds},
                )
            refused.at_once = True
            return refused
        if draws[0] < faults.error_503:
            return _errors(
                503,
                _error(
                    "api_error", "service_unavailable", "The service is temporarily unavailable. Nothing was created."
                ),
            )
        if faults.before_create is not None:
            faults.before_create(payload)
        gift_body = self._create_gift(payload)
        if draws[1] < faults.error_500_after_create:
            return _errors(500, _error("api_error", "internal_error", "An internal error occurred."))
        if draws[2] < faults.hang_after_create:
            return _Response(0, hang=faults.hang_seconds)
        return _Response(CREATED_STATUS, gift_body)

    def _rate_limit_wait(self, faults: Faults) -> float:
        """0 when the limiter lets this create through, else seconds until it would. A new
        kind or rate starts a fresh limiter (a full bucket, empty windows)."""
        if not faults.rate_limit or faults.rate_limit <= 0:
            self._limiter = None
            return 0.0
        key = (LimiterKind(faults.limiter), faults.rate_limit)
        if self._limiter is None or self._limiter[0] != key:
            self._limiter = (key, make_limiter(*key))
        return self._limiter[1].take(time.monotonic())

    def _create_gift(self, payload: dict) -> bytes:
        now = iso(utcnow())
        gift_id, code = str(uuid.uuid4()), uuid.uuid4().hex[:10]
        rec = payload["recipient"]
        gift = {
            "id": gift_id,
            "status": GiftStatus.SUBMITTED.value,
            "campaign_id": payload["campaign_id"],
            "redemption_url": f"{self.url}/r/{code}",
            "recipient": {
                "id": str(uuid.uuid4()),
                "first_name": rec["first_name"],
                "last_name": rec["last_name"],
                "email": rec["email"],
            },
            "shipping_address": payload.get("shipping_address"),
            "line_items": payload.get("line_items"),
            "created_at": now,
            "updated_at": now,
        }
        body = _dump(gift)
        with self._lock:
            self.gifts[gift_id] = gift
            self._codes[code] = gift_id
        self._emit(gift_id, "gift_request_created", body)
        lc = self.lifecycle
        if lc is not None:
            self._lifecycle_q.put(
                self._lc_delay(lc, lc.redeem_after), (gift_id, GiftStatus.SUBMITTED.value, "redeemed")
            )
        return body

    # -- lifecycle and webhooks ---------------------------------------------------------
    def _lc_delay(self, lc: Lifecycle, bounds: tuple[float, float]) -> float:
        with self._lc_lock:
            return self._lc_rng.uniform(*bounds) / (lc.speed if lc.speed > 0 else 1.0)

    def _lifecycle_loop(self) -> None:
        follow = {"redeemed": ("dispatched", "dispatch_after"), "dispatched": ("delivered", "deliver_after")}
        while (item := self._lifecycle_q.get()) is not None:
            gift_id, expected, nxt = item
            lc = self.lifecycle
            if lc is None:
                continue
            if nxt == "redeemed":
                with self._lc_lock:
                    if self._lc_rng.random() < lc.cancel_share:
                        nxt = GiftStatus.CANCELLED.value
            try:
                if self._change_status(gift_id, nxt, expected=expected) is None:
                    continue
            except KeyError:
                continue
            if nxt in follow:
                then, bounds = follow[nxt]
                self._lifecycle_q.put(self._lc_delay(lc, getattr(lc, bounds)), (gift_id, nxt, then))

    def _emit(self, gift_id: str, event_type: str, body: bytes) -> None:
        url, secret, lc = self.webhook_url, self.webhook_secret, self.lifecycle
        if not (url and secret) or self._stopping.is_set():
            return
        event = _Event(str(uuid.uuid4()), event_type, gift_id, body, url, secret)
        delay, duplicate = 0.0, None
        if lc is not None:
            speed = lc.speed if lc.speed > 0 else 1.0
            with self._lc_lock:
                if self._lc_rng.random() < lc.reorder_share:
                    delay = self._lc_rng.uniform(*REORDER_DELAY) / speed
                if self._lc_rng.random() < lc.duplicate_share:
                    duplicate = delay + self._lc_rng.uniform(*DUPLICATE_DELAY) / speed
        for d in (delay, duplicate):
            if d is not None and not self._delivery_q.put(d, (event, 1)):
                self._record_delivery(event, 1, None, "dropped: delivery queue full")

    def _record_delivery(self, event: _Event, attempt: int, status: int | None, error: str | None) -> None:
        with self._lock:
            self.deliveries.append(Delivery(event.event_id, event.event_type, event.gift_id, attempt, status, error))

    def _delivery_loop(self) -> None:
        """The one thread that sends webhooks, so a slow receiver never slows the API."""
        session = requests.Session()
        session.trust_env = False  # loopback receivers: never through a proxy
        try:
            while (item := self._delivery_q.get()) is not None:
                event, attempt = item
                ts = int(time.time())
                headers = {
                    "Content-Type": "application/json",
                    "AndOpen-Webhook-Signature": sign(event.secret, ts, event.body),
                    "AndOpen-Webhook-Dispatch-Timestamp": str(ts),
                    "AndOpen-Webhook-Event-Id": event.event_id,
                    "AndOpen-Webhook-Event-Type": event.event_type,
                    "AndOpen-Webhook-API-Version": API_VERSION,
                }
                status, error = None, None
                try:
                    status = session.post(
                        event.url, data=event.body, headers=headers, timeout=WEBHOOK_TIMEOUT
                    ).status_code
                except requests.RequestException as exc:
                    error = f"{type(exc).__name__}: {exc}"
                self._record_delivery(event, attempt, status, error)
                if (status is None or not 200 <= status < 300) and attempt <= len(WEBHOOK_BACKOFF):
                    lc = self.lifecycle
                    speed = lc.speed if lc and lc.speed > 0 else 1.0
                    self._delivery_q.put(WEBHOOK_BACKOFF[attempt - 1] / speed, (event, attempt + 1))
        finally:
            session.close()
