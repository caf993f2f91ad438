"""Fixtures shared by the test modules: sandboxes on 127.0.0.1, a loopback HTTP session, a
store in tmp_path, the fake Sheets API, and for the AppTest modules the app's data directory and
server state. A module may override one (e.g. its own sandbox token)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from lib.sandbox import Sandbox
from tests import backends
from tests.fake_sheets import FakeSheets
from tests.invite_support import invite_cli, mail  # noqa: F401 (fixtures for the invitation tests)


# -- the store backend: a test that touches the store runs on SQLite and on PostgreSQL -----------------
# A test touches the store when it asks for `store_backend`, directly or through `store`, `data_dir`
# or `pytestmark = pytest.mark.usefixtures("store_backend")`; it then runs once per backend. Any other
# test runs once, and `_store_guard` fails it if it opens a store all the same (in this process, or
# a SQLite file left in its tmp_path by a process it started), so no store test can quietly run on one
# backend only. Two reviewed exceptions: `single_backend`, a test that needs a store to exist but
# proves nothing about it (the page's rendering, a CSV parser), runs on SQLite only; `private_store`, a
# test that makes the store it proves something about itself (a private PostgreSQL cluster it stops and
# starts, a SQLite file it locks, a database URL of its own), runs once on that.
def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "single_backend: what this proves does not depend on the store: SQLite only")
    config.addinivalue_line("markers", "private_store: the test makes (and names) the store it proves things about")
    config.addinivalue_line("markers", "postgres_only: what this proves exists only on a database (hosts sharing it)")
    config.addinivalue_line("markers", "sqlite_only: what this proves exists only on the SQLite file (its WAL)")
    _count_store_opens()


def pytest_xdist_auto_num_workers(config) -> int:
    """`-n auto`: two workers per core. Most of the suite waits (on servers, timeouts, subprocesses and
    Chromium), so one worker per core leaves the cores half idle (load 1.4 of 2 measured)."""
    return 2 * (os.cpu_count() or 1)


def pytest_generate_tests(metafunc) -> None:
    if "store_backend" not in metafunc.fixturenames:
        return
    marked = {m.name for m in metafunc.definition.iter_markers()}
    chosen = [b.strip() for b in os.environ.get("GIFTRUN_TEST_BACKENDS", "sqlite,postgres").split(",") if b.strip()]
    if "postgres_only" in marked:
        chosen = ["postgres"]  # (skipped, or failed with CI=true, where no server is given)
    elif marked & {"single_backend", "sqlite_only"}:
        chosen = ["sqlite"]
    metafunc.parametrize("store_backend", chosen, indirect=True)


_STORES_OPENED = [0]


def _count_store_opens() -> None:
    from lib.store import database

    if getattr(database.Database.__init__, "_counted", False):
        return
    original = database.Database.__init__

    def init(self, *args, **kwargs):
        _STORES_OPENED[0] += 1
        original(self, *args, **kwargs)

    init._counted = True  # type: ignore[attr-defined]
    database.Database.__init__ = init  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _store_guard(request, monkeypatch):
    """No GIFTRUN_DATABASE_* of the caller's; and a test that did not ask for a backend opens no store."""
    monkeypatch.delenv("GIFTRUN_DATABASE_URL", raising=False)
    monkeypatch.delenv("GIFTRUN_DATABASE_SCHEMA", raising=False)
    if "store_backend" in request.fixturenames or request.node.get_closest_marker("private_store"):
        yield
        return
    monkeypatch.setenv(backends.BACKEND_VAR, "sqlite")
    tmp = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    opened = _STORES_OPENED[0]
    yield
    files = list(tmp.rglob(backends.SQLITE_FILE)) if tmp is not None else []
    if _STORES_OPENED[0] != opened or files:
        pytest.fail(
            "this test opened a store but runs on one backend only: ask for `store_backend` (or the "
            "`store` / `data_dir` fixture) so it runs on SQLite and PostgreSQL, or mark it `single_backend` "
            f"if what it proves cannot depend on the store ({[str(f) for f in files] or 'in this process'})",
            pytrace=False,
        )


