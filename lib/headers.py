"""Headers are matched loosely, the same way for the columns Giftrun reads and the ones it
writes: `Gift Request ID`, `gift_request_id`, `GiftRequestID` and ` Gift request id ` are
one column."""
from __future__ import annotations


def normalise_header(name: object) -> str:
    """'E-mail Address ' -> 'emailaddress': case-folded, letters and digits only."""
    return "".join(ch for ch in str(name).casefold() if ch.isalnum())
