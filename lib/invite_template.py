"""The invitation email: a template a person writes (`Subject: …`, a blank line, the body)
with placeholders, rendered for one row into exactly the message that is sent.

The preview on Review & send, `--dry-run`, `--test-to` and the run all call `render` and
`build_message`, so what a person reads first is, byte for byte, what recipients get.

Placeholders: `{first_name}`, `{last_name}`, `{email}`, `{redemption_url}`, `{sender_name}`,
`{message}` and any column by its header (`{Company}`; matched exactly, else loosely:
`{company}`). `{{` and `}}` are literal braces. `{message}` is the row's `Message` cell and
optional: the line holding it is left out when it is empty. Every other placeholder must have
a value: an empty one is that row's error (a blank is never sent), and one naming a column the
list lacks refuses the whole run before any email.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate

from .errors import EXIT_INPUT, GiftrunError
from .headers import normalise_header
from .smtp_url import Sender

FIRST_NAME, LAST_NAME, EMAIL, REDEMPTION_URL = "first_name", "last_name", "email", "redemption_url"
SENDER_NAME, MESSAGE = "sender_name", "message"
BUILT_INS = (FIRST_NAME, LAST_NAME, EMAIL, REDEMPTION_URL, SENDER_NAME, MESSAGE)
MESSAGE_COLUMN = "Message"
MAX_TEMPLATE_CHARS = 100_000
TEST_PREFIX = "[Test] "

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}\n]*)\}|[{}]")

EXAMPLE = (
    "Subject: A gift for you, {first_name}\n\n"
    "Hi {first_name},\n\n"
    "{message}\n\n"
    "We'd like to send you a gift. Choose yours here:\n"
    "{redemption_url}\n\n"
    "Best,\n{sender_name}\n"
)


class TemplateError(GiftrunError):
    """The template cannot be used; nothing is emailed. The message says what to change."""

    exit_code = EXIT_INPUT


class RowValueMissing(GiftrunError):
    """One row lacks a value the template needs: that row's `Invitation error`."""

    def __init__(self, placeholder: str, column: str) -> None:
        super().__init__(
            f"Not sent: the template's {{{placeholder}}} needs a value, and '{column}' is empty on this row."
        )
        self.placeholder, self.column = placeholder, column


@dataclass(frozen=True)
class Template:
    subject: str
    body: str

    def placeholders(self) -> list[str]:
        """Every placeholder name, in order of first use (subject first)."""
        seen: dict[str, None] = {}
        for text in (self.subject, self.body):
            for m in _TOKEN.finditer(text):
                if m.group(1) is not None:
                    seen.setdefault(m.group(1).strip(), None)
        return list(seen)

    def text(self) -> str:
        """The template as a file holds it (what the app saves with the list)."""
        return f"Subject: {self.subject}\n\n{self.body}"


def parse_template(text: str, *, name: str = "The template") -> Template:
    """`Subject: …`, one blank line, the body. Refused with one line saying what to fix."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if len(text) > MAX_TEMPLATE_CHARS:
        raise TemplateError(f"{name} is {len(text):,} characters long: at most {MAX_TEMPLATE_CHARS:,}.")
    first, _, rest = text.partition("\n")
    head, colon, subject = first.partition(":")
    if not colon or head.strip().lower() != "subject" or not subject.strip():
        raise TemplateError(f"{name} must start with a line 'Subject: …' (then a blank line, then the body).")
    blank, _, body = rest.partition("\n")
    if blank.strip():
        raise TemplateError(f"{name}: leave one blank line between the Subject line and the body.")
    if not body.strip():
        raise TemplateError(f"{name} has no body below the Subject line.")
    template = Template(subject.strip(), body)
    for where, part in (("the subject", template.subject), ("the body", body)):
        for m in _TOKEN.finditer(part):
            if m.group(0) in ("{", "}"):
                line = part.count("\n", 0, m.start()) + 1
                raise TemplateError(
                    f"{name}: a lone '{m.group(0)}' in {where} (line {line}); write {{{{ or }}}} for a brace, "
                    "or {Column} for a placeholder."
                )
            if m.group(1) is not None and not m.group(1).strip():
                raise TemplateError(f"{name}: an empty placeholder {{}} in {where}.")
    if REDEMPTION_URL not in template.placeholders():
        raise TemplateError(f"{name} never uses {{{REDEMPTION_URL}}}: the invitation must carry the gift's link.")
    return template


def bind_columns(template: Template, columns: Sequence[str]) -> dict[str, str]:
    """Placeholder → the list's column for every placeholder that is not built in (exact header,
    else loosely). A placeholder naming no column refuses the run before any email."""
    bound: dict[str, str] = {}
    unknown: list[str] = []
    names = [str(c) for c in columns]
    for p in template.placeholders():
        if p in BUILT_INS:
            continue
        exact = next((c for c in names if c.strip() == p), None)
        loose = [c for c in names if normalise_header(c) == normalise_header(p)]
        if exact is not None or len(loose) == 1:
            bound[p] = exact if exact is not None else loose[0]
        else:
            unknown.append(p)
    if unknown:
        listed = ", ".join(f"{{{u}}}" for u in unknown)
        raise TemplateError(
            f"The template uses {listed}, but the list has no such column. Columns: {', '.join(names)}. "
            f"Built in: {', '.join('{' + b + '}' for b in BUILT_INS)}."
        )
    return bound


@dataclass(frozen=True)
class Rendered:
    """One row's invitation as text: what is previewed, dry-run printed and sent."""

    subject: str
    text: str
    html: str


