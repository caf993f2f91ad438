"""Review & send's spending guardrails: the cap field, the daily room left, and the typed
confirmation of a large run (the rules and words are lib.guardrails')."""

from __future__ import annotations

import streamlit as st

from lib import guardrails
from lib.runtime import Services
from lib.send_words import confirm_label

CAP = "giftrun_max_gifts"


def cap_input(container) -> int | None:
    """The cap for this run (empty: no cap); who set it is recorded with the run."""
    value = container.number_input(
        "At most this many gifts in this run",
        min_value=1,
        max_value=guardrails.MAX_GIFTS_CEILING,
        value=None,
        step=1,
        key=CAP,
        placeholder="no cap",
        help="Approved rows beyond the cap are not sent and say why. A row &Open "
        "rejects creates no gift, so it does not use up the cap.",
    )
    return int(value) if value is not None else None


def before_send(
    svc: Services, to_send: int, max_gifts: int | None, confirm_key: str
) -> tuple[guardrails.RunLimits, int, bool, guardrails.DailyRoom | None]:
    """Show the cap and the team's daily room, and for a large run ask for the number of
    gifts to be typed (in an empty box: the number is said in its label, never put in it).
    Returns the run's limits, the gifts it may send, whether Send may go (not while the daily
    limit has no room left), and the daily room."""
    limits = guardrails.RunLimits(max_gifts, svc.settings.daily_limit)
    room = svc.store.daily_room(limits.daily_limit) if limits.daily_limit else None
    lines = guardrails.preflight(to_send, limits, room)
    if room is not None:
        st.metric(
            "Daily limit left now",
            f"{room.left:,} of {room.limit:,}",
            help="Gifts the whole team may still send in the rolling 24 hours (GIFTRUN_DAILY_LIMIT)",
        )
    (st.info if room is not None or max_gifts is not None else st.caption)("  \n".join(lines))
    planned = guardrails.planned_gifts(to_send, max_gifts)
    if room is not None and room.left == 0:
        return limits, planned, False, room  # the line above says when room frees up
    if not guardrails.needs_confirmation(planned):
        return limits, planned, True, room
    typed = st.text_input(
        confirm_label(planned),
        key=confirm_key,
        placeholder="",
        help=f"Large runs are confirmed by typing the number of gifts: type {planned}.",
    )
    ok = guardrails.confirmed(typed, planned)
    if typed and not ok:
        st.warning(f"That is not {planned}: type the number of gifts exactly to confirm.")
    return limits, planned, ok, room
