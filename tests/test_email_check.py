"""The quick email check gives email-validator's own answer, for every shape of address."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email

from lib.email_check import email_ok


def validator_says(email: str) -> bool:
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


CASES = [
    "ana@example.com",
    "Ana.Maria+tag@Example.COM",
    "a@b.co",
    "victor.hugo@@example",
    "no-at-sign.example.com",
    "@example.com",
    "ana@",
    ".ana@example.com",
    "ana.@example.com",
    "an..a@example.com",
    "ana@example",  # no dot in the domain
    "ana@localhost",
    "ana@test.test",  # a special-use domain
    "ana@example.invalid",
    "ana@-example.com",
    "ana@example-.com",
    "ana@exa_mple.com",
    "ana@example..com",
    "ana@123.com",
    "ana@example.123",
    "ana@[127.0.0.1]",
    '"ana maria"@example.com',
    "ana maria@example.com",
    "Ana <ana@example.com>",
    "josé@example.com",
    "ana@münchen.de",
    "ana@xn--mnchen-3ya.de",
    "ana@XN--MNCHEN-3YA.DE",
    "info@example.com",
    "ana!#$%&'*+/=?^_`{|}~-@example.com",
    "x" * 64 + "@example.com",
    "x" * 65 + "@example.com",
    "x" * 240 + "@example.com",  # 252 characters
    "x" * 242 + "@example.com",  # 254
    "x" * 243 + "@example.com",  # 255: too long
    "a@" + "b" * 63 + ".com",
    "a@" + "b" * 64 + ".com",  # a label over 63
    "a@" + ".".join(["b" * 60] * 4) + ".com",  # a domain over 253
]


@pytest.mark.parametrize("email", CASES)
def test_the_quick_check_agrees_with_email_validator(email):
    assert email_ok(email) == validator_says(email)


def test_twenty_thousand_addresses_on_40_domains_check_each_domain_once(monkeypatch):
    """What makes a 20,000-row list quick (bench/review_ui.py has the figures): the full check runs
    once per domain, not once per address."""
    from lib import email_check

    email_check._valid.cache_clear()
    checked: list[str] = []
    real = email_check.validate_email

    def counting(email, **kwargs):
        checked.append(email)
        return real(email, **kwargs)

    monkeypatch.setattr(email_check, "validate_email", counting)
    emails = [f"person{i}@company{i % 40}.example.com" for i in range(20_000)]
    assert all(email_ok(e) for e in emails)
    assert len(checked) == 40, f"{len(checked)} full checks for 40 domains"
