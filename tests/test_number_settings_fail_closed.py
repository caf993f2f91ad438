"""A limit or number setting is read exactly as written, never more generously: only plain
decimal digits are a number, and a setting that is there but empty or blank is refused like
any other bad value, in the environment and in the secrets file alike. GIFTRUN_DAILY_LIMIT="" is
what a CI template sets when its secret is missing: it must stop the CLI, not mean "no limit".
Server limits (GIFTRUN_REQUEST_TIMEOUT, GIFTRUN_MAX_CONNECTIONS) keep their promise to never stop
the receiver: a bad value is logged and the default applies, never a number read into it."""

from __future__ import annotations

import logging

import pytest

from lib.settings import Settings, SettingsError
from tests.support import cli_env, cli_in_process

# Python's int() or float() takes all but the blank ones; each is what a person could paste.
NOT_PLAIN_DIGITS = ["", " ", "\t", "1_0", "+5", "-5", " 5", "5 ", "5\n", "5.0", "٥", "0x10", "1e3", "1,000", "²"]


@pytest.mark.parametrize("value", NOT_PLAIN_DIGITS)
def test_a_daily_limit_that_is_not_plain_digits_is_refused(value):
    with pytest.raises(SettingsError, match="GIFTRUN_DAILY_LIMIT is .*plain digits") as info:
        Settings.from_mapping({"GIFTRUN_DAILY_LIMIT": value})
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("value", ["", "  ", 5.0, 1.5, True, "1_0"])
def test_a_daily_limit_in_the_secrets_file_fails_closed_too(tmp_path, value):
    secrets = tmp_path / "secrets.toml"
    toml_value = {True: "true"}.get(value, repr(value).replace("'", '"'))
    secrets.write_text(f"GIFTRUN_DAILY_LIMIT = {toml_value}\n", encoding="utf-8")
    env = cli_env(tmp_path / "data", GIFTRUN_SECRETS_FILE=str(secrets))
    proc = cli_in_process(tmp_path, env, "store", "info")
    assert proc.returncode == 2, proc
    assert proc.stderr.startswith("error: GIFTRUN_DAILY_LIMIT is ") and proc.stderr.count("\n") == 1, proc.stderr
    assert not (tmp_path / "data").exists(), "a refused setting opens no store"


@pytest.mark.parametrize("value", ["", " ", "1_0"])
def test_an_empty_daily_limit_in_the_environment_is_refused_by_the_cli(tmp_path, value):
    env = cli_env(tmp_path / "data", GIFTRUN_DAILY_LIMIT=value)
    proc = cli_in_process(tmp_path, env, "send", "list.csv", "--dry-run")
    assert proc.returncode == 2, proc
    assert "GIFTRUN_DAILY_LIMIT is " in proc.stderr and "plain digits" in proc.stderr
    assert proc.stdout == ""


def test_an_empty_daily_limit_in_the_environment_is_not_filled_in_from_the_secrets_file(tmp_path):
    """The environment wins, as for every setting: set but empty is a mistake to say, not a gap."""
    secrets = tmp_path / "secrets.toml"
    secrets.write_text("GIFTRUN_DAILY_LIMIT = 200\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="GIFTRUN_DAILY_LIMIT is empty"):
        Settings.from_mapping({"GIFTRUN_DAILY_LIMIT": ""}, {"GIFTRUN_DAILY_LIMIT": 200})
    assert Settings.from_mapping({}, {"GIFTRUN_DAILY_LIMIT": 200}).daily_limit == 200


@pytest.mark.parametrize("value", ["", " ", "1_0", "+5", " 5", "٥", "0x10", "1e3", "inf"])
def test_a_demo_speed_that_is_not_plain_digits_is_refused(value):
    with pytest.raises(SettingsError, match="GIFTRUN_DEMO_SPEED .*plain digits"):
        Settings.from_mapping({"GIFTRUN_DEMO_SPEED": value})


@pytest.mark.parametrize("name", ["GIFTRUN_REQUEST_TIMEOUT", "GIFTRUN_MAX_CONNECTIONS"])
@pytest.mark.parametrize("value", ["", " ", "1_0", "+5", " 5", "٥", "0x10"])
def test_a_server_limit_that_is_not_plain_digits_is_logged_and_the_default_applies(name, value, caplog):
    with caplog.at_level(logging.WARNING, logger="giftrun.http"):
        settings = Settings.from_mapping({name: value})
    assert (settings.request_timeout, settings.max_connections) == (None, None)
    assert [r.getMessage() for r in caplog.records if name in r.getMessage()], "the ignored value is said"
