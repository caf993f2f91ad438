"""Fixtures shared by the test modules: sandboxes on 127.0.0.1, a loopback HTTP session, a
store in tmp_path, the fake Sheets API. A module may override one (e.g. its own sandbox token)."""
from __future__ import annotations

import pytest
import requests

from lib.sandbox import Sandbox
from lib.store import Store
from tests.fake_sheets import FakeSheets


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
def store(tmp_path):
    s = Store(tmp_path / "data")
    yield s
    s.close()


@pytest.fixture
def fake():
    with FakeSheets() as f:
        yield f
