"""While a run goes, Review & send tells one truth, in a real Chromium: the metrics move with
the progress line (the same counts, every time they are read), rows in flight count as Sending
(never as Unknown outcome), the confirmation and Send give way to the run's panel with its Stop,
and the end says what happened and links to Gift status. The run goes to a sandbox that answers
slowly, so it lasts several seconds."""

from __future__ import annotations

import re

import pytest

from lib.sandbox import Faults, Sandbox
from tests.browser_support import VIEWPORT, AppServer, metrics, new_context, poll, wait_idle, wait_metric
from tests.receivers import LIVE_ENV
from tests.support import available_campaign
from tests.test_browser import show_server_log_on_failure

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # what the page shows does not depend on the store
PEOPLE = 60
PROGRESS = re.compile(r"Sending: ([\d,]+) of ([\d,]+) done .*?· ([\d,]+) sent · ([\d,]+) not sent · ([\d,]+) unknown")


@pytest.fixture(scope="module")
def app(browser, tmp_path_factory):
    sb = Sandbox(faults=Faults(latency=2.0)).start()  # 60 sends at 10 a second, 2 s each: a run of ~8 s
    tmp = tmp_path_factory.mktemp("browser-live-run")
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
        sb.stop()


def _n(text: str) -> int:
    return int(text.replace(",", ""))


READ = """() => {
  const m = {};
  for (const e of document.querySelectorAll('[data-testid="stMetric"]')) {
    const label = e.querySelector('[data-testid="stMetricLabel"]');
    const value = e.querySelector('[data-testid="stMetricValue"]');
    if (label && value) m[label.innerText.trim()] = value.innerText.trim();
  }
  const bar = document.querySelector('[data-testid="stProgress"]');
  return {m, progress: bar ? bar.innerText : null};
}"""


def sample(page) -> tuple[dict[str, int], tuple[int, ...]] | None:
    """The metrics and the progress line's numbers as the page shows them at one moment (one read
    of the page); None when there is no progress line."""
    read = page.evaluate(READ)
    found = PROGRESS.search(read["progress"] or "")
    if not found:
        return None
    shown = {k: _n(v) for k, v in read["m"].items() if re.fullmatch(r"[\d,]+", v)}
    return shown, tuple(_n(g) for g in found.groups())


@pytest.mark.slow
@show_server_log_on_failure
def test_metrics_grid_and_progress_tell_one_truth_while_the_run_goes(app, browser):
    ctx = new_context(browser, viewport=VIEWPORT)
    ctx.set_default_timeout(30_000)
    page = ctx.new_page()
    page.goto(app.url)
    wait_idle(page, timeout=60)
    people = "First Name,Last Name,Email,Approved\n" + "".join(
        f"Person{i:02d},Live,p{i:02d}@live.example.com,TRUE\n" for i in range(PEOPLE)
    )
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        files=[{"name": "live.csv", "mimeType": "text/csv", "buffer": people.encode()}]
    )
    wait_idle(page)
    page.get_by_role("button", name="Use this file", exact=True).click()
    wait_idle(page)
    page.get_by_role("button", name="Continue to Review & send →").click()
    wait_idle(page)
    wait_metric(page, "To send", PEOPLE)
    page.get_by_role("button", name=f"Send {PEOPLE} gifts").click()

    page.get_by_test_id("stProgress").wait_for(timeout=30_000)
    seen: list[tuple[dict[str, int], tuple[int, ...]]] = []
    last: list = []

    def agree() -> bool:
        """One reading of metrics and progress; a reading taken while the page redraws may mix two
        moments, so a disagreement must be gone at the next reading."""
        now = sample(page)
        last[:] = [now]
        if now is None:
            return False
        m, (reached, total, sent, not_sent, unknown) = now
        ok = (
            m.get("Sent") == sent
            and m.get("Unknown outcome") == unknown
            and m.get("To send", 0) + m.get("Sending", 0) == total - reached + not_sent
            and sum(m.values()) == PEOPLE
        )
        if ok:
            seen.append(now)
        return ok

    while sample(page) is not None and not page.get_by_text("Run finished").count():
        try:
            poll(agree, timeout=10, interval=0.2, what="the metrics to agree with the progress line")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: last reading {last}") from None
        assert not page.get_by_role("button", name=re.compile(r"^Send \d")).count(), "Send still shows during the run"
        assert not page.get_by_label(re.compile("to confirm")).count(), "the confirmation still shows during the run"
        page.wait_for_timeout(400)
    assert len(seen) >= 3, f"the run was over before it could be watched: {seen}"
    moving = [m for m, _ in seen if m.get("Sending", 0) > 0]
    assert moving, seen  # rows in flight were counted as Sending
    assert all(m.get("Unknown outcome") == 0 for m, _ in seen), seen  # never as unknown
    assert len({p[2] for _, p in seen}) >= 2, seen  # Sent moved while it was watched

    page.get_by_text("Run finished").wait_for(timeout=60_000)
    wait_idle(page)
    assert "60 sent" in page.get_by_text("Run finished").inner_text()
    assert "resolved" not in page.get_by_text("Run finished").inner_text()
    link = page.get_by_role("link", name=re.compile("Follow these gifts on Gift status"))
    link.wait_for()
    assert metrics(page)["Sent"] == PEOPLE
    link.click()
    page.get_by_role("heading", name="Gift status", exact=True).wait_for()
    ctx.close()
