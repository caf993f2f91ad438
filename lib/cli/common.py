"""What every command shares: its one error type, how it prints, and the &Open client it builds."""

from __future__ import annotations

import sys

from ..andopen import AndOpenClient, AndOpenError
from ..control_chars import visible
from ..errors import EXIT_INPUT, EXIT_OK, EXIT_STOPPED, GiftrunError
from ..runtime import http_session, make_client
from ..settings import PLACEHOLDER_KEY, Settings


class CliError(GiftrunError):
    """A command cannot go on; the second argument is the exit code (default 2, input)."""

    def __init__(self, message: str, exit_code: int = EXIT_INPUT) -> None:
        super().__init__(message, exit_code=exit_code)


def _out(msg: str = "") -> None:
    """Every line the CLI prints: list content in it (names, emails, file names) may hold
    control or direction characters, shown as escapes so they never act on the terminal."""
    print(visible(msg), flush=True)


def _err(msg: str) -> None:
    print(f"error: {visible(msg)}", file=sys.stderr, flush=True)


# -- sources ----------------------------------------------------------------------------


def _client(settings: Settings) -> AndOpenClient:
    if settings.placeholder_key:
        raise CliError(
            f"{PLACEHOLDER_KEY}, not a key: nothing goes to &Open. Put your &Open key in "
            "ANDOPEN_API_KEY (environment or .streamlit/secrets.toml); for a try-out, start "
            "`python -m lib.cli sandbox` and use the URL and token it prints."
        )
    if not settings.api_key:
        raise CliError(
            "ANDOPEN_API_KEY is not set. Set it (and ANDOPEN_CAMPAIGN_ID) in the environment; "
            "for a try-out, start `python -m lib.cli sandbox` and use the URL and token it prints."
        )
    try:
        return make_client(settings, http_session())
    except AndOpenError as exc:
        raise CliError(str(exc)) from None


# -- entry point ----------------------------------------------------------------------------

__all__ = ["EXIT_INPUT", "EXIT_OK", "EXIT_STOPPED", "CliError", "_client", "_err", "_out"]
