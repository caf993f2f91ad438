"""Knowledge defined once (issue 15): each rule has one definition, and where two copies
used to disagree, the behaviour that differed is pinned here.

The timestamp shown to people, the &Open-host rule, the webhook signature, the words that
approve a row, the names of an email column, the error root the CLI ends on, and the
settings that used to be read from the environment outside Settings."""

from __future__ import annotations

import hashlib
import hmac
import importlib
import inspect
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from lib import cli, donotgift, eligibility, recipients, sandbox, webhooks
from lib.andopen import AndOpenClient, ConfigError
from lib.andopen_hosts import host_stage, is_sandbox
from lib.errors import EXIT_INPUT, EXIT_STOPPED, GiftrunError
from lib.headers import EMAIL_HEADERS
from lib.settings import Settings, SettingsError
from lib.timefmt import shown

ROOT = Path(__file__).resolve().parent.parent
KEY = "ao-v1-production-abcdefghijklmnop1234"


# -- the timestamp shown to people ---------------------------------------------------------------
@pytest.mark.parametrize(
    "stored, expected",
    [
        (None, ""),
        ("", ""),
        ("2026-05-01T12:34:56.789Z", "2026-05-01 12:34:56 UTC"),  # ours: milliseconds and Z
        ("2026-05-01T12:34:56Z", "2026-05-01 12:34:56 UTC"),
        ("2026-05-01T12:34:56", "2026-05-01 12:34:56 UTC"),  # no zone: UTC
        ("2026-05-01T12:34:56.123456789+00:00", "2026-05-01 12:34:56 UTC"),
        ("2026-05-01T14:34:56+02:00", "2026-05-01 12:34:56 UTC"),  # an offset: converted, not cut off
        ("2026-05-01T00:30:00-05:00", "2026-05-01 05:30:00 UTC"),
        ("2026-05-01T01:00:00+02:00", "2026-04-30 23:00:00 UTC"),  # across midnight
        ("not a time", "not a time"),
    ],
)
def test_a_timestamp_is_shown_in_utc_and_says_so(stored, expected):
    assert shown(stored) == expected


def test_a_timestamp_without_seconds_and_a_datetime():
    assert shown("2026-05-01T14:34:56+02:00", seconds=False) == "2026-05-01 12:34 UTC"
    assert shown(datetime(2026, 5, 1, 14, 34, tzinfo=timezone(timedelta(hours=2)))) == "2026-05-01 12:34:00 UTC"


def test_no_copy_of_the_old_timestamp_slicing_is_left():
    offenders = [
        f"{p.relative_to(ROOT)}:{n}"
        for folder in ("lib", "ui", "views")
        for p in (ROOT / folder).rglob("*.py")
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if 'replace("T", " ")' in line or "replace('T', ' ')" in line
    ]
    assert offenders == []


# -- which host is &Open's -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "url, stage",
    [
        ("https://api.andopen.co", "production"),
        ("https://api.eu.andopen.co/", "production"),
        ("HTTPS://API.ANDOPEN.CO", "production"),
        ("https://api.andopen.co:443/v1", "production"),
        ("https://api.staging.andopen.co", "staging"),
        ("https://api.andopen.co.", "production"),  # the DNS root's dot: still &Open's host
        ("https://api.staging.andopen.co./", "staging"),
        (" https://api.andopen.co ", "production"),
        ("http://127.0.0.1:8600", None),
        ("https://andopen.co.evil.example", None),
        ("https://notandopen.co", None),
        ("https://[::1", None),  # malformed: not &Open's
    ],
)
def test_one_rule_says_which_host_is_andopens(url, stage):
    assert host_stage(url) == stage
    assert is_sandbox(url) == (stage is None)
    # the settings' store choice follows the same rule: a sandbox gets a store of its own
    where, _ = Settings.from_mapping(
        {"ANDOPEN_API_KEY": KEY, "ANDOPEN_BASE_URL": url, "GIFTRUN_DATA_DIR": ""}
    ).store_location()
    assert (Path(where).name == "sandbox") == (stage is None)


def test_a_trailing_dot_does_not_let_a_staging_key_reach_production():
    with pytest.raises(ConfigError, match="staging key"):
        AndOpenClient(None, "ao-v1-staging-abcdefghijklmnop1234", "https://api.andopen.co.")  # type: ignore[arg-type]


def test_no_base_url_is_not_a_sandbox():
    assert not is_sandbox(None) and not is_sandbox("") and not is_sandbox("  ")


