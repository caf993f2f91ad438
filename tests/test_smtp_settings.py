"""The invitation settings as an operator writes them: GIFTRUN_SMTP_URL (smtp/smtps, a relay
without credentials, a percent-encoded user), GIFTRUN_INVITE_FROM, GIFTRUN_EMAIL_RATE and
GIFTRUN_EMAIL_DAILY_LIMIT; each mistake one clear line that never shows the password."""

from __future__ import annotations

import pytest

from lib.settings import Settings, SettingsError

pytestmark = pytest.mark.single_backend


@pytest.mark.parametrize(
    "url, scheme, host, port, user",
    [
        ("smtp://rep%40example.com:s3cret@smtp.gmail.com:587", "smtp", "smtp.gmail.com", 587, "rep@example.com"),
        ("smtps://apikey:s3cret@smtp.sendgrid.net", "smtps", "smtp.sendgrid.net", 465, "apikey"),
        ("smtp://smtp-relay.gmail.com:25", "smtp", "smtp-relay.gmail.com", 25, None),
        ("SMTP://relay.internal", "smtp", "relay.internal", 587, None),
    ],
)
def test_the_smtp_url_forms_it_takes(url, scheme, host, port, user):
    s = Settings.from_mapping({"GIFTRUN_SMTP_URL": url}).smtp_url
    assert s is not None and (s.scheme, s.host, s.port, s.user) == (scheme, host, port, user)
    assert "s3cret" not in repr(s) and "s3cret" not in s.describe()
    assert (s.password.reveal() if s.password else None) == ("s3cret" if user else None)


@pytest.mark.parametrize(
    "name, value, words",
    [
        ("GIFTRUN_SMTP_URL", "https://s3cret@mail.example", "must start with smtp://"),
        ("GIFTRUN_SMTP_URL", "smtp://rep@example.com:s3cret@smtp.example.com:587", "write an @ inside the user name"),
        ("GIFTRUN_SMTP_URL", "smtp://rep:s3cret@smtp.example.com:99999", "port that is not a number"),
        ("GIFTRUN_SMTP_URL", "smtp://rep@smtp.example.com", "gives the user rep but no password"),
        ("GIFTRUN_SMTP_URL", "smtp://:s3cret@smtp.example.com", "a password but no user name"),
        ("GIFTRUN_INVITE_FROM", "just a name", "must be a name and an address"),
        ("GIFTRUN_EMAIL_RATE", "5000", "from 1 to 3,000"),
        ("GIFTRUN_EMAIL_RATE", "fast", "from 1 to 3,000"),
        ("GIFTRUN_EMAIL_DAILY_LIMIT", "lots", "a whole number of emails"),
        ("GIFTRUN_EMAIL_DAILY_LIMIT", "0", "a whole number of emails"),
    ],
)
def test_each_mistake_is_one_line_that_never_shows_the_password(name, value, words):
    with pytest.raises(SettingsError) as caught:
        Settings.from_mapping({name: value})
    assert words in caught.value.message and "s3cret" not in caught.value.message
    assert name in caught.value.message and "\n" not in caught.value.message


def test_sender_rate_and_daily_limit():
    s = Settings.from_mapping(
        {
            "GIFTRUN_INVITE_FROM": "Ana Lima <ana@example.com>",
            "GIFTRUN_EMAIL_RATE": "3000",
            "GIFTRUN_EMAIL_DAILY_LIMIT": "2,000",
            "GIFTRUN_SMTP_CA_FILE": "/etc/ssl/private-ca.pem",
        }
    )
    assert (s.invite_from.name, s.invite_from.address) == ("Ana Lima", "ana@example.com")
    assert (s.email_rate, s.email_daily_limit, str(s.smtp_ca_file)) == (3000, 2000, "/etc/ssl/private-ca.pem")
    default = Settings.from_mapping({})
    assert (default.smtp_url, default.invite_from, default.email_rate, default.email_daily_limit) == (
        None,
        None,
        20,
        None,
    )
