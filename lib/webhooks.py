"""&Open webhook intake: verify first, parse second, store before answering 2xx.

The signature is checked over the raw bytes (re-serialised JSON breaks it), in constant
time, then the timestamp window; only then is the body parsed. An event is stored
durably, deduplicated on its event id, before &Open gets a 2xx, so a crash never loses an
acknowledged event. The same Starlette routes serve the Streamlit app (`st.App(routes=…)`)
and the standalone receiver (`serve`).
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from .control_chars import problem as control_problem
from .errors import GiftrunError
from .httpguard import Limits, throttle_logs
from .models import EventSource, StatusEvent
from .store import Store
from .store.group_commit import EventWriter
from .webhook_signature import sign

log = logging.getLogger("giftrun.webhooks")

MAX_BODY_BYTES = 256 * 1024  # a gift request object is ~1 KB; anything huge is not &Open
TOLERANCE_SECONDS = 300
SIGNATURE_HEADER = "andopen-webhook-signature"
TIMESTAMP_HEADER = "andopen-webhook-dispatch-timestamp"
EVENT_ID_HEADER = "andopen-webhook-event-id"
EVENT_TYPE_HEADER = "andopen-webhook-event-type"
# Types whose status word differs from their suffix; others map gift_request_<status>.
_TYPE_STATUS = {"gift_request_created": "submitted"}
_TS = re.compile(r"\d{1,15}", re.ASCII)
_LENGTH = re.compile(r"[0-9]{1,18}", re.ASCII)
# What we store, and the longest we accept: ids are UUIDs, a status is a word. Longer,
# or with control characters (NUL included: PostgreSQL text cannot hold it) or unpaired
# surrogates (not storable text), and the body is refused as malformed.
FIELD_LIMITS = {
    "event id": 200,
    "gift request id": 200,
    "event type": 100,
    "status": 64,
    "email": 320,
    "updated_at": 64,
    "redemption_url": 2048,
    "campaign_id": 200,
    "created_at": 64,
}
MAX_NUMBER_DIGITS = 100
SERVER_LOGGERS = ("giftrun.webhooks", "uvicorn.error", "asyncio")  # throttled on both servers


class WebhookError(GiftrunError):
    """A refused delivery; `message` is safe to return to the caller (never the secret)."""

    status = 400


class SignatureError(WebhookError):
    status = 401


class TimestampError(WebhookError):
    status = 401


class MalformedError(WebhookError):
    status = 400


class TooLargeError(WebhookError):
    status = 413


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
    max_bytes: int = MAX_BODY_BYTES,
) -> StatusEvent:
    """Check one delivery and turn it into a StatusEvent, or raise a WebhookError.
    Nothing in the body is trusted (or even parsed) before the signature matches."""
    if len(body) > max_bytes:
        raise TooLargeError(f"body larger than {max_bytes} bytes")
    h = {k.lower(): v for k, v in headers.items()}
    signature, ts = h.get(SIGNATURE_HEADER), h.get(TIMESTAMP_HEADER)
    if not signature:
        raise SignatureError("missing AndOpen-Webhook-Signature header")
    if not ts:
        raise TimestampError("missing AndOpen-Webhook-Dispatch-Timestamp header")
    ts = ts.strip()
    if not _TS.fullmatch(ts):
        raise TimestampError("AndOpen-Webhook-Dispatch-Timestamp is not an integer")
    expected = sign(secret, ts, body).encode()
    if not hmac.compare_digest(expected, signature.strip().lower().encode("utf-8", "replace")):
        raise SignatureError("signature does not match")
    if abs((time.time() if now is None else now) - int(ts)) > tolerance:
        raise TimestampError(f"timestamp more than {tolerance} s from now")
    obj = parse_body(body)
    gift_id = obj.get("id")
    if not isinstance(gift_id, str) or not gift_id.strip():
        raise MalformedError("body has no gift request id")
    event_id = (h.get(EVENT_ID_HEADER) or "").strip()
    if not event_id:
        raise MalformedError("missing AndOpen-Webhook-Event-Id header")
    event_type = (h.get(EVENT_TYPE_HEADER) or "").strip()
    status = obj.get("status")
    if not isinstance(status, str) or not status:
        status = _status_from_type(event_type)
    recipient = obj.get("recipient")
    email = recipient.get("email") if isinstance(recipient, dict) else None
    fields = {
        "event id": event_id,
        "gift request id": gift_id.strip(),
        "event type": event_type,
        "status": status,
        "email": _str(email),
        "updated_at": _str(obj.get("updated_at")),
        "redemption_url": _str(obj.get("redemption_url")),
        # the gift object's campaign and creation time: what matches it to a send whose answer was lost
        "campaign_id": _str(obj.get("campaign_id")),
        "created_at": _str(obj.get("created_at")),
    }
    for name, value in fields.items():
        _check_storable(name, value)
    return StatusEvent(
        event_id=event_id,
        gift_request_id=gift_id.strip(),
        status=status,
        source=EventSource.WEBHOOK,
        email=fields["email"] or "",
        event_type=event_type,
        occurred_at=fields["updated_at"],
        redemption_url=fields["redemption_url"],
        campaign_id=fields["campaign_id"],
        created_at=fields["created_at"],
    )


def parse_body(body: bytes) -> dict:
    """The body as a JSON object, or MalformedError: strict UTF-8 (no other encodings, no
    lone surrogates as bytes), no NaN/Infinity, no duplicate keys, no numbers too long or
    too large to mean anything, nesting only as deep as the parser manages."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedError("body is not UTF-8") from None
    try:
        obj = json.loads(text, object_pairs_hook=_object, parse_constant=_constant, parse_int=_int, parse_float=_float)
    except RecursionError:
        raise MalformedError("body is nested too deeply") from None
    except ValueError:
        raise MalformedError("body is not valid JSON") from None
    if not isinstance(obj, dict):
        raise MalformedError("body is not a JSON object")
    return obj


