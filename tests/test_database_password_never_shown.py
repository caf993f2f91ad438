"""A database password never shows, whatever characters it holds.

People paste passwords into `postgresql://user:PASSWORD@host/db` as they are. Each password
here holds one of `@ # / : % ?` (typed as it is, or percent-encoded) between two random runs
of letters that occur in no message, so any 4 of those letters in a row anywhere is a leak. A
URL that can be read one way only is read that way and shown as its host and database; one
that cannot (an `@` that a standard parser would take as the end of the password) is refused,
saying to percent-encode, without quoting the value. Checked: the settings, the CLI (stores it
opens, `store copy --to`), log records and tracebacks at DEBUG, and the app before sign-in (an
unreachable database) and after it (Settings names the store)."""

from __future__ import annotations

import logging
import random
import traceback
from urllib.parse import unquote

import pytest

from lib.settings import Settings, SettingsError
from lib.store import Store, StoreError
from tests import backends
from tests.apptest_support import go, new_session, run, texts
from tests.support import cli_env, cli_in_process, closed_port
from tests.test_access import page_text, submit_password

_rng = random.Random()
LEFT = "".join(_rng.choice("JKQVWXZ") for _ in range(10))  # no hex digits: `%` + two of them is no escape
RIGHT = "".join(_rng.choice("JKQVWXZ") for _ in range(10))
FRAGMENTS = [run_[i : i + 4] for run_ in (LEFT, RIGHT) for i in range(len(run_) - 3)]
APP_PASSWORD = "door-" + LEFT[::-1]

# (id, what stands between the two runs, read one way only)
SPECIALS = [
    ("at", "@", True),
    ("hash", "#", True),
    ("slash", "/", True),
    ("colon", ":", True),
    ("percent", "%", True),
    ("question", "?", True),
    ("two-ats", "@x@", True),
    ("at-colon", "@1:", True),
    ("encoded-at", "%40", True),
    ("encoded-hash", "%23", True),
    ("encoded-slash", "%2F", True),
    ("encoded-colon", "%3A", True),
    ("encoded-percent", "%25", True),
    ("encoded-question", "%3F", True),
    ("at-then-slash", "@h/", False),  # `user:L@h/R@host`: host `h`, or host `host`?
    ("at-then-question", "@h?", False),
    ("at-then-hash", "@h#", False),
    ("every-one", "@#/:%?", True),  # nothing after the `@` could be a host: one reading
    ("every-one-after-a-host", "@h:1/#:%?", False),
]
IDS = [s[0] for s in SPECIALS]


def password(special: str) -> str:
    return f"{LEFT}{special}{RIGHT}"


def url(special: str, host: str = "db.example.net:5432", database: str = "giftrun", user: str = "team") -> str:
    return f"postgresql://{user}:{password(special)}@{host}/{database}?sslmode=disable"


def assert_clean(text: str, where: str) -> None:
    hit = next((f for f in FRAGMENTS if f in text), None)
    assert hit is None, f"password fragment {hit!r} in {where}: …{text[max(0, text.find(hit) - 80) :][:200]!r}…"


@pytest.mark.parametrize("special,readable", [s[1:] for s in SPECIALS], ids=IDS)
def test_settings_read_the_password_whole_or_refuse_without_a_fragment(special, readable):
    try:
        settings = Settings.from_mapping({"GIFTRUN_DATABASE_URL": url(special)})
    except SettingsError as exc:
        assert not readable, f"refused a URL that reads one way only: {exc}"
        assert "percent-encode" in str(exc) and "%40" in str(exc)
        assert_clean(str(exc), "the settings error")
        return
    assert readable, "read a URL that a standard parser reads another way"
    assert repr(settings.database_url) == "Secret(db.example.net:5432/giftrun)"
    assert_clean(repr(settings), "repr(Settings)")
    from lib.store.database import normalise_url

    assert normalise_url(settings.database_url.reveal()).password == unquote(password(special)), "the driver gets it"


