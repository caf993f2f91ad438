"""ui/text: data shown as text. The helpers as tables here (their effect in Chromium, in every
Streamlit call that renders Markdown, is in test_browser_text), and with AppTest what needs no
browser: unknown statuses from &Open as bounded metrics and cells, links only for https."""

from __future__ import annotations

import json

import pytest

from lib.models import EventSource, StatusEvent
from tests.apptest_support import go, new_session, run, services, shown
from ui.text import LIMIT, STATUS_LIMIT, code, https_url, md, plain

HOSTILE = [
    "**Quarterly** ![t](http://host/x) [docs](https://evil.example/login).csv",
    "[evil link](https://evil.example/phish)",
    "![track](http://host/t.png)",
    "<img src=x onerror=alert(1)> <b>b</b> &amp; &#x3C;",
    ":red[r] :material/home: :smile: $x^2$",
    "www.evil.example ana@evil.example mailto:a@b.c",
    "# h\n- i\n1. one\n> q\n    code\n|a|b|",
    "`a` ``b`c`` \\*x\\* ***y*** ~~z~~",
    "a\x1b[2Jb\u202ec\x00d\r\ne\u2028f\ud800",
    "   lead   ",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_md_reads_back_as_the_plain_text(value):
    assert shown(md(value)) == plain(value)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("a\nb\tc", "a b c"),
        ("a\x1bb", "a\ufffdb"),
        ("x\u202ey", "x\ufffdy"),
        ("\ud800", "\ufffd"),
        ("  x  ", "x"),
        (None, ""),
        (42, "42"),
        ("y" * 300, "y" * (LIMIT - 1) + "…"),
    ],
)
def test_plain_is_one_visible_bounded_line(value, expected):
    assert plain(value) == expected


def test_md_leaves_no_markdown_mark_unescaped_outside_code_spans():
    for value in HOSTILE:
        out = md(value)
        outside = "".join(part for i, part in enumerate(out.split("`")) if i % 2 == 0)
        for mark in "*_[]()!<>#|~$:&":
            assert all(outside[i - 1] == "\\" for i, ch in enumerate(outside) if ch == mark), (value, out)


@pytest.mark.parametrize(
    "url, ok",
    [
        ("https://gift.andopen.co/r/abc", True),
        ("HTTPS://gift.andopen.co/r/abc", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("http://gift.andopen.co/r/abc", False),
        ("data:text/html,<b>x</b>", False),
        ("//evil.example/x", False),
        ("https://", False),
        (" https://gift.andopen.co/r/abc", False),
        ("https://gift.andopen.co/r/a b", False),
        ("https://user:pw@evil.example/", False),
        ("https://gift.andopen.co/\x00", False),
        (None, False),
        (3, False),
    ],
)
def test_only_plain_https_urls_are_links(url, ok):
    assert (https_url(url) is not None) is ok


def test_code_spans_survive_backticks():
    assert shown(code("a`b")) == "a`b" and shown(code("`x`")) == "`x`"


# -- the Gift status page --------------------------------------------------------------------
def _event(gid: str, status: str, url: str | None = None) -> StatusEvent:
    return StatusEvent(
        event_id=f"e-{gid}", gift_request_id=gid, status=status, source=EventSource.WEBHOOK, redemption_url=url
    )


def _column_type(element, column: str) -> str:
    return json.loads(element.proto.columns)[column]["type_config"]["type"]


def test_unknown_statuses_are_bounded_metrics_and_cells(data_dir):
    at = run(new_session(data_dir))
    store = services().store
    long_status = "[evil link](https://evil.example/phish) " + "x" * 20
    odd = [long_status] * 3 + [f"status_{i}" for i in range(30)]  # the long one is the most common
    for i, status in enumerate(odd):
        store.add_event(_event(f"g-odd-{i}", status, "https://gift.andopen.co/r/ok"))
    go(at, "gift_status")
    report = {"Gifts shown", "Redemption rate", "Median time to redeem"}  # the page's own three
    labels = [shown(m.label) for m in at.metric if shown(m.label) not in report]
    assert len(labels) <= 5 + 3 + 1, labels  # the known five, three unknown, "Other statuses (28)"
    assert "Other statuses (28)" in labels, labels
    assert all(len(label) <= STATUS_LIMIT for label in labels), labels
    assert plain(long_status, STATUS_LIMIT) in labels
    cells = at.dataframe[0].value["Status"].tolist()
    assert max(len(c) for c in cells) <= STATUS_LIMIT and plain(long_status, STATUS_LIMIT) in cells
    assert _column_type(at.dataframe[0], "Redemption URL") == "link"  # all https: links


def test_a_redemption_url_that_is_not_https_is_never_a_link(data_dir):
    at = run(new_session(data_dir))
    store = services().store
    store.add_event(_event("g-js", "submitted", "javascript:alert(1)"))
    store.add_event(_event("g-ok", "submitted", "https://gift.andopen.co/r/ok"))
    go(at, "gift_status")
    table = at.dataframe[0]
    assert _column_type(table, "Redemption URL") == "text"
    assert "javascript:alert(1)" in table.value["Redemption URL"].tolist()  # shown, as text
