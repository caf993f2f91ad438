"""Helpers for the browser tests: the app server, waiting on Streamlit, and the canvas grid.

Kept free of pytest fixtures so `test_browser.py` reads as the user's flow.
"""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from tests import backends

REPO = Path(__file__).resolve().parents[1]
# The README's screenshots come from this run: with GIFTRUN_UPDATE_SCREENSHOTS=1 they are
# written to docs/screenshots; otherwise to test-artifacts/ (git-ignored), so running the
# tests never changes tracked files.
SCREENSHOTS = (
    REPO / "docs" / "screenshots"
    if os.environ.get("GIFTRUN_UPDATE_SCREENSHOTS") == "1"
    else REPO / "test-artifacts" / "screenshots"
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 1000}

IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
RUNNING = '[data-testid="stApp"][data-test-script-state="running"]'

T = TypeVar("T")
IN_CI = os.environ.get("CI", "").lower() == "true"


def browser_unavailable(reason: str) -> None:
    """Skip a browser test on a developer's machine; fail it in CI, where the browser must run."""
    import pytest

    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the browser tests must run; .ci/run installs chromium)", pytrace=False)
    pytest.skip(reason)


# ------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """`streamlit run app.py` in demo mode (unless `extra_env` sets a key), on a free port, with its own store."""

    def __init__(
        self,
        data_dir: Path,
        log_path: Path,
        *,
        demo_speed: float = 30.0,
        extra_env: dict[str, str] | None = None,
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.log_path = log_path
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANDOPEN_", "GIFTRUN_", "STREAMLIT_"))}
        env.update(
            GIFTRUN_DEMO_SPEED=str(demo_speed),
            STREAMLIT_BROWSER_GATHER_USAGE_STATS="false",
            PYTHONUNBUFFERED="1",
            **backends.env(data_dir),
        )  # the store: a folder, or the test database
        env.update(extra_env or {})  # e.g. GIFTRUN_DAILY_LIMIT for one server
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app.py",
                "--server.port",
                str(self.port),
                "--server.address",
                "127.0.0.1",
                "--server.headless",
                "true",
            ],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec_fn,
        )

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"streamlit exited with code {self.proc.returncode} before it was healthy\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError as exc:
                last = str(exc)
            time.sleep(0.25)
        raise RuntimeError(f"streamlit not healthy after {timeout:.0f}s ({last})\n{self.log_tail()}")

    def log_tail(self, lines: int = 60) -> str:
        try:
            if not self._log.closed:
                self._log.flush()
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- last {lines} lines of the streamlit log ({self.log_path}) ---\n{tail}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


# ------------------------------------------------------------------------- waiting


def poll(check: Callable[[], T], *, timeout: float, interval: float = 0.25, what: str = "condition") -> T:
    """Call `check` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last: T = check()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
        time.sleep(interval)
        last = check()
    return last


# Notes in the page when the person last acted (any mouse, key or input event) and when the app last
# started a script run, from every change of `stApp`'s script state however quick: so waiting for the
# run an action caused is a condition (a run that started after the action has ended), not a clock.
RUN_WATCH_JS = """(() => {
  window.__giftrunInput = 0;
  window.__giftrunRunStart = -1;
  for (const type of ['mousedown', 'mouseup', 'click', 'keydown', 'keyup', 'input', 'change', 'paste', 'drop'])
    document.addEventListener(type, () => { window.__giftrunInput = performance.now(); }, true);
  new MutationObserver((records) => {
    for (const r of records)
      if (r.oldValue !== 'running') window.__giftrunRunStart = performance.now();  // it became "running"
  }).observe(document, {subtree: true, attributes: true, attributeOldValue: true,
                        attributeFilter: ['data-test-script-state']});
})()"""
RERUN_GRACE_MS = 400  # how long an action that causes no run at all (a keystroke mid-cell) holds the test
_SETTLED_JS = """(grace) => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  const input = window.__giftrunInput ?? 0, started = window.__giftrunRunStart ?? -1;  // (a page not watched: ??)
  if (started >= input) return true;  // the run the action caused has ended
  return performance.now() - input > grace;  // the action caused none
}"""


def new_context(browser, **kwargs):
    """A browser context whose pages note actions and script runs (see `wait_idle`)."""
    ctx = browser.new_context(**kwargs)
    ctx.add_init_script(RUN_WATCH_JS)
    return ctx


def wait_idle(page, timeout: float = 30.0) -> None:
    """Wait until the script run triggered by the last action has finished: a run that started
    after the person's last action has ended; or none started within RERUN_GRACE_MS of it."""
    page.wait_for_function(_SETTLED_JS, arg=RERUN_GRACE_MS, timeout=timeout * 1000, polling=50)
    assert_no_exception(page)


