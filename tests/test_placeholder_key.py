"""The example secrets file's key (`ao-v1-production-REPLACE_ME`) is a placeholder, not a key:
copied as it is, the app runs its demo and says why in a visible warning, and the CLI says the
same in one line instead of sending with a made-up key."""

from __future__ import annotations

import shutil

import pytest

from lib.settings import PLACEHOLDER_KEY, Settings
from tests.apptest_support import new_session, run, services, texts
from tests.support import REPO, run_cli

EXAMPLE = REPO / ".streamlit" / "secrets.example.toml"


@pytest.mark.parametrize(
    ("key", "placeholder"),
    [
        ("ao-v1-production-REPLACE_ME", True),
        ("ao-v1-staging-replace-me", True),
        ("ao-v1-production-…", True),  # as the docs write it
        ("ao-v1-production-...", True),
        ("YOUR_API_KEY", True),
        ("ao-v1-production-9fK2mQx7Lp3RtV8wZ1cN5bY", False),
    ],
)
def test_a_placeholder_key_is_no_key(key, placeholder):
    settings = Settings.from_mapping({"ANDOPEN_API_KEY": key})
    assert settings.placeholder_key is placeholder
    assert settings.demo_mode is placeholder
    assert (settings.api_key is None) is placeholder


def test_the_example_file_as_it_ships_means_the_demo(monkeypatch):
    for name in ("ANDOPEN_API_KEY", "ANDOPEN_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_env(EXAMPLE)
    assert settings.placeholder_key and settings.demo_mode
    assert settings.webhook_secret is None  # REPLACE_ME verifies nothing: a known secret is no secret


def test_the_app_runs_the_demo_with_a_visible_warning(data_dir):
    at = run(new_session(data_dir, ANDOPEN_API_KEY="ao-v1-production-REPLACE_ME"))
    assert services().demo_mode
    assert f"{PLACEHOLDER_KEY}: running the demo" in texts(at.warning)
    assert "Demo mode" in texts(at.info)


def test_a_real_looking_key_gets_no_placeholder_warning(data_dir, make_sandbox):
    sb = make_sandbox()
    at = run(new_session(data_dir, ANDOPEN_API_KEY=sb.token, ANDOPEN_BASE_URL=sb.url))
    assert not services().demo_mode
    assert PLACEHOLDER_KEY not in texts(at.warning)


def test_the_cli_says_so_in_one_line(tmp_path):
    (tmp_path / ".streamlit").mkdir()
    shutil.copy(EXAMPLE, tmp_path / ".streamlit" / "secrets.toml")  # copied, never filled in
    proc = run_cli(tmp_path, {"PATH": "/usr/bin:/bin"}, "campaigns", timeout=30)
    assert proc.returncode == 2, proc
    assert proc.stderr.startswith(f"error: {PLACEHOLDER_KEY}, not a key: nothing goes to &Open."), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
