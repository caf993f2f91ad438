"""What the fake &Open accepts and answers: request validation, error bodies, the demo campaigns.

Kept apart from the server (lib/sandbox.py) and its HTTP plumbing (lib/sandbox_http.py) so the
API's rules read in one place, as docs/andopen-contract.md gives them; pure functions, no state.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from lib.models import iso, utcnow

# Assumptions (docs/andopen-contract.md): rules the documentation does not give.
NAME_LENGTH = (2, 255)  # 2025-10 rule, measured on the stripped value
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")  # deliberately simple


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _error(type_: str, code: str, message: str, param: str | None = None) -> dict:
    err = {"type": type_, "code": code, "message": message}
    if param is not None:
        err["param"] = param
    return err


def _invalid(code: str, message: str, param: str | None) -> dict:
    return _error("validation_error", code, message, param)


@dataclass
class _Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    hang: float | None = None  # set: answer nothing, wait this long, close the connection
    at_once: bool = False  # answered before any work (a rate limit), so without the latency fault


def _json(status: int, obj: Any, **headers: str) -> _Response:
    return _Response(status, _dump(obj), headers=headers)


def _errors(status: int, *errs: dict, **headers: str) -> _Response:
    return _json(status, {"errors": list(errs)}, **headers)


def _request_id() -> str:
    return "req_" + uuid.uuid4().hex


def validate_gift_request(body: Any, campaigns: dict[str, dict]) -> list[dict]:
    """Every problem with a POST /gift_requests body, all at once, as &Open reports them."""
    if not isinstance(body, dict):
        return [_invalid("invalid_type", "request body must be a JSON object", None)]
    errs: list[dict] = []
    cid = body.get("campaign_id")
    if cid is None or cid == "":
        errs.append(_invalid("required", "is required", "campaign_id"))
    elif not isinstance(cid, str) or cid not in campaigns:
        errs.append(_invalid("invalid_reference", "does not exist", "campaign_id"))
    elif campaigns[cid].get("state") == "archived":
        errs.append(_invalid("campaign_archived", "is archived", "campaign_id"))
    recipient = body.get("recipient")
    if recipient is None:
        recipient = {}  # a missing recipient reports each of its fields as required
    if not isinstance(recipient, dict):
        errs.append(_invalid("invalid_type", "must be an object", "recipient"))
    else:
        lo, hi = NAME_LENGTH
        for key in ("first_name", "last_name", "email"):
            value, param = recipient.get(key), f"recipient.{key}"
            if value is None:
                errs.append(_invalid("required", "is required", param))
            elif not isinstance(value, str):
                errs.append(_invalid("invalid_type", "must be a string", param))
            elif key == "email":
                if not EMAIL_RE.fullmatch(value):
                    errs.append(_invalid("invalid_format", "is not a valid email address", param))
            elif not lo <= len(value.strip()) <= hi:
                errs.append(_invalid("invalid_length", f"must be between {lo} and {hi} characters", param))
    ship, items = body.get("shipping_address"), body.get("line_items")
    if (ship is None) != (items is None):
        missing, given = ("line_items", "shipping_address") if items is None else ("shipping_address", "line_items")
        errs.append(_invalid("required", f"is required together with {given}", missing))
    return errs


_CATALOGUES = [
    [("Artisan chocolate box", "35.00"), ("Candle & card set", "28.00"), ("Gourmet popcorn tin", "30.00")],
    [("Single-origin coffee bag", "22.00"), ("Coffee & biscotti duo", "30.00"), ("Cold brew kit", "40.00")],
    [("Succulent in a ceramic pot", "32.00"), ("Notebook & pen set", "25.00"), ("Tea sampler", "27.00")],
    [("Gift card", "25.00"), ("Snack box", "30.00"), ("Branded tumbler", "20.00")],
]
_ARCHIVED_DEMO = 7  # "Demo campaign 07" is archived


def default_campaigns() -> list[dict]:
    """~30 campaigns (more than a page), newest first, with stable ids across restarts."""
    named = [
        ("Holiday thank-you 2026", "A seasonal thank-you for customers and partners."),
        ("Q4 prospecting — coffee & treats", "Coffee and treats for accounts we want to meet."),
        ("Customer win-back", "A small something for customers we have not heard from."),
    ]
    named += [(f"Demo campaign {n:02d}", f"Generated demo campaign number {n}.") for n in range(4, 31)]
    anchor = datetime(2026, 4, 10, 9, 0, tzinfo=UTC)
    out = []
    for i, (name, description) in enumerate(named):
        n = i + 1
        created = anchor - timedelta(days=3 * i)
        archived = n == _ARCHIVED_DEMO
        out.append(
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"giftrun-sandbox/campaign/{n}")),
                "name": name,
                "description": description,
                "state": "archived" if archived else "available",
                "archived_at": iso(created + timedelta(days=20)) if archived else None,
                "created_at": iso(created),
                "catalogue": [
                    {
                        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"giftrun-sandbox/campaign/{n}/item/{k}")),
                        "name": item,
                        "price": price,
                        "currency": "USD",
                    }
                    for k, (item, price) in enumerate(_CATALOGUES[min(i, 3)])
                ],
            }
        )
    return out


def _normalise_campaign(raw: dict) -> dict:
    c: dict = {
        "id": str(uuid.uuid4()),
        "name": "",
        "description": "",
        "state": "available",
        "archived_at": None,
        "created_at": iso(utcnow()),
        "catalogue": [],
    }
    c.update(copy.deepcopy(raw))
    return c
