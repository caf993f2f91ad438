"""Where Giftrun is running, as far as the store is concerned: a local file on a host whose
disk is wiped at a restart loses the journal that prevents second gifts."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

# Platforms whose app disk does not survive a restart or redeploy, and how to recognise them.
_EPHEMERAL: tuple[tuple[str, str], ...] = (
    ("DYNO", "Heroku"),
    ("K_SERVICE", "Google Cloud Run"),
    ("RENDER", "Render"),
    ("SPACE_ID", "Hugging Face Spaces"),
)


def ephemeral_host(
    environ: Mapping[str, str] | None = None, cwd: Path | str | None = None, *, declared: bool = False
) -> str | None:
    """The name of the platform when this host's disk may not last, else None.
    Streamlit Community Cloud clones apps under /mount/src; `declared`
    (Settings.ephemeral_disk, GIFTRUN_EPHEMERAL_DISK=1) says so for any other host."""
    env = os.environ if environ is None else environ  # environ: the platforms' own markers, not settings
    where = str(Path.cwd() if cwd is None else cwd)
    if declared:
        return "this host (GIFTRUN_EPHEMERAL_DISK)"
    if where == "/mount/src" or where.startswith("/mount/src/"):
        return "Streamlit Community Cloud"
    return next((name for var, name in _EPHEMERAL if env.get(var)), None)


def store_warning(
    local_file: bool, environ: Mapping[str, str] | None = None, cwd: Path | str | None = None, *, declared: bool = False
) -> str | None:
    """What to tell an operator whose journal lives on a disk that will be wiped."""
    platform = ephemeral_host(environ, cwd, declared=declared)
    if not local_file or platform is None:
        return None
    return (
        f"The store is a local file, and {platform} wipes this disk at every restart, redeploy or sleep: "
        "the send journal that prevents second gifts, the status history and the audit trail would be lost. "
        "Set GIFTRUN_DATABASE_URL (a PostgreSQL database) in the app's secrets; see the README, "
        '"Deploy on Streamlit Community Cloud".'
    )