@pytest.mark.private_store  # a database URL of its own, with the password under test
@pytest.mark.parametrize("special,readable", [s[1:] for s in SPECIALS], ids=IDS)
def test_the_cli_names_the_host_and_database_only(tmp_path, special, readable):
    port = closed_port()
    env = cli_env(tmp_path / "data", GIFTRUN_DATABASE_URL=url(special, f"127.0.0.1:{port}"))
    proc = cli_in_process(tmp_path, env, "store", "info")
    assert_clean(proc.stdout + proc.stderr, "the CLI's output")
    assert proc.stderr.count("\n") == 1 and proc.stdout == "", proc
    if readable:
        assert proc.returncode == 1 and f"database at 127.0.0.1:{port}/giftrun " in proc.stderr, proc.stderr
    else:
        assert proc.returncode == 2 and "percent-encode" in proc.stderr, proc.stderr


@pytest.mark.private_store  # a database URL of its own, with the password under test
@pytest.mark.parametrize("special,readable", [s[1:] for s in SPECIALS], ids=IDS)
def test_store_copy_to_a_url_names_the_host_and_database_only(tmp_path, special, readable):
    Store(tmp_path / "local").close()  # a SQLite store to copy from
    port = closed_port()
    env = cli_env(tmp_path / "data", GIFTRUN_DATABASE_URL=None)
    target = url(special, f"127.0.0.1:{port}")
    proc = cli_in_process(tmp_path, env, "store", "copy", "--from", str(tmp_path / "local"), "--to", target)
    assert_clean(proc.stdout + proc.stderr, "the CLI's output")
    assert proc.returncode == (1 if readable else 2), proc
    assert (f"127.0.0.1:{port}/giftrun" if readable else "percent-encode") in proc.stderr


@pytest.mark.private_store  # a database URL of its own, with the password under test
@pytest.mark.parametrize("special,readable", [s[1:] for s in SPECIALS], ids=IDS)
def test_the_store_error_its_traceback_and_the_debug_log_hold_no_fragment(special, readable, caplog):
    port = closed_port()
    with caplog.at_level(logging.DEBUG), pytest.raises(StoreError) as info:
        Store(url(special, f"127.0.0.1:{port}"), schema="giftrun")
    shown = "".join(traceback.format_exception(info.value))  # with the driver's error it was raised from
    assert_clean(shown, "the traceback")
    assert_clean(caplog.text + "".join(repr(r.args) for r in caplog.records), "the log")
    assert (f"127.0.0.1:{port}/giftrun" if readable else "percent-encode") in str(info.value)


@pytest.mark.slow
@pytest.mark.parametrize("special,readable", [s[1:] for s in SPECIALS], ids=IDS)
def test_the_app_before_sign_in_shows_one_message_without_a_fragment(data_dir, monkeypatch, special, readable):
    port = closed_port()
    monkeypatch.setenv("GIFTRUN_DATABASE_URL", url(special, f"127.0.0.1:{port}"))
    at = new_session(data_dir, GIFTRUN_APP_PASSWORD=APP_PASSWORD)
    at.run()
    assert not at.exception
    assert len(at.error) == 1
    assert (f"127.0.0.1:{port}/giftrun" if readable else "percent-encode") in at.error[0].value
    assert_clean(page_text(at), "the page")


READABLE = [(s[0], s[1]) for s in SPECIALS if s[2]]


@pytest.mark.postgres_only
@pytest.mark.slow
@pytest.mark.parametrize("special", [s[1] for s in READABLE], ids=[s[0] for s in READABLE])
def test_the_app_after_sign_in_names_the_database_without_a_fragment(
    data_dir, server_state, sandbox, monkeypatch, special
):
    """A real PostgreSQL server that trusts 127.0.0.1 ignores the password, so any password connects;
    live mode (a sandbox key), where the password gate is."""
    from lib.store.database import normalise_url

    server = normalise_url(backends.database_url() or "")
    where = f"{server.host}:{server.port}/{server.database}"
    address = url(special, f"{server.host}:{server.port}", server.database or "", server.username or "postgres")
    monkeypatch.setenv("GIFTRUN_DATABASE_URL", address)
    at = new_session(
        data_dir, GIFTRUN_APP_PASSWORD=APP_PASSWORD, ANDOPEN_API_KEY=sandbox.token, ANDOPEN_BASE_URL=sandbox.url
    )
    run(at)
    assert_clean(page_text(at), "the sign-in page")
    submit_password(at, APP_PASSWORD, "ann@team.example")
    go(at, "settings")
    assert f"PostgreSQL · {where} (schema " in texts(at.markdown)
    assert_clean(page_text(at), "the Settings page")