# -- the webhook signature -----------------------------------------------------------------------
def test_the_sandbox_signs_with_the_receivers_own_function():
    assert sandbox.sign is webhooks.sign
    body = '{"id":"gr_1","status":"redeemed","recipient":{"email":"zoë@example.com"}}'.encode()
    expected = hmac.new(b"whsec_x", b"1767225600." + body, hashlib.sha256).hexdigest()
    assert sandbox.sign("whsec_x", 1767225600, body) == expected == webhooks.sign("whsec_x", "1767225600", body)


# -- the words that approve a row ------------------------------------------------------------------
def test_every_yes_word_approves_and_every_no_word_is_a_clear_no():
    for word in recipients.YES_WORDS:
        for cell in (word, word.upper(), f" {word} "):
            assert recipients.is_approved(cell) and not recipients.is_unclear_approval(cell), cell
    for word in (*recipients.NO_WORDS, "", "  "):
        assert not recipients.is_approved(word) and not recipients.is_unclear_approval(word), word
    assert recipients.is_unclear_approval("oui") and recipients.is_unclear_approval("approved")
    assert not set(recipients.YES_WORDS) & set(recipients.NO_WORDS)


def test_every_help_text_lists_every_yes_word(capsys):
    assert recipients.YES_TEXT == "true, yes, y, 1, x, ✓, ✔, checked or on"
    docs = [ROOT / "docs" / "cli.md", ROOT / "docs" / "troubleshooting.md"]  # moved there from the README
    for doc in docs:
        assert recipients.YES_TEXT in doc.read_text(encoding="utf-8"), doc.name
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["send", "--help"])
    assert recipients.YES_TEXT in " ".join(capsys.readouterr().out.split())
    from lib.sources import LoadedList, SourceError

    frame = pd.DataFrame({"First Name": ["A"], "Last Name": ["B"], "Email": ["a@example.com"]})
    loaded = LoadedList("k", "list.csv", frame, recipients.match_columns(list(frame.columns)), tuple(frame.columns))
    with pytest.raises(SourceError) as exc:
        loaded.require_columns(approval=True)
    assert recipients.YES_TEXT in exc.value.message


def test_the_cli_warns_about_unclear_approvals_only(tmp_path, capsys):
    rows = [
        "Ana,Bauer,ana@example.com,✔",
        "Bo,Chen,bo@example.com,checked",
        "Cy,Dunn,cy@example.com,On",
        "Di,Eck,di@example.com,unchecked",
        "Ed,Fox,ed@example.com,oui",
    ]
    path = tmp_path / "list.csv"
    path.write_text("First Name,Last Name,Email,Approved\n" + "\n".join(rows) + "\n", encoding="utf-8")
    from lib.sources import load_csv_path

    loaded = load_csv_path(str(path), {})

    class Plan:
        rows, items = [], []

    cli._explain_rows(loaded, Plan(), full=False)
    warnings = [line for line in capsys.readouterr().out.splitlines() if "not a recognised yes" in line]
    assert warnings == [f"  row 6: Approved is 'oui', which is not a recognised yes ({recipients.YES_TEXT}): not sent."]


# -- the names of an email column ----------------------------------------------------------------
SPELLINGS = sorted(
    {
        *EMAIL_HEADERS,
        "E-mail",
        "Email Address",
        "WORK EMAIL",
        "email_address",
        "Primary Email",
        "Recipient's E-mail",
        "Business e-mail",
        "Mail",
        "Email ID",
    }
)


@pytest.mark.parametrize("header", SPELLINGS)
def test_every_reader_finds_the_email_column_the_list_finds(header):
    assert recipients.match_columns(["First Name", "Last Name", header]).email == header
    frame = pd.DataFrame({"First Name": ["Ana"], header: ["ANA@example.com"], "Gift Request ID": ["gr_1"]})
    assert eligibility._find_email_column(frame) == header
    parsed = donotgift.parse_csv(f"{header},Reason\nana@example.com,customer\n".encode())
    assert parsed.problems == [] and [(e.value, e.reason) for e in parsed.entries] == [("ana@example.com", "customer")]


# -- one error root ------------------------------------------------------------------------------
def _lib_modules() -> list[str]:
    return sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for p in (ROOT / "lib").rglob("*.py")
        if p.name != "__init__.py"
    )


@pytest.mark.parametrize("name", _lib_modules())
def test_every_error_of_lib_has_the_one_root(name):
    module = importlib.import_module(name)
    errors = [
        c for _, c in inspect.getmembers(module, inspect.isclass) if issubclass(c, Exception) and c.__module__ == name
    ]
    assert [c.__name__ for c in errors if not issubclass(c, GiftrunError)] == []


