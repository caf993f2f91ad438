"""The invitation template: what a file must look like, what each placeholder becomes, the
optional {message} line, a row that lacks a value, a column the list lacks, and the email built
from it (plain text plus an HTML part where every value is escaped and the redemption link is
the only link, a Message-ID derived from the gift id)."""

from __future__ import annotations

import re

import pytest

from lib.invite_template import (
    RowValueMissing,
    TemplateError,
    bind_columns,
    build_message,
    message_id,
    parse_template,
    render,
)
from lib.smtp_url import parse_sender

pytestmark = pytest.mark.single_backend

SENDER = parse_sender("Ana Rep <rep@team.example>")
TEMPLATE = """Subject: A gift for you, {first_name}

Hi {first_name} {last_name},

{message}

{Company} would like to send you a gift: {redemption_url}

{sender_name}"""
VALUES = {
    "first_name": "Bo",
    "last_name": "Li",
    "email": "bo@example.com",
    "redemption_url": "https://andopen.example/r/abc?x=1&y=2",
    "sender_name": "Ana Rep",
    "message": "Thanks for the call!",
    "Company": "Acme",
}


@pytest.mark.parametrize(
    "text, words",
    [
        ("Hello {first_name}\n\n{redemption_url}", "must start with a line 'Subject: …'"),
        ("Subject:   \n\n{redemption_url}", "must start with a line 'Subject: …'"),
        ("Subject: Hi\nbody right away {redemption_url}", "leave one blank line"),
        ("Subject: Hi\n\n   \n", "has no body"),
        ("Subject: Hi\n\nNo link here, {first_name}", "never uses {redemption_url}"),
        ("Subject: Hi\n\nA lone { brace {redemption_url}", "a lone '{' in the body (line 1)"),
        ("Subject: Hi }\n\n{redemption_url}", "a lone '}' in the subject"),
        ("Subject: Hi\n\n{} {redemption_url}", "an empty placeholder"),
    ],
)
def test_a_template_that_cannot_be_used_is_refused_in_one_line(text, words):
    with pytest.raises(TemplateError) as caught:
        parse_template(text)
    assert words in caught.value.message and "\n" not in caught.value.message


def test_every_placeholder_becomes_its_value_and_double_braces_stay_braces():
    t = parse_template("\ufeffSubject: For {first_name} {{VIP}}\r\n\r\n{redemption_url} {{x}} {sender_name}\r\n")
    r = render(t, VALUES)
    assert r.subject == "For Bo {VIP}"
    assert r.text == "https://andopen.example/r/abc?x=1&y=2 {x} Ana Rep\n"


@pytest.mark.parametrize("message", ["", "   ", None])
def test_the_message_line_is_left_out_when_the_row_has_none(message):
    r = render(parse_template(TEMPLATE), {**VALUES, "message": message})
    assert r.text == "Hi Bo Li,\n\nAcme would like to send you a gift: https://andopen.example/r/abc?x=1&y=2\n\nAna Rep"
    with_message = render(parse_template(TEMPLATE), VALUES).text
    assert "Hi Bo Li,\n\nThanks for the call!\n\nAcme would like" in with_message


def test_an_empty_value_is_that_rows_error_naming_the_column():
    with pytest.raises(RowValueMissing) as caught:
        render(parse_template(TEMPLATE), {**VALUES, "Company": "  "}, {"Company": "Company name"})
    assert caught.value.message == (
        "Not sent: the template's {Company} needs a value, and 'Company name' is empty on this row."
    )


def test_a_placeholder_naming_no_column_refuses_the_run_and_lists_the_columns():
    t = parse_template(TEMPLATE.replace("{Company}", "{Compnay}"))
    with pytest.raises(
        TemplateError, match=r"uses \{Compnay\}, but the list has no such column. Columns: Email, Company"
    ):
        bind_columns(t, ["Email", "Company"])
    assert bind_columns(parse_template(TEMPLATE), ["Email", "company "]) == {"Company": "company "}  # loosely


def test_the_html_part_escapes_every_value_and_links_only_the_redemption_url():
    hostile = {
        **VALUES,
        "first_name": '<script>alert("x")</script>',
        "Company": '<a href="https://evil.example">click</a>',
        "message": "see https://other.example & <b>bold</b>",
    }
    r = render(parse_template(TEMPLATE), hostile)
    assert "<script>" not in r.html and "&lt;script&gt;" in r.html
    assert "&lt;a href=&quot;https://evil.example&quot;&gt;" in r.html
    assert re.findall(r"<a href=\"([^\"]+)\"", r.html) == ["https://andopen.example/r/abc?x=1&amp;y=2"]
    assert '<script>alert("x")</script>' in r.text  # the plain part is the text itself


def test_a_value_never_adds_a_header_line_to_the_subject():
    r = render(
        parse_template("Subject: Hi {first_name}\n\n{redemption_url}"), {**VALUES, "first_name": "Bo\r\nBcc: x@y"}
    )
    msg = build_message(r, sender=SENDER, to="bo@example.com", msg_id="<a@b>")
    assert msg["Subject"] == "Hi Bo Bcc: x@y" and msg["Bcc"] is None


def test_the_email_is_multipart_with_the_same_text_and_a_message_id_from_the_gift():
    r = render(parse_template(TEMPLATE), VALUES)
    mid = message_id("gift-123", "invitation", SENDER)
    assert mid == message_id("gift-123", "invitation", SENDER) != message_id("gift-124", "invitation", SENDER)
    assert mid != message_id("gift-123", "reminder", SENDER) and mid.endswith("@team.example>")
    msg = build_message(r, sender=SENDER, to="bo@example.com", to_name="Bo Li", msg_id=mid, test=True)
    assert msg["Subject"] == "[Test] A gift for you, Bo" and msg["To"] == "Bo Li <bo@example.com>"
    assert msg["From"] == "Ana Rep <rep@team.example>" and msg["Message-ID"] == mid
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg.get_body(("plain",)).get_content().rstrip("\n") == r.text
