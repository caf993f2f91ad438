"""What Review & send says around the Send button, in words: the run before it starts (how
many gifts, which campaign, the look-back, the daily room, how long), why Send cannot be
pressed, and what a run did once it is over.

Pure, so each sentence is tested as a table; the page only places them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .guardrails import DailyRoom
from .invitations import InviteProgress
from .lookback_window import Window
from .plain_words import count, duration
from .run_progress import RunProgress


@dataclass(frozen=True)
class SendPlan:
    """What pressing Send would do, as the page knows it before the run."""

    gifts: int  # after the cap
    campaign: str  # its name
    window: Window | None  # None: look-back off
    room: DailyRoom | None = None  # None: no daily limit
    rate: float = 10.0  # requests a second the run paces itself to
    to_send: int | None = None  # rows to send, when a cap leaves some of them out


def before_send(p: SendPlan) -> str:
    """`Send 285 gifts from the campaign "Spring thank-you" …`: one paragraph, future tense."""
    if p.gifts == 0:
        return ""
    lines = [f"Send will create {count(p.gifts, 'gift')} in the campaign **{p.campaign}**"]
    if p.to_send is not None and p.to_send > p.gifts:
        lines[0] += f" (the cap leaves {p.to_send - p.gifts:,} of the {p.to_send:,} rows to send for later)"
    lines[0] += "."
    if p.window is None:
        lines.append("The look-back is off: people gifted before are not skipped.")
    elif p.window.days is None:
        lines.append("Anyone ever gifted before is skipped (look-back: forever).")
    else:
        lines.append(f"Anyone gifted in the last {p.window.label} is skipped.")
    pace = max(p.rate, 0.1)
    if p.room is not None:
        left = p.room.left
        lines.append(f"The team's daily limit has {left:,} of {p.room.limit:,} gifts left now.")
        if left < p.gifts:
            lines.append(f"The run will stop at the daily limit after {count(left, 'gift')}.")
    lines.append(f"At about {pace:g} gifts a second it will take {duration(p.gifts / pace)}.")
    return " ".join(lines)


@dataclass(frozen=True)
class SendGate:
    """What stands between the user and Send, in the order the user meets it."""

    gifts: int  # what Send would send
    approved: int  # rows ticked Approved
    elsewhere: bool = False  # a run on this list goes in another session or process
    room_left: int | None = None  # the daily room, when there is a limit
    frees_at: str = ""  # when the daily room frees up, as shown
    confirm_needed: bool = False
    confirmed: bool = False


def send_blocked(g: SendGate) -> str:
    """Why Send is greyed out, in one sentence; "" when it can be pressed."""
    if g.elsewhere:
        return "A run on this list is going elsewhere: wait for it to finish, or stop it above."
    if g.gifts == 0:
        if g.approved == 0:
            return "Nothing to send yet: tick Approved on the rows to gift, or press Approve all."
        return (
            "Nothing to send: every approved row is already sent, skipped or has a problem "
            "(pick Problems or Skipped above the table to see why)."
        )
    if g.room_left == 0:
        return f"The team's daily limit has no room left: more from {g.frees_at or 'later'}."
    if g.confirm_needed and not g.confirmed:
        return f"Type {g.gifts} in the box above to confirm this run of {count(g.gifts, 'gift')}."
    return ""


def confirm_label(gifts: int) -> str:
    """The confirmation box's label: the number to type is said here, never put in the box."""
    return f"This run sends up to {count(gifts, 'gift')}. Type {gifts} to confirm, then press Enter"


def run_status(p: RunProgress, invites: InviteProgress | None = None) -> str:
    """The progress line while a run goes: what is done of what, and how long is left; once the
    gifts are sent and their invitations go (`invites`), the gifts sent and the emails so far."""
    if invites is not None:
        return (
            f"Emailing invitations: {invites.done:,} of {invites.total:,} done · {p.sent + p.unrecorded:,} sent · "
            f"{invites.sent:,} invitations emailed · {invites.refused + invites.failed:,} not emailed · "
            f"{invites.unknown:,} unknown"
        )
    total = max(p.total, 1)
    reached = p.done + p.already + p.skipped + p.limited
    eta = f" · {duration(p.eta)} left" if p.eta else ""
    rate = f" · {p.rate:.1f} a second" if p.rate else ""
    return (
        f"Sending: {reached:,} of {p.total:,} done ({reached / total:.0%}) · {p.sent + p.unrecorded:,} sent · "
        f"{p.rejected + p.failed:,} not sent · {p.unknown:,} unknown{rate}{eta}"
    )


def run_finished(p: RunProgress) -> str:
    """What a run did, once it is over: only what happened, each count with separators."""
    verb = "Run finished" if p.state == "completed" else "Run stopped"
    parts = [p.sent_text("{n:,} sent")]
    for n, what in (
        (p.rejected, "rejected by &Open (see their Send error)"),
        (p.failed, "not sent (safe to send again)"),
        (p.unknown, "with an unknown outcome (check them in &Open)"),
        (p.already, "already sent earlier"),
        (p.skipped, "skipped (just gifted from another list)"),
        (p.limited, "not sent (a limit was reached; see their Send error)"),
    ):
        if n:
            parts.append(f"{n:,} {what}")
    text = f"{verb}: " + ", ".join(parts)
    if p.resolved:  # only when there were unknowns to resolve
        text += f". {count(p.resolved, 'unknown outcome')} resolved by &Open's own updates"
    return text + f" · took {duration(p.elapsed)}."