@pytest.mark.parametrize(
    "error, code, text",
    [
        (lambda: SettingsError("GIFTRUN_X is wrong."), EXIT_INPUT, "GIFTRUN_X is wrong."),
        (lambda: __import__("lib.csvio").csvio.CsvError("Line 3 has a quote."), EXIT_INPUT, "Line 3 has a quote."),
        (lambda: recipients.ColumnMappingError("Email is mapped to 'X'.", columns=["A"]), EXIT_INPUT, "mapped to 'X'"),
        (lambda: __import__("lib.sources").sources.SourceError("no column"), EXIT_INPUT, "no column"),
        (lambda: __import__("lib.store").store.StoreError("database unreachable"), EXIT_STOPPED, "unreachable"),
        (
            lambda: __import__("lib.store").store.RunInProgress("A run on this list is in progress"),
            EXIT_STOPPED,
            "in progress",
        ),
        (
            lambda: __import__("lib.andopen").andopen.AuthenticationError("Wrong key", request_id="req_9"),
            EXIT_STOPPED,
            "Wrong key (Request-Id req_9)",
        ),
        # these ended as "unexpected …", exit 1, before they had the root
        (lambda: donotgift.DoNotGiftError("The value is empty."), EXIT_INPUT, "The value is empty."),
        (lambda: __import__("lib.csvtext").csvtext.TextError("not text"), EXIT_INPUT, "not text"),
        (lambda: cli.CliError("Stopped before sending", EXIT_STOPPED), EXIT_STOPPED, "Stopped before sending"),
    ],
)
def test_cli_main_ends_every_expected_error_with_its_message_and_code(error, code, text, monkeypatch, capsys):
    exc = error()
    assert isinstance(exc, GiftrunError) and exc.exit_code == code and exc.message in str(exc)

    def fail(*_a, **_k):
        raise exc

    monkeypatch.setattr(Settings, "from_env", classmethod(fail))
    assert cli.main(["do-not-gift", "list"]) == code
    out, err = capsys.readouterr()
    assert err == f"error: {text}\n" if text == str(exc) else text in err
    assert err.count("\n") == 1 and "unexpected" not in err and out == ""


def test_andopen_errors_keep_the_old_message_name_while_others_move():
    exc = __import__("lib.andopen").andopen.RejectedError("bad email")
    assert exc.message == exc.user_message == "bad email"


# -- every setting through Settings --------------------------------------------------------------
def test_the_settings_that_bypassed_settings_are_fields_now():
    s = Settings.from_mapping(
        {
            "GIFTRUN_ACTOR": " ana@example.com ",
            "GIFTRUN_DEMO_SPEED": "20",
            "SHEETS_EMULATOR_HOST": "127.0.0.1:9",
            "GIFTRUN_REQUEST_TIMEOUT": "5",
            "GIFTRUN_MAX_CONNECTIONS": "100",
            "GIFTRUN_EPHEMERAL_DISK": "true",
        }
    )
    assert (s.actor, s.demo_speed, s.sheets_emulator_host, s.request_timeout, s.max_connections, s.ephemeral_disk) == (
        "ana@example.com",
        20.0,
        "127.0.0.1:9",
        5.0,
        100,
        True,
    )
    d = Settings.from_mapping({})
    assert (d.actor, d.demo_speed, d.sheets_emulator_host, d.request_timeout, d.max_connections, d.ephemeral_disk) == (
        None,
        1.0,
        None,
        None,
        None,
        False,
    )


@pytest.mark.parametrize("value", ["fast", "0", "-2", "nan", "inf"])
def test_a_demo_speed_that_is_no_speed_is_a_clear_settings_error(value):
    with pytest.raises(SettingsError, match="GIFTRUN_DEMO_SPEED"):
        Settings.from_mapping({"GIFTRUN_DEMO_SPEED": value})


@pytest.mark.usefixtures("store_backend")
def test_the_actor_comes_from_settings_and_the_secrets_file_too(tmp_path, monkeypatch, capsys):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('GIFTRUN_ACTOR = "ops@example.com"\n', encoding="utf-8")
    monkeypatch.setenv("GIFTRUN_SECRETS_FILE", str(secrets))
    monkeypatch.setenv("GIFTRUN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("GIFTRUN_ACTOR", raising=False)
    monkeypatch.delenv("GIFTRUN_DATABASE_URL", raising=False)
    assert cli.main(["do-not-gift", "add", "@rival.example", "--reason", "competitor"]) == 0
    monkeypatch.setenv("GIFTRUN_ACTOR", "env@example.com")  # the environment wins, as for every setting
    assert cli.main(["do-not-gift", "add", "vip@example.com"]) == 0
    assert cli.main(["do-not-gift", "add", "cfo@example.com", "--actor", "flag@example.com"]) == 0
    capsys.readouterr()
    assert cli.main(["do-not-gift", "list"]) == 0
    out = capsys.readouterr().out
    assert (
        "added by ops@example.com" in out and "added by env@example.com" in out and "added by flag@example.com" in out
    )