@pytest.fixture
def store_backend(request, monkeypatch):
    """SQLite, or a real PostgreSQL server when GIFTRUN_TEST_DATABASE_URL names one (with
    CI=true it must: a skipped backend would hide a broken guarantee)."""
    name = getattr(request, "param", "sqlite")
    if name != "postgres":
        monkeypatch.setenv(backends.BACKEND_VAR, "sqlite")
        yield name
        return
    if not backends.database_url():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but GIFTRUN_TEST_DATABASE_URL is not set: the PostgreSQL tests must run in CI")
        pytest.skip("no PostgreSQL server (set GIFTRUN_TEST_DATABASE_URL to run these)")
    monkeypatch.setenv(backends.BACKEND_VAR, "postgres")
    url = backends.database_url()  # a test may clear GIFTRUN_* from its environment
    try:
        yield name
    finally:
        backends.drop_test_schemas(url)


@pytest.fixture
def make_sandbox():
    """Start sandboxes with any Sandbox arguments; every one is stopped after the test."""
    started: list[Sandbox] = []

    def make(*args, **kwargs) -> Sandbox:
        sb = Sandbox(*args, **kwargs).start()
        started.append(sb)
        return sb

    yield make
    for sb in started:
        sb.stop()


@pytest.fixture
def sandbox(make_sandbox) -> Sandbox:
    return make_sandbox()


@pytest.fixture
def http():
    with requests.Session() as session:
        session.trust_env = False  # loopback only, never a proxy
        yield session


@pytest.fixture
def store(tmp_path, store_backend):
    s = backends.store(tmp_path / "data")
    yield s
    s.close()


@pytest.fixture
def fake():
    with FakeSheets() as f:
        yield f


# -- the app in process (AppTest); helpers in tests/apptest_support.py -----------------------------
@pytest.fixture
def data_dir(tmp_path, monkeypatch, store_backend) -> Path:
    """The store directory of an AppTest session, with none of the caller's &Open, Giftrun or
    Google settings in the environment, and fresh process services and Streamlit caches before
    and after the test, so nothing leaks from one test to the next."""
    from tests.apptest_support import ENV_TO_CLEAR, clear_caches, reset_services

    for name in ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    store_dir = tmp_path / "store"
    for name, value in backends.env(store_dir).items():
        monkeypatch.setenv(name, value)
    reset_services()
    clear_caches()
    yield store_dir
    reset_services()
    clear_caches()


@pytest.fixture
def server_state(monkeypatch):
    """Run `main.py` (gate, sidebar, banner) on every AppTest run, as a server process does once any
    session has called `st.navigation`. AppTest re-creates Streamlit's class-wide "views/ directory"
    flag before every run, so without this each run after the first executes the page file it
    switched to directly and the gate in `main.py` is never asked again (see test_access's
    deep-link tests)."""
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "uses_pages_directory", PagesManager.uses_pages_directory)
    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture(autouse=True)
def _no_developer_secrets(monkeypatch):
    """In-process CLI calls must never pick up a developer's real .streamlit/secrets.toml."""
    monkeypatch.setenv("GIFTRUN_SECRETS_FILE", "")


@pytest.fixture(scope="session")
def app_servers():
    """Browser-test app servers, one per (purpose, store backend), started on first use and kept
    for the session (their stores are kept from the per-test clean-up until the end)."""
    servers: dict = {}
    yield servers
    for server in servers.values():
        server.stop()
    if backends.database_url():
        backends.drop_test_schemas(backends.database_url(), kept_too=True)


@pytest.fixture(scope="session")
def browser():
    """One Chromium for all browser test modules (two sync Playwrights cannot run at once)."""
    from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, browser_unavailable

    if not Path(CHROMIUM).exists():
        browser_unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        browser_unavailable("playwright is not installed (pip install -r requirements-dev.txt)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
