"""Headers are matched loosely, the same way for the columns Giftrun reads and the ones it
writes: `Gift Request ID`, `gift_request_id`, `GiftRequestID` and ` Gift request id ` are
one column. The names an email column goes by are here too, for every reader of a file
(the list, the look-back, the do-not-gift import) to find it alike."""

from __future__ import annotations

# Normalised headers that name an email column ("E-mail", "Email address", "Work email"…).
EMAIL_HEADERS = frozenset(
    {"email", "emailaddress", "mail", "workemail", "businessemail", "emailid", "recipientemail", "contactemail"}
)


def normalise_header(name: object) -> str:
    """'E-mail Address ' -> 'emailaddress': case-folded, letters and digits only."""
    return "".join(ch for ch in str(name).casefold() if ch.isalnum())


def is_email_header(name: object, *, loosely: bool = True) -> bool:
    """Whether a header names an email column: one of EMAIL_HEADERS, or (`loosely`, the
    second pass for "Primary Email" or "Recipient's e-mail") any header containing "email"."""
    key = normalise_header(name)
    return key in EMAIL_HEADERS or (loosely and "email" in key)