def render(template: Template, values: Mapping[str, str], sources: Mapping[str, str] | None = None) -> Rendered:
    """The template with `values` (placeholder → the row's value). `sources` names the column
    each value came from, for the error of an empty one (RowValueMissing)."""

    def value(p: str) -> str:
        v = (values.get(p) or "").strip() if p != MESSAGE else (values.get(p) or "").strip("\n")
        if not v.strip() and p != MESSAGE:
            raise RowValueMissing(p, (sources or {}).get(p, p))
        return v

    subject = "".join(t for t, _ in _pieces(template.subject, value))
    subject = " ".join(subject.split())  # a value never adds a header line
    text_lines: list[str] = []
    html_lines: list[str] = []
    dropped = False
    for line in template.body.split("\n"):
        if MESSAGE in _names(line) and not value(MESSAGE).strip():
            dropped = True  # the optional message: its line goes when the row has none …
            continue
        if dropped and not line.strip() and (not text_lines or not text_lines[-1].strip()):
            dropped = False  # … and so does one of the blank lines around it
            continue
        dropped = False
        pieces = _pieces(line, value)
        text_lines.append("".join(t for t, _ in pieces))
        html_lines.append("".join(_html_piece(t, p) for t, p in pieces))
    body_html = "<br>\n".join(html_lines)
    return Rendered(
        subject,
        "\n".join(text_lines),
        f'<!DOCTYPE html>\n<html><body><div style="font-family: sans-serif; font-size: 14px;">\n{body_html}\n'
        "</div></body></html>\n",
    )


def _names(line: str) -> set[str]:
    return {m.group(1).strip() for m in _TOKEN.finditer(line) if m.group(1) is not None}


def _pieces(text: str, value) -> list[tuple[str, str | None]]:
    """(text, placeholder or None) in order: literal text and braces, then values."""
    out: list[tuple[str, str | None]] = []
    at = 0
    for m in _TOKEN.finditer(text):
        out.append((text[at : m.start()], None))
        if m.group(1) is None:
            out.append((m.group(0)[0], None))  # {{ or }} → one brace
        else:
            name = m.group(1).strip()
            out.append((value(name), name))
        at = m.end()
    out.append((text[at:], None))
    return out


def _html_piece(text: str, placeholder: str | None) -> str:
    """Every value escaped; the redemption link is the only link (an https or http URL)."""
    escaped = html.escape(text, quote=True).replace("\n", "<br>\n")
    if placeholder == REDEMPTION_URL and text.lower().startswith(("https://", "http://")):
        return f'<a href="{escaped}">{escaped}</a>'
    return escaped


def message_id(gift_request_id: str, kind: str, sender: Sender) -> str:
    """Derived from the gift id: the same gift's invitation always carries the same id, so a
    receiving system that saw it once can tell a copy."""
    digest = hashlib.sha256(f"{kind}\n{gift_request_id}".encode()).hexdigest()[:32]
    return f"<giftrun.{kind}.{digest}@{sender.domain}>"


def build_message(
    rendered: Rendered, *, sender: Sender, to: str, to_name: str = "", msg_id: str, test: bool = False
) -> EmailMessage:
    """The multipart email (plain text, then HTML made from the same text)."""
    msg = EmailMessage()
    msg["Subject"] = (TEST_PREFIX if test else "") + rendered.subject
    msg["From"] = sender.header()
    msg["To"] = _to_header(to, to_name)
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = msg_id
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return msg


def _to_header(address: str, name: str) -> Address | str:
    try:
        return Address(display_name=" ".join(name.split()), addr_spec=address.strip())
    except (ValueError, IndexError, TypeError):
        return address.strip()
