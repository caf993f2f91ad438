"""Headless commands: `send`, `status`, `do-not-gift`, `store`, `webhooks`, `sandbox`.

Exit codes: 0 the run completed (row errors included); 1 the run was stopped (bad key,
unusable campaign, interrupted); 2 the input or configuration is unusable. Never a
traceback: every expected failure prints one clear line.
"""

from __future__ import annotations

from .common import EXIT_INPUT, EXIT_OK, EXIT_STOPPED, CliError
from .parser import build_parser, main
from .send import _explain_rows, cmd_send
from .sources import _source_kind

__all__ = [
    "main",
    "build_parser",
    "cmd_send",
    "CliError",
    "EXIT_OK",
    "EXIT_STOPPED",
    "EXIT_INPUT",
    "_explain_rows",
    "_source_kind",
]