def wait_still(page, target=None, *, timeout: float = 5.0) -> None:
    """Wait until `target` (a locator; the whole page by default) looks the same in two shots in a
    row: a canvas grid has repainted after a scroll, an animation has ended. A condition, not a clock."""

    def shot() -> bytes:
        return target.screenshot(animations="allow") if target is not None else page.screenshot()

    last = shot()

    def same() -> bool:
        nonlocal last
        page.wait_for_timeout(50)  # the interval between the two shots compared
        now, last = last, shot()
        return now == last

    poll(same, timeout=timeout, interval=0, what="the picture to stop changing")


def assert_no_exception(page) -> None:
    errors = page.locator('[data-testid="stException"]')
    if errors.count():
        raise AssertionError("the app shows an exception:\n" + "\n".join(errors.all_inner_texts()))


def metrics(page) -> dict[str, int]:
    """Every st.metric on the page as {label: value}."""
    out: dict[str, int] = {}
    for m in page.locator('[data-testid="stMetric"]').all():
        label = m.locator('[data-testid="stMetricLabel"]').inner_text().strip()
        value = m.locator('[data-testid="stMetricValue"]').inner_text().strip()
        if re.fullmatch(r"-?\d+", value.replace(",", "")):
            out[label] = int(value.replace(",", ""))
    return out


def wait_metric(page, label: str, expected: int, *, timeout: float = 15.0) -> dict[str, int]:
    """Wait until metric `label` shows `expected`; fail with every metric seen last."""
    seen: dict[str, int] = {}

    def check() -> bool:
        nonlocal seen
        seen = metrics(page)
        return seen.get(label) == expected

    try:
        poll(check, timeout=timeout, what=f"metric {label!r} == {expected}")
    except AssertionError:
        raise AssertionError(f"metric {label!r} should be {expected}, the page shows {seen}") from None
    page.wait_for_selector(IDLE, timeout=timeout * 1000)
    return seen


def full_page_screenshot(page, path: Path, *, max_height: int = 2600) -> None:
    """Streamlit scrolls inside `stMain`, so Playwright's full_page sees one viewport only:
    grow the viewport to the content's height for the shot, then put it back."""
    path.parent.mkdir(parents=True, exist_ok=True)
    page.wait_for_selector(IDLE)
    height = page.evaluate("""() => {
        const main = document.querySelector('[data-testid="stMain"]');
        if (!main) return document.body.scrollHeight;
        main.scrollTo(0, 0);  // the shot starts at the top of the page
        let bottom = 0;  // the lowest element, not stMain's scrollHeight (that has a tall bottom padding)
        for (const el of main.querySelectorAll('[data-testid="stElementContainer"]'))
            bottom = Math.max(bottom, el.getBoundingClientRect().bottom);
        return bottom ? bottom + 48 : main.scrollHeight;
    }""")
    size = page.viewport_size
    tall = max(size["height"], min(int(height), max_height))
    try:
        if tall != size["height"]:
            page.set_viewport_size({"width": size["width"], "height": tall})
            wait_still(page)  # the canvas grid and charts repaint at the new size
        page.screenshot(path=str(path))
    finally:
        page.set_viewport_size(size)
        wait_still(page)


