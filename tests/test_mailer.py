"""The SMTP transport against a real SMTP server on 127.0.0.1 (aiosmtpd): a plain relay, STARTTLS
with AUTH and a self-signed certificate trusted through GIFTRUN_SMTP_CA_FILE, TLS from the start,
and every failure a run must tell apart: refused AUTH, no TLS for a password, an untrusted
certificate, a 550 for one address, a 421, a connection dropped after the message arrived."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from lib.invite_template import Rendered, build_message
from lib.mailer import MailRecipientRefused, MailStop, MailTemporary, MailUnknown, SmtpMailer
from lib.smtp_url import parse_sender, parse_smtp_url
from tests.smtp_server import PASSWORD, USER, Faults, start_server

SENDER = parse_sender("Ana Rep <rep@team.example>")


def message(to: str = "bo@example.com"):
    rendered = Rendered("A gift for you", "Hi,\n.a line starting with a dot\nhttps://x.example/r/1", "<p>Hi</p>")
    return build_message(rendered, sender=SENDER, to=to, msg_id="<m1@team.example>")


def credentials_url(port: int, *, password: str = PASSWORD, scheme: str = "smtp") -> str:
    return f"{scheme}://{quote(USER, safe='')}:{quote(password, safe='')}@127.0.0.1:{port}"


@pytest.fixture
def servers():
    started = []

    def start(*args, **kwargs):
        server = start_server(*args, **kwargs)
        started.append(server)
        return server

    yield start
    for s in started:
        s.stop()


def test_a_plain_relay_takes_the_message_as_built(servers):
    relay = servers()
    mailer = SmtpMailer(parse_smtp_url(relay.url), timeout=5)
    mailer.connect()
    mailer.send(message(), SENDER.address, "bo@example.com")
    mailer.close()
    [got] = relay.messages()
    assert got.rcpt_tos == ("bo@example.com",) and got.mail_from == "rep@team.example"
    assert got.subject == "A gift for you"
    assert ".a line starting with a dot" in got.part("plain")  # dot-stuffing undone by the server
    assert got.parsed()["Message-ID"] == "<m1@team.example>"


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls-587", "smtps-465"])
def test_tls_with_auth_and_a_self_signed_certificate_trusted_through_the_ca_file(servers, tmp_path, implicit):
    server = servers(tls_folder=tmp_path, auth=True, implicit_tls=implicit)
    url = parse_smtp_url(credentials_url(server.port, scheme="smtps" if implicit else "smtp"))
    mailer = SmtpMailer(url, ca_file=tmp_path / "smtp-cert.pem", timeout=5)
    mailer.connect()
    mailer.send(message(), SENDER.address, "bo@example.com")
    mailer.close()
    assert [m.rcpt_tos for m in server.messages()] == [("bo@example.com",)]


def test_a_certificate_nobody_trusts_stops_before_any_password_is_sent(servers, tmp_path):
    server = servers(tls_folder=tmp_path, auth=True)
    with pytest.raises(MailStop, match="certificate that cannot be verified.*GIFTRUN_SMTP_CA_FILE") as caught:
        SmtpMailer(parse_smtp_url(credentials_url(server.port)), timeout=5).connect()
    assert PASSWORD not in caught.value.message and not server.messages()


def test_a_refused_password_stops_with_one_line_naming_the_server_never_the_password(servers, tmp_path):
    server = servers(tls_folder=tmp_path, auth=True)
    url = parse_smtp_url(credentials_url(server.port, password="wrong-secret-9"))
    with pytest.raises(MailStop) as caught:
        SmtpMailer(url, ca_file=tmp_path / "smtp-cert.pem", timeout=5).connect()
    text = caught.value.message
    assert f"127.0.0.1:{server.port}" in text and "refused the user name or password (535" in text
    assert "wrong-secret-9" not in text and "\n" not in text


def test_a_password_is_never_sent_to_a_server_without_starttls(servers):
    plain = servers()
    with pytest.raises(MailStop, match="offers no STARTTLS, so the password would travel unencrypted"):
        SmtpMailer(parse_smtp_url(credentials_url(plain.port)), timeout=5).connect()


@pytest.mark.parametrize(
    "faults, to, error, words",
    [
        (Faults(refuse={"gone@example.com": "550 5.1.1 mailbox unavailable"}), "gone@example.com",
         MailRecipientRefused, "550 5.1.1 mailbox unavailable"),
        (Faults(busy_first=1), "bo@example.com", MailTemporary, "421 4.7.0"),
        (Faults(drop_after_data={"bo@example.com"}), "bo@example.com", MailUnknown, "may have been delivered"),
    ],
    ids=["550-refused", "421-temporary", "dropped-after-data-unknown"],
)  # fmt: skip
def test_each_failure_means_what_it_says_and_the_session_goes_on(servers, faults, to, error, words):
    server = servers(faults)
    mailer = SmtpMailer(parse_smtp_url(server.url), timeout=5)
    mailer.connect()
    with pytest.raises(error, match=words):
        mailer.send(message(to), SENDER.address, to)
    mailer.send(message("next@example.com"), SENDER.address, "next@example.com")  # reconnects when it must
    mailer.close()
    received = [m.rcpt_tos for m in server.messages()]
    assert received[-1] == ("next@example.com",)
    assert (("bo@example.com",) in received) == (error is MailUnknown)  # only the unknown one arrived


def test_an_unreachable_server_stops_naming_host_and_port(tmp_path):
    from tests.support import closed_port

    port = closed_port()
    with pytest.raises(MailStop, match=f"Cannot reach the mail server 127.0.0.1:{port}"):
        SmtpMailer(parse_smtp_url(f"smtp://127.0.0.1:{port}"), timeout=5).connect()
