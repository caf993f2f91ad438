"""In a real Chromium: what a file, a user or &Open supplies is shown as text, never as
Markdown or HTML. A hostile upload name on Build list and on another user's "Watch the
run in progress on …" button, and hostile webhook statuses on Gift status, must make no
<a>, <img> or <strong>, load nothing, and read exactly as they came (bounded).

The app runs live against a sandbox on 127.0.0.1 (slow, so a run stays in progress), with
a webhook secret the test signs with; images point at a counting server on 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import sys
import threading

import pytest
import requests

from lib.sandbox import Faults, Sandbox
from tests.browser_support import IDLE, REPO, VIEWPORT, AppServer, free_port, new_context, poll, wait_idle
from tests.receivers import LIVE_ENV, WEBHOOK_PATH, gift_body, signed_headers
from tests.support import available_campaign
from tests.test_browser import show_server_log_on_failure
from ui.text import STATUS_LIMIT, plain

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # rendering does not depend on the store: once, on SQLite
MARKUP = re.compile(r"<(a|img|strong|em|del|h[1-6]|iframe|svg)\b|katex|stIconMaterial|data-testid=\"stImage", re.I)


class ImageHost:
    """Counts every request: an image made from the data would be fetched from here."""

    def __init__(self) -> None:
        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                hits.append(self.path)
                self.send_response(404)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def image_host():
    host = ImageHost()
    yield host
    host.close()


@pytest.fixture(scope="module")
def app(browser, slow_sandbox, tmp_path_factory):
    sb = slow_sandbox
    tmp = tmp_path_factory.mktemp("browser-text")
    env = {
        **LIVE_ENV,
        "ANDOPEN_API_KEY": sb.token,
        "ANDOPEN_BASE_URL": sb.url,
        "ANDOPEN_CAMPAIGN_ID": available_campaign(sb),
    }
    server = AppServer(tmp / "data", tmp / "streamlit.log", extra_env=env)
    try:
        server.wait_healthy(timeout=60)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def slow_sandbox():
    sb = Sandbox(faults=Faults(latency=10.0)).start()  # 24 sends, 8 at a time, 10 s each: a 30 s run
    yield sb
    sb.stop()


@pytest.fixture
def context(browser):
    ctx = new_context(browser, viewport=VIEWPORT)
    ctx.set_default_timeout(30_000)
    yield ctx
    ctx.close()


def _open(context, server):
    page = context.new_page()
    page.goto(server.url)
    wait_idle(page, timeout=60)
    return page


def _no_markup(page, element, expected_text: str, what: str) -> None:
    """`element` shows exactly `expected_text` and no element made from it."""
    html = element.inner_html()
    found = MARKUP.search(html)
    assert not found, f"{what}: markup made from the data: {found.group(0)!r} in {html[:600]}"
    text = " ".join(element.inner_text().split())
    assert expected_text in text, f"{what}: shows {text!r}, expected {expected_text!r}"


def hostile_name(host: str) -> str:
    return (
        f"**Quarterly** ![t]({host}/x.png) [docs](https://evil.example/login) <img src={host}/h.png> "
        f":red[red] $x^2$ :material/home: :smile: www.evil.example ana@evil.example.csv"
    )


@show_server_log_on_failure
def test_an_upload_name_is_text_on_build_list_and_in_another_session(app, context, image_host):
    name = hostile_name(image_host.url)
    people = "First Name,Last Name,Email,Approved\n" + "".join(
        f"P{i},Text,p{i}@text.example.com,TRUE\n" for i in range(24)
    )
    page = _open(context, app)
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        files=[{"name": name, "mimeType": "text/csv", "buffer": people.encode()}]
    )
    wait_idle(page)
    page.get_by_role("button", name="Use this file", exact=True).click()
    wait_idle(page)
    success = page.get_by_test_id("stAlert").filter(has_text="Loaded 24 people").first
    success.wait_for()
    _no_markup(page, success, f"Loaded 24 people from {plain(name)}.", "Build list success")
    _no_markup(
        page,
        page.locator("[data-heading-text]").filter(has_text="24 people").first,  # not the anchor
        f"{plain(name)} — 24 people",
        "Build list heading",
    )

    # Send (slowly), so another user's session offers to watch the run.
    page.get_by_role("button", name="Continue to Review & send →", exact=True).click()
    wait_idle(page)
    page.get_by_role("button", name="Send 24 gifts").click()
    page.get_by_text(re.compile(r"^Sending: \d+ of 24 done")).wait_for(timeout=30_000)  # the live panel's progress

    other = new_context(context.browser, viewport=VIEWPORT)
    try:
        watcher = other.new_page()
        watcher.goto(app.url + "/review_send")
        wait_idle(watcher, timeout=60)
        button = watcher.get_by_test_id("stButton").filter(has_text="Watch the run in progress on").first
        button.wait_for()
        _no_markup(watcher, button, f"Watch the run in progress on {plain(name)}", "the watch button")
    finally:
        other.close()
    assert image_host.hits == [], f"the browser fetched {image_host.hits} from the data"


@show_server_log_on_failure
def test_webhook_statuses_are_bounded_text_on_gift_status(app, context, image_host):
    statuses = [
        "[evil link](https://evil.example/phish)",
        f"![track]({image_host.url}/track.png)",
        "**bold** :red[r] $y$ ana@evil.example",
    ]
    with requests.Session() as http:
        http.trust_env = False
        for i, status in enumerate(statuses):
            body = gift_body(f"g-text-{i}", status=status, redemption_url="javascript:alert(1)")
            r = http.post(app.url + WEBHOOK_PATH, data=body, headers=signed_headers(body), timeout=30)
            assert r.status_code == 200, r.text
    page = _open(context, app)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Gift status").click()
    page.get_by_role("heading", name="Gift status", exact=True).wait_for()
    wait_idle(page)

    def labels() -> list[str]:
        return [" ".join(el.inner_text().split()) for el in page.get_by_test_id("stMetricLabel").all()]

    poll(lambda: any("evil" in t for t in labels()), timeout=30, what="the webhook statuses as metrics")
    for el in page.get_by_test_id("stMetricLabel").all():
        _no_markup(page, el, "", "a metric label")
    for status in statuses:
        assert plain(status, STATUS_LIMIT) in labels(), (status, labels())
    assert all(len(t) <= STATUS_LIMIT for t in labels()), labels()
    page.wait_for_selector(IDLE)
    assert image_host.hits == [], f"the browser fetched {image_host.hits} from the data"


# -- ui.text.md against Streamlit's own renderer, in every call that renders Markdown ---------------
def probe_values(img: str) -> list[str]:
    return [
        hostile_name(img),
        "[evil link](https://evil.example/phish)",
        f"![track]({img}/track.png)",
        f"![]({img}/bare.png)",
        f"<img src={img}/h.png onerror=alert(1)> <script>alert(1)</script> <b>b</b> <a href=https://e.example>a</a>",
        ":red[red] :blue-background[b] :green-badge[g] :small[s] :material/home: :smile: $x^2$ $$y$$",
        "www.evil.example ana@evil.example https://evil.example/x mailto:a@b.example xmpp:a@b.example",
        "# heading\n- item\n1. one\n> quote\n```\ncode\n```\n    indented\n| a | b |\n|---|---|",
        "`code` ``a`b`` ***x*** __y__ ~~z~~ \\*escaped\\* &amp; &lt;b&gt; &#x3C; &copy;",
        "a\x1b[2Jb\u202egnp.exe\x00c\r\nd\te\u2028f",
        "    four leading spaces, trailing   ",
        "x" * 500,
        "[a]: https://evil.example/ref\n[a] [a][] <https://evil.example/auto> ![](data:image/png;base64,AAAA)",
        "Row 3: ana@example.com — gifted 2026-01-01 (status: redeemed) 100% *done* _ok_ \\ end",
    ]


@pytest.fixture(scope="module")
def probe(browser, image_host, tmp_path_factory):
    values = probe_values(image_host.url)
    tmp = tmp_path_factory.mktemp("render-probe")
    (tmp / "values.json").write_text(json.dumps(values), encoding="utf-8")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANDOPEN_", "GIFTRUN_"))}
    env.update(
        GIFTRUN_PROBE_VALUES=str(tmp / "values.json"),
        PYTHONPATH=str(REPO),
        STREAMLIT_BROWSER_GATHER_USAGE_STATS="false",
    )
    log = open(tmp / "probe.log", "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "tests/render_probe.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
        ],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        poll(lambda: _healthy(f"http://127.0.0.1:{port}/_stcore/health"), timeout=60, what="the probe app")
        yield f"http://127.0.0.1:{port}", values
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def _healthy(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _squash(text: str) -> str:
    return " ".join(text.split())


def test_md_shows_exactly_the_text_in_every_markdown_call(probe, context, image_host):
    url, values = probe
    page = context.new_page()
    for i, value in enumerate(values):
        page.goto(f"{url}/?i={i}")
        wait_idle(page, timeout=60)
        boxes = page.locator("[class*='st-key-probe-']")
        assert boxes.count() == 21, boxes.count()
        for box in boxes.all():
            call = re.search(r"st-key-probe-([\w-]+)", box.get_attribute("class")).group(1)
            for container in box.get_by_test_id("stMarkdownContainer").all():
                heading = container.locator("[data-heading-text]")  # a heading's own <h1> and anchor are fine
                html = (heading if heading.count() else container).inner_html()
                found = MARKUP.search(html)
                assert not found, f"value {i}, st.{call}: {found.group(0)!r} made from {value[:60]!r}: {html[:400]}"
            assert _squash(plain(value)) in _squash(box.inner_text()), (
                f"value {i}, st.{call} shows {_squash(box.inner_text())[:300]!r}, not {_squash(plain(value))[:300]!r}"
            )
    page.wait_for_load_state("networkidle")  # every fetch the page would make has been made
    assert image_host.hits == [], f"the browser fetched {image_host.hits} from the data"
