"""Which store a configuration uses: GIFTRUN_DATABASE_URL or Streamlit's `[connections.giftrun]`
in secrets puts the whole store in PostgreSQL (`postgresql://`, `postgres://` and
`postgresql+psycopg://` alike); with neither, the embedded SQLite file stays the default;
demo and sandbox gifts get a store of their own; the app says which store it uses (never
credentials), warns when it is a local file on a host whose disk is wiped, and shows one
clear message when the database cannot be reached."""

from __future__ import annotations

from pathlib import Path

import pytest

from lib.deployment import ephemeral_host, store_warning
from lib.settings import Settings, SettingsError
from lib.store.database import normalise_url
from tests.apptest_support import new_session, run, services
from tests.support import closed_port

URL = "postgresql://team:pa55word@db.example.net:5432/giftrun?sslmode=require"
KEY = "ao-v1-production-abcdefghijklmnop1234"


@pytest.mark.parametrize(
    "sources,expected",
    [
        ({"GIFTRUN_DATABASE_URL": URL}, URL),
        ({"connections": {"giftrun": {"url": URL}}}, URL),
        (
            {
                "connections": {
                    "giftrun": {
                        "dialect": "postgresql",
                        "host": "db.example.net",
                        "port": 5432,
                        "database": "giftrun",
                        "username": "team",
                        "password": "pa55word",
                        "query": {"sslmode": "require"},
                    }
                }
            },
            "postgresql+psycopg://team:pa55word@db.example.net:5432/giftrun?sslmode=require",
        ),
        ({}, None),
    ],
)
def test_the_database_url_comes_from_the_environment_or_streamlits_connections_section(sources, expected):
    s = Settings.from_mapping(sources)
    assert (s.database_url.reveal() if s.database_url else None) == expected
    assert "pa55word" not in repr(s)


@pytest.mark.parametrize(
    "url", ["postgresql://u:p@h/db", "postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db", "POSTGRESQL://u:p@h/db"]
)
def test_every_spelling_of_a_postgres_url_means_psycopg_3(url):
    assert normalise_url(url).drivername == "postgresql+psycopg"


@pytest.mark.parametrize("url", ["mysql://u:hunter2@h/db", "sqlite:///tmp/x.db", "db.example.net", "hunter2"])
def test_a_url_that_is_not_postgres_is_refused_without_showing_it(url):
    with pytest.raises(SettingsError, match="PostgreSQL URL") as info:
        Settings.from_mapping({"GIFTRUN_DATABASE_URL": url})
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    "config,demo,expected",
    [
        ({}, False, (Path(".giftrun"), None)),
        ({}, True, (Path(".giftrun/demo"), None)),
        ({"ANDOPEN_BASE_URL": "http://127.0.0.1:8600"}, False, (Path(".giftrun/sandbox"), None)),
        ({"GIFTRUN_DATABASE_URL": URL}, False, (URL, "giftrun")),
        ({"GIFTRUN_DATABASE_URL": URL}, True, (URL, "giftrun_demo")),
        ({"GIFTRUN_DATABASE_URL": URL, "ANDOPEN_BASE_URL": "http://127.0.0.1:8600"}, False, (URL, "giftrun_sandbox")),
        (
            {
                "GIFTRUN_DATABASE_URL": URL,
                "GIFTRUN_DATABASE_SCHEMA": "team_a",
                "ANDOPEN_BASE_URL": "http://127.0.0.1:8600",
            },
            False,
            (URL, "team_a"),
        ),  # named exactly: used exactly, as GIFTRUN_DATA_DIR is
        ({"GIFTRUN_DATABASE_URL": URL, "ANDOPEN_BASE_URL": "https://api.eu.andopen.co"}, False, (URL, "giftrun")),
    ],
)
def test_fake_gifts_never_share_a_store_with_real_ones(config, demo, expected):
    assert Settings.from_mapping({"ANDOPEN_API_KEY": KEY, **config}).store_location(demo=demo) == expected


@pytest.mark.parametrize(
    "environ,cwd,expected",
    [
        ({}, "/mount/src/giftrun", "Streamlit Community Cloud"),
        ({"DYNO": "web.1"}, "/app", "Heroku"),
        ({"K_SERVICE": "giftrun"}, "/app", "Google Cloud Run"),
        ({"GIFTRUN_EPHEMERAL_DISK": "1"}, "/srv", "this host (GIFTRUN_EPHEMERAL_DISK)"),
        ({"GIFTRUN_EPHEMERAL_DISK": "yes"}, "/srv", "this host (GIFTRUN_EPHEMERAL_DISK)"),
        ({"GIFTRUN_EPHEMERAL_DISK": "0"}, "/srv", None),
        ({}, "/srv/giftrun", None),
        ({}, "/mount/srcfoo", None),
    ],
)
def test_hosts_whose_disk_is_wiped_are_recognised(environ, cwd, expected):
    declared = Settings.from_mapping(environ).ephemeral_disk  # GIFTRUN_EPHEMERAL_DISK is a setting
    assert ephemeral_host(environ, cwd, declared=declared) == expected
    warning = store_warning(True, environ, cwd, declared=declared)
    assert (warning is not None) == (expected is not None)
    assert store_warning(False, environ, cwd, declared=declared) is None  # a database lasts wherever the app runs


def test_settings_names_the_store_and_warns_about_a_disk_that_will_be_wiped(data_dir, monkeypatch):
    monkeypatch.setenv("GIFTRUN_EPHEMERAL_DISK", "1")
    at = run(new_session(data_dir))
    at.switch_page("views/settings.py")
    run(at)
    info = services().store.info
    shown = " ".join(m.value for m in at.markdown)
    assert info.backend in shown and info.where in shown
    warnings = " ".join(w.value for w in at.warning)
    if info.local_file:
        assert "wipes this disk" in warnings and "GIFTRUN_DATABASE_URL" in warnings
    else:
        assert "wipes this disk" not in warnings


def test_an_unreachable_database_is_one_clear_message_in_the_app(data_dir, monkeypatch):
    port = closed_port()
    monkeypatch.setenv("GIFTRUN_DATABASE_URL", f"postgresql://team:pa55word@127.0.0.1:{port}/giftrun")
    at = new_session(data_dir)
    at.run()
    assert not at.exception
    assert len(at.error) == 1 and f"127.0.0.1:{port}/giftrun" in at.error[0].value
    everything = " ".join(str(e.value) for e in [*at.error, *at.markdown, *at.warning])
    assert "pa55word" not in everything
