"""How a timestamp is shown to people, in one place: the store keeps ISO-8601 text (ours
with `Z`, &Open's possibly with an offset), and every page, table and CLI line shows it the
same way, in UTC and saying so."""

from __future__ import annotations

from datetime import UTC, datetime

from .models import parse_iso


def shown(ts: str | datetime | None, *, seconds: bool = True) -> str:
    """`2026-05-01 12:34:56 UTC` (`… 12:34 UTC` without seconds); "" for no timestamp.
    An offset is converted to UTC (cutting the text would show a local time labelled UTC);
    a time without a zone is taken as UTC; text that is not a timestamp is shown as it is."""
    if ts is None or ts == "":
        return ""
    when = ts if isinstance(ts, datetime) else parse_iso(ts)
    if when is None:
        return str(ts).strip()
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")