def _object(pairs: list[tuple[str, object]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise MalformedError("body has a duplicate key")
    return obj


def _constant(name: str) -> float:
    raise MalformedError(f"body has {name}, which is not JSON")


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER_DIGITS:
        raise MalformedError("body has a number too long")
    return int(text)


def _float(text: str) -> float:
    value = float(text) if len(text) <= MAX_NUMBER_DIGITS else math.inf
    if not math.isfinite(value):
        raise MalformedError("body has a number too large")
    return value


def _check_storable(name: str, value: str | None) -> None:
    """Refuse what the store cannot keep as text: control characters (NUL included),
    unpaired surrogates, and values far longer than any real one; and the invisible and
    text-direction characters a list row may not hold either (ids, a status word, an email
    and timestamps never need them)."""
    if value is None:
        return
    if len(value) > FIELD_LIMITS[name]:
        raise MalformedError(f"{name} is too long ({len(value)} characters; at most {FIELD_LIMITS[name]})")
    if _UNSTORABLE.search(value):
        raise MalformedError(f"{name} contains a control character or an unpaired surrogate")
    if (bad := control_problem(name, value, joiners=False)) is not None:  # what a list row may not hold either
        raise MalformedError(bad.removesuffix(": remove it"))


_UNSTORABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029]")


def _status_from_type(event_type: str) -> str:
    """gift_request_redeemed → redeemed; unknown gift types keep their word as it came."""
    if event_type in _TYPE_STATUS:
        return _TYPE_STATUS[event_type]
    prefix = "gift_request_"
    return event_type[len(prefix) :] if event_type.startswith(prefix) else ""


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


class WebhookIntake:
    """Verifies, stores and acknowledges deliveries; transport-free so tests call it directly."""

    def __init__(
        self,
        store: Store,
        secret: str | None,
        *,
        max_bytes: int = MAX_BODY_BYTES,
        on_accepted: Callable[[list[StatusEvent]], None] | None = None,
    ) -> None:
        self.store = store
        self.writer = EventWriter(store)  # deliveries arriving together share one commit
        self._secret = secret or None
        self.max_bytes = max_bytes
        self.on_accepted = on_accepted
        self._lock = threading.Lock()
        self.counts = {"accepted": 0, "duplicate": 0, "rejected": 0}

    @property
    def configured(self) -> bool:
        return self._secret is not None

    def _count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1

    def handle(self, headers: Mapping[str, str], body: bytes) -> tuple[int, dict]:
        """(HTTP status, JSON body). 2xx only once the event is durably stored."""
        checked = self._check(headers, body)
        if not isinstance(checked, StatusEvent):
            return checked
        try:
            new = self.writer.add(checked)
        except Exception:  # &Open retries on non-2xx, so nothing is lost
            return self._unstored(checked)
        self._copy(checked)
        return self._answer(checked, new)

    async def handle_async(self, headers: Mapping[str, str], body: bytes) -> tuple[int, dict]:
        """`handle` for the servers' event loop: no thread is held while the event waits for
        its group commit, so thousands of deliveries can wait at once."""
        checked = self._check(headers, body)
        if not isinstance(checked, StatusEvent):
            return checked
        try:
            new = await self.writer.add_async(checked)
        except Exception:
            return self._unstored(checked)
        if self.on_accepted is not None:
            await run_in_threadpool(self._copy, checked)
        return self._answer(checked, new)

    def _check(self, headers: Mapping[str, str], body: bytes) -> StatusEvent | tuple[int, dict]:
        if self._secret is None:  # refuse unsigned intake rather than accept anything
            return 503, {"error": "webhook secret not configured"}
        try:
            return verify(headers, body, self._secret, max_bytes=self.max_bytes)
        except WebhookError as exc:
            self._count("rejected")
            log.warning("webhook refused (%s): %s", exc.status, exc.message)
            return exc.status, {"error": exc.message}

    def _unstored(self, event: StatusEvent) -> tuple[int, dict]:
        log.exception("webhook event %s could not be stored", event.event_id)
        return 503, {"error": "event could not be stored; retry later"}

    def _copy(self, event: StatusEvent) -> None:
        """Duplicates too: if a copy (e.g. to a shared sheet) failed after the event was stored,
        &Open's retry is how it gets queued; queueing is idempotent."""
        if self.on_accepted is None:
            return
        try:
            self.on_accepted([event])
        except Exception:  # the event is stored; a copy elsewhere can catch up later
            log.exception("on_accepted failed for webhook event %s", event.event_id)

    def _answer(self, event: StatusEvent, new: bool) -> tuple[int, dict]:
        self._count("accepted" if new else "duplicate")
        return 200, {"status": "accepted" if new else "duplicate", "event_id": event.event_id}


def routes(intake_factory: Callable[[], WebhookIntake]) -> list[BaseRoute]:
    """`POST /webhooks/andopen` and `GET /webhooks/health`. The factory is called per
    request (cache inside it), so the app can build the intake lazily from its settings."""

    built = False  # the first call may build the services (a store to open): off the event loop

    async def _intake() -> WebhookIntake | JSONResponse:
        nonlocal built
        try:
            intake = intake_factory() if built else await run_in_threadpool(intake_factory)
        except Exception:
            log.exception("webhook intake could not be created")
            return JSONResponse({"error": "webhook intake unavailable"}, status_code=503)
        built = True
        return intake

    async def receive(request: Request) -> JSONResponse:
        intake = await _intake()
        if isinstance(intake, JSONResponse):
            return intake
        too_large = JSONResponse({"error": f"body larger than {intake.max_bytes} bytes"}, status_code=413)
        length = request.headers.get("content-length")
        if length is not None:
            if not _LENGTH.fullmatch(length):
                return JSONResponse({"error": "bad Content-Length"}, status_code=400)
            if int(length) > intake.max_bytes:
                return too_large
        chunks, size = [], 0
        try:
            async for chunk in request.stream():  # stop reading past the cap
                size += len(chunk)
                if size > intake.max_bytes:
                    return too_large
                chunks.append(chunk)
        except ClientDisconnect:
            return JSONResponse({"error": "client disconnected"}, status_code=400)
        status, payload = await intake.handle_async(request.headers, b"".join(chunks))
        return JSONResponse(payload, status_code=status)

    async def health(request: Request) -> JSONResponse:
        intake = await _intake()
        if isinstance(intake, JSONResponse):
            return JSONResponse({"ok": False, "error": "webhook intake unavailable"}, status_code=503)
        with intake._lock:
            counts = dict(intake.counts)
        return JSONResponse(
            {"ok": intake.configured, "secret_configured": intake.configured, "events": counts},
            status_code=200 if intake.configured else 503,
        )

    return [
        Route("/webhooks/andopen", receive, methods=["POST"]),
        Route("/webhooks/health", health, methods=["GET"]),
    ]


def receiver_app(store: Store | Path | str, secret: str, **kw) -> Starlette:
    """The standalone receiver: the webhook routes plus `GET /health`, over one Store (or
    the SQLite store in a folder). `kw` goes to WebhookIntake (max_bytes, on_accepted)."""
    intake = WebhookIntake(store if isinstance(store, Store) else Store(store), secret, **kw)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(routes=[*routes(lambda: intake), Route("/health", health, methods=["GET"])])


def serve(
    store: Store | Path | str,
    secret: str,
    host: str = "127.0.0.1",
    port: int = 8502,
    *,
    limits: Limits | None = None,
    **kw,
) -> None:
    """Run the receiver until interrupted. Access logs are off: nothing about a request
    (headers, signature) is ever logged, and the secret never is. Slow clients are timed
    out and connections bounded (`limits`, default from the environment: see httpguard)."""
    import uvicorn
    from uvicorn.protocols.http.h11_impl import H11Protocol

    throttle_logs(*SERVER_LOGGERS)
    uvicorn.run(
        receiver_app(store, secret, **kw),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
        **(limits or Limits.from_env()).uvicorn_options(H11Protocol),
    )
