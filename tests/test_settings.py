"""lib.settings builds one typed Settings from secrets and environment (first source wins)
and never lets a secret print itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lib.settings import DEFAULT_DATA_DIR, Secret, Settings, SettingsError, mask_token

KEY = "ao-v1-production-fakeProdToken1234"
PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkq\\n-----END PRIVATE KEY-----\\n"
ACCOUNT = {
    "type": "service_account",
    "client_email": "giftrun@proj.iam.gserviceaccount.com",
    "private_key": PRIVATE_KEY,
}


class BrokenSecrets:
    """Like st.secrets without a secrets.toml: every read raises."""

    def get(self, name):
        raise FileNotFoundError("No secrets files found")


# (id, sources, attribute, expected)
PRECEDENCE = [
    (
        "first-wins",
        ({"ANDOPEN_CAMPAIGN_ID": "from-secrets"}, {"ANDOPEN_CAMPAIGN_ID": "from-env"}),
        "campaign_id",
        "from-secrets",
    ),
    ("falls-through-when-absent", ({}, {"ANDOPEN_CAMPAIGN_ID": "from-env"}), "campaign_id", "from-env"),
    (
        "empty-counts-as-absent",
        ({"ANDOPEN_CAMPAIGN_ID": ""}, {"ANDOPEN_CAMPAIGN_ID": "from-env"}),
        "campaign_id",
        "from-env",
    ),
    (
        "none-counts-as-absent",
        ({"ANDOPEN_CAMPAIGN_ID": None}, {"ANDOPEN_CAMPAIGN_ID": "from-env"}),
        "campaign_id",
        "from-env",
    ),
    ("broken-source-skipped", (BrokenSecrets(), {"ANDOPEN_CAMPAIGN_ID": "from-env"}), "campaign_id", "from-env"),
    ("values-stripped", ({"ANDOPEN_BASE_URL": "  http://127.0.0.1:8000 \n"},), "base_url", "http://127.0.0.1:8000"),
    (
        "history-sheet",
        ({"GIFTRUN_HISTORY_SHEET": "https://docs.google.com/x"},),
        "history_sheet",
        "https://docs.google.com/x",
    ),
    (
        "data-dir",
        ({"GIFTRUN_DATA_DIR": "/var/lib/giftrun"}, {"GIFTRUN_DATA_DIR": "/tmp"}),
        "data_dir",
        Path("/var/lib/giftrun"),
    ),
    ("data-dir-default", ({},), "data_dir", Path(DEFAULT_DATA_DIR)),
    ("nothing-set", ({},), "base_url", None),
    (
        "domains-text",
        ({"GIFTRUN_ALLOWED_DOMAINS": "Example.com; @Partner.org, ,"},),
        "allowed_domains",
        ("example.com", "partner.org"),
    ),
    ("domains-list", ({"GIFTRUN_ALLOWED_DOMAINS": ["A.com", " b.com "]},), "allowed_domains", ("a.com", "b.com")),
]


@pytest.mark.parametrize("sources,attribute,expected", [c[1:] for c in PRECEDENCE], ids=[c[0] for c in PRECEDENCE])
def test_from_mapping_first_source_wins(sources, attribute, expected):
    assert getattr(Settings.from_mapping(*sources), attribute) == expected


def test_secrets_come_from_the_first_source_that_has_them():
    s = Settings.from_mapping(
        {"ANDOPEN_API_KEY": KEY},
        {"ANDOPEN_API_KEY": "ao-v1-staging-other0000000000", "ANDOPEN_WEBHOOK_SECRET": "whsec_abc"},
    )
    assert isinstance(s.api_key, Secret) and s.api_key.reveal() == KEY
    assert s.webhook_secret.reveal() == "whsec_abc"


@pytest.mark.parametrize(
    "sources,demo",
    [
        (({},), True),
        (({"ANDOPEN_API_KEY": ""},), True),
        (({"ANDOPEN_API_KEY": "   "},), True),
        (({"ANDOPEN_API_KEY": KEY},), False),
        (({}, {"ANDOPEN_API_KEY": KEY}), False),
    ],
    ids=["absent", "empty", "blank", "set", "set-in-env"],
)
def test_demo_mode_when_no_key(sources, demo):
    s = Settings.from_mapping(*sources)
    assert s.demo_mode is demo
    assert (s.api_key is None) is demo


@pytest.mark.parametrize(
    "show",
    [
        str,
        repr,
        lambda s: f"{s}",
        lambda s: f"{s!r}",
        lambda s: "%s %r" % (s, s),
        lambda s: format(s, ""),
        lambda s: str([s]),
        lambda s: str({"key": s}),
    ],
    ids=["str", "repr", "f-string", "f-string-repr", "percent", "format", "in-a-list", "in-a-dict"],
)
def test_secret_never_shows_its_value(show):
    text = show(Secret(KEY))
    assert KEY not in text and "fakeProdToken" not in text
    assert "ao-v1-production-…1234" in text


def test_secret_reveals_only_on_request_and_compares_by_value():
    assert Secret(KEY).reveal() == KEY
    assert Secret(KEY) == Secret(KEY) and Secret(KEY) != Secret("other") and Secret(KEY) != KEY
    assert bool(Secret("")) is False and bool(Secret(KEY)) is True


def test_settings_repr_shows_no_secret():
    s = Settings.from_mapping(
        {
            "ANDOPEN_API_KEY": KEY,
            "ANDOPEN_WEBHOOK_SECRET": "whsec_S3cretHook0000",
            "GIFTRUN_APP_PASSWORD": "hunter2-hunter2",
            "gcp_service_account": ACCOUNT,
        }
    )
    for text in (repr(s), str(s), f"{s}"):
        assert KEY not in text and "whsec_S3cretHook0000" not in text and "hunter2-hunter2" not in text
        assert "PRIVATE KEY" not in text and "MIIEvQIBADANBgkq" not in text


# (token, masked)
MASKS = [
    ("ao-v1-production-abcdefgh1234", "ao-v1-production-…1234"),
    ("ao-v1-staging-abcdefghWXYZ", "ao-v1-staging-…WXYZ"),
    ("ao-v1-production-with-dashes-in-it-9876", "ao-v1-production-…9876"),
    ("ao-v1-production-short", "ao-v1-production-…"),  # a short secret is not shown even in part
    ("sk_live_abcdefghijkl", "…ijkl"),
    ("abc", "…"),
    ("", "(not set)"),
    (None, "(not set)"),
]


@pytest.mark.parametrize("token,masked", MASKS)
def test_mask_token(token, masked):
    assert mask_token(token) == masked
    if token:
        assert token not in mask_token(token)


# ------------------------------------------------------------------ Google service account


def test_service_account_from_json_text():
    s = Settings.from_mapping({"GOOGLE_SERVICE_ACCOUNT_JSON": "  " + json.dumps(ACCOUNT) + "\n"})
    assert s.service_account == ACCOUNT


def test_service_account_from_a_file_path(tmp_path):
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(ACCOUNT), encoding="utf-8")
    assert Settings.from_mapping({"GOOGLE_SERVICE_ACCOUNT_JSON": str(path)}).service_account == ACCOUNT


def test_secrets_section_wins_over_the_environment():
    section = {**ACCOUNT, "client_email": "from-secrets@proj.iam.gserviceaccount.com"}
    s = Settings.from_mapping({"gcp_service_account": section}, {"GOOGLE_SERVICE_ACCOUNT_JSON": json.dumps(ACCOUNT)})
    assert s.service_account["client_email"] == "from-secrets@proj.iam.gserviceaccount.com"
    assert isinstance(s.service_account, dict) and s.service_account is not section


def test_no_service_account():
    assert Settings.from_mapping({}).service_account is None


@pytest.mark.parametrize(
    "value",
    [
        '{"type": "service_account", "private_key": "MIIEvQIBADANBgkq"',  # truncated JSON text
        '{not json at all, "private_key": "MIIEvQIBADANBgkq"}',
    ],
    ids=["truncated", "garbage"],
)
def test_bad_json_text_is_a_settings_error_that_does_not_echo_it(value):
    with pytest.raises(SettingsError) as info:
        Settings.from_mapping({"GOOGLE_SERVICE_ACCOUNT_JSON": value})
    assert "GOOGLE_SERVICE_ACCOUNT_JSON" in str(info.value)
    assert "MIIEvQIBADANBgkq" not in str(info.value)


def test_bad_json_in_a_file_is_a_settings_error(tmp_path):
    path = tmp_path / "sa.json"
    path.write_text("{oops", encoding="utf-8")
    with pytest.raises(SettingsError, match="not valid JSON"):
        Settings.from_mapping({"GOOGLE_SERVICE_ACCOUNT_JSON": str(path)})


def test_a_missing_file_is_a_settings_error(tmp_path):
    with pytest.raises(SettingsError, match="does not exist"):
        Settings.from_mapping({"GOOGLE_SERVICE_ACCOUNT_JSON": str(tmp_path / "nope.json")})


def test_a_key_pasted_with_a_typographic_quote_is_refused_without_showing_it():
    key = "ao-v1-production-" + "s3cr3t" * 4 + "”"
    with pytest.raises(SettingsError) as caught:
        Settings.from_mapping({"ANDOPEN_API_KEY": key})
    assert "ANDOPEN_API_KEY" in str(caught.value) and "s3cr3t" not in str(caught.value)
