"""Plain words for what the app shows: who did something (never an internal id such as
"local"), counts with thousands separators, and how long something will take.

Pure, so the pages, the live run view and the tests say it the same way.
"""

from __future__ import annotations

LOCAL_ACTOR = "local"  # the app without sign-in: the person at this browser
CLI_ACTOR = "cli"  # the command line's default GIFTRUN_ACTOR
AUTOMATIC_ACTORS = {
    "&Open update": "&Open's update",  # lib/store/resolution.py: an unknown outcome resolved by itself
    "list": "the list itself",  # lib/store/journal.py: a gift id the row already carried
}


def person(actor: str | None, me: str | None = None) -> str:
    """Who acted, as a person reads it: "you" for the local user (the app without sign-in, where
    everyone at it is "local"), "the command line" for the CLI's default, else the signed-in email
    or name as recorded, `me` included: on a shared deployment the audit trail names people, so
    what one user reads agrees with what a colleague reads."""
    if not actor:
        return "someone"
    if actor == LOCAL_ACTOR:
        return "you"
    if actor == CLI_ACTOR:
        return "the command line"
    return AUTOMATIC_ACTORS.get(actor, actor)


def capital(text: str) -> str:
    """Our own words with their first letter in upper case, for a table cell ("You", "The command
    line"); a person's email or name stays exactly as recorded."""
    ours = {"you", "someone", "the command line", *AUTOMATIC_ACTORS.values()}
    return text[:1].upper() + text[1:] if text in ours else text


def is_automatic(actor: str | None) -> bool:
    """An audit line Giftrun wrote by itself from what &Open or the list said, not a person's decision."""
    return actor in AUTOMATIC_ACTORS


def count(n: int, one: str, many: str | None = None) -> str:
    """`1 gift`, `1,250 gifts`: the number with thousands separators and the word that fits it."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def duration(seconds: float) -> str:
    """About how long: `under a second`, `about 25 seconds`, `about 3 minutes`, `about 1 hour 5 minutes`."""
    s = max(0, round(seconds))
    if s < 1:
        return "under a second"
    if s < 90:
        return f"about {count(s, 'second')}"
    minutes = round(s / 60)
    if minutes < 60:
        return f"about {count(minutes, 'minute')}"
    hours, rest = divmod(minutes, 60)
    return f"about {count(hours, 'hour')}" + (f" {count(rest, 'minute')}" if rest else "")