# ------------------------------------------------------------------------- the canvas grid


@dataclass(frozen=True)
class GridGeometry:
    """Where things are in an st.data_editor canvas, in page coordinates."""

    x: float
    y: float
    first_col_right: float  # right edge of the first column, relative to x
    header_bottom: float  # relative to y
    row_height: float

    @property
    def first_col_center_x(self) -> float:
        return self.x + self.first_col_right / 2

    def row_center_y(self, row: int) -> float:
        """Centre of visible row `row` (1-based, grid scrolled to the top)."""
        return self.y + self.header_bottom + (row - 0.5) * self.row_height

    def second_col_x(self) -> float:
        return self.x + self.first_col_right + 15


def _is_line(pixel: tuple[int, int, int]) -> bool:
    return sum(pixel[:3]) < 740  # grid lines are ~(234,234,233); the background is white


def grid_geometry(page, grid) -> GridGeometry:
    """Measure the grid from a screenshot: the first column's right border (the first
    vertical line spanning the grid's height) and the horizontal row lines in that
    column's left padding. Measured, not assumed, so fonts on another machine don't
    move the clicks off the checkboxes."""
    from PIL import Image

    grid.scroll_into_view_if_needed()  # a clip is taken from the viewport
    box = grid.bounding_box()
    assert box, "the grid is not visible"
    img = Image.open(io.BytesIO(page.screenshot(clip=box))).convert("RGB")
    scale = img.width / box["width"]  # 1.0 unless the device scale factor says otherwise
    w, h = img.size
    px = img.load()
    ys = range(int(h * 0.05), int(h * 0.9))
    right = next(
        (
            x
            for x in range(int(8 * scale), min(w, int(400 * scale)))
            if sum(_is_line(px[x, y]) for y in ys) >= 0.9 * len(ys)
        ),
        None,
    )
    assert right is not None, "could not find the first column's border in the grid"
    xs = range(int(2 * scale), int(9 * scale))
    lines = [y for y in range(h) if all(_is_line(px[x, y]) for x in xs)]
    # collapse runs of adjacent pixels (a line may be 2 device pixels thick)
    rows = [y for i, y in enumerate(lines) if i == 0 or y - lines[i - 1] > 2]
    rows = [y for y in rows if y > 20 * scale]  # drop the grid's top border, if it was captured
    assert len(rows) >= 3, f"could not find the grid's row lines (found {rows})"
    header_bottom, row_height = rows[0], rows[1] - rows[0]
    assert 25 * scale <= row_height <= 50 * scale, f"odd row height {row_height / scale}px"
    return GridGeometry(box["x"], box["y"], right / scale, header_bottom / scale, row_height / scale)


def collapse_sidebar(page) -> None:
    """Give the main area the whole width (the collapse button shows on hover)."""
    page.get_by_test_id("stSidebar").hover()
    page.get_by_test_id("stSidebarCollapseButton").locator("button").click()
    page.get_by_test_id("stExpandSidebarButton").wait_for()
    wait_still(page)  # the main area animates to its new width


def scroll_grid(page, grid, *, dx: float = 0, dy: float = 0) -> None:
    box = grid.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(dx, dy)
    wait_still(page, grid)


def checkbox_checked(page, geo: GridGeometry, row: int) -> bool:
    """Whether the Approved checkbox drawn on visible row `row` is ticked: a ticked box is
    filled (most of its pixels dark), an empty one is only a thin border."""
    from PIL import Image

    cx, cy = geo.first_col_center_x, geo.row_center_y(row)
    shot = page.screenshot(clip={"x": cx - 8, "y": cy - 7, "width": 16, "height": 14})
    img = Image.open(io.BytesIO(shot)).convert("RGB")
    pixels = list(img.getdata())
    return sum(sum(p) < 600 for p in pixels) > 0.45 * len(pixels)
