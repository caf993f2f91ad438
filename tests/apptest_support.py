"""Helpers for the modules that drive `main.py` in process with Streamlit's AppTest (test_access,
test_secrets, test_pages): a browser session, running and clicking, reading what it shows, the
process services and their reset between tests. The fixtures built on these (`data_dir`,
`server_state`) live in conftest.py."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

import lib.runtime as runtime
from tests.support import REPO
from ui.state import LIST  # the session's LoadedList

MAIN = REPO / "main.py"  # the navigation script: an `st.App` file such as app.py renders nothing under AppTest
TIMEOUT = 30
RUN_DEADLINE = 60.0  # seconds a 20-row demo run may take before the test gives up

# Configuration that would take the app out of demo mode, gate it, name its sender or point it elsewhere.
ENV_TO_CLEAR = (
    "ANDOPEN_API_KEY",
    "ANDOPEN_BASE_URL",
    "ANDOPEN_CAMPAIGN_ID",
    "ANDOPEN_WEBHOOK_SECRET",
    "GIFTRUN_HISTORY_SHEET",
    "GOOGLE_SERVICE_ACCOUNT_JSON",
    "GIFTRUN_APP_PASSWORD",
    "GIFTRUN_ALLOWED_DOMAINS",
    "GIFTRUN_ACTOR",
    "GIFTRUN_DAILY_LIMIT",
)


# -- the process ---------------------------------------------------------------------------------
def reset_services() -> None:
    """Drop the process services (demo sandbox, run registry, store), stopping what they run."""
    svc = runtime._services
    runtime._services = None
    if svc is None:
        return
    for run_ in [*svc.registry.active(), *svc.registry.invite_runs()]:  # never leave a run thread writing
        run_.stop("test teardown")  # to a deleted store
        run_.wait(RUN_DEADLINE)
    if svc.demo is not None:
        svc.demo.sandbox.stop()
    if svc.mail_catcher is not None:
        svc.mail_catcher.stop()
    try:
        svc.store.close()
    except Exception:
        pass


def clear_caches() -> None:
    """The campaign list is cached per process; the password gate (and its lock-out) is a
    process-wide resource."""
    st.cache_data.clear()
    st.cache_resource.clear()


def services() -> runtime.Services:
    svc = runtime._services
    assert svc is not None, "the app did not build its services"
    return svc


# -- a session -----------------------------------------------------------------------------------
def new_session(data_dir: Path, **secrets) -> AppTest:
    """A fresh browser session on the same process services; each secret given and not None is set.
    Secrets are given explicitly so a developer's real `.streamlit/secrets.toml` can never turn a
    test into a live send."""
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT)
    at.secrets["GIFTRUN_DATA_DIR"] = str(data_dir)
    for name, value in secrets.items():
        if value is not None:
            at.secrets[name] = value
    return at


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click()
    return run(at)


def go(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"views/{page}.py")
    return run(at)


def button(at: AppTest, label: str):
    found = [b for b in at.button if b.label == label]
    assert found, f"no button labelled {label!r}; buttons: {[b.label for b in at.button]}"
    return found[0]


def list_key(at: AppTest) -> str:
    return at.session_state[LIST].list_key


def wait_for_run(at: AppTest, rerun: Callable[[], object] | None = None) -> None:
    """Rerun the page (`rerun`, else `run(at)`), as its fragment would, until the background run is
    over; then twice more: the fragment sees the finished run and refreshes the whole page once."""
    rerun = rerun or (lambda: run(at))
    key = list_key(at)
    deadline = time.monotonic() + RUN_DEADLINE
    while True:
        sending = services().registry.get(key)
        assert sending is not None, "the send button did not start a run"
        if sending.snapshot().state != "running":
            break
        assert time.monotonic() < deadline, f"run still going after {RUN_DEADLINE}s: {sending.snapshot()}"
        time.sleep(0.2)
        rerun()
    rerun()
    rerun()


# -- what it shows ------------------------------------------------------------------------------
_SHOWN = re.compile(r"(`+)( ?)(.+?)\2\1(?!`)|\\([!-/:-@\[-`{-~])")


def shown(markdown: str) -> str:
    """The text a browser shows for Markdown as the app writes it: escaped marks without
    their backslash, code spans without their backticks (bold and the like stay as written)."""
    return _SHOWN.sub(lambda m: m.group(3) if m.group(1) else m.group(4), markdown)


def texts(elements) -> str:
    """What the elements show, one per line (see `shown`)."""
    return "\n".join(shown(str(e.value)) for e in elements)


def metrics(at: AppTest) -> dict[str, str]:
    return {shown(m.label): m.value for m in at.metric}


def nodes(node):
    """The node and every node under it (main, sidebar, events, bottom: all of `at._tree`)."""
    yield node
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            yield from nodes(child)


def upload_sample(at: AppTest, name: str = "people.csv") -> AppTest:
    """Put the 25-person sample in through the CSV uploader, as a live deployment's user would
    (the one-click sample is offered in demo mode only)."""
    from lib import csvio
    from lib.sample import sample_frame

    at.file_uploader(key="giftrun_upload").set_value((name, csvio.to_csv_bytes(sample_frame()), "text/csv"))
    run(at)
    return click(at, "use_upload")
