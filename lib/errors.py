"""The root of every expected failure, so callers catch one class and every error says the
same two things: `message`, the text for people (never a secret, never a traceback), and
`exit_code`, what the CLI exits with (2: the input or configuration is unusable; 1: the
operation was stopped or refused: a wrong key, an unreachable store, a list in use).

Each outside system keeps its own tree below it (AndOpenError, SheetsError, StoreError,
CsvError…); a subclass or one raise may set another exit code. `str(e)` is `message`,
plus any reference a tree adds for support (AndOpenError's Request-Id)."""

from __future__ import annotations

EXIT_OK, EXIT_STOPPED, EXIT_INPUT = 0, 1, 2


class GiftrunError(Exception):
    """An expected failure with a message for people; see the module docstring."""

    exit_code: int = EXIT_INPUT

    def __init__(self, message: str = "", *, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code
