"""The playground end to end, in a real headless browser.

Debian's chromium, driven by Playwright (``apt-get install -y chromium``; Playwright's own
browser download is never used). The test starts the server on a free loopback port, opens
the page, picks the spirals, presses Start, waits until the page shows a test loss below
0.3 (chance level is ln 2 = 0.69), takes a screenshot and checks the heat map is not blank.
It is skipped, saying why, only where no chromium executable exists.
"""

import os
import shutil
import time

import pytest

pytest.importorskip("starlette", reason="the playground needs starlette")
pytest.importorskip("uvicorn", reason="the playground needs uvicorn")
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="the browser test needs the playwright package")
httpx = pytest.importorskip("httpx", reason="the browser test needs httpx")

from deltagrad.playground.server import running_server

CHROMIUM = next((path for path in ("/usr/bin/chromium", shutil.which("chromium"),
                                   shutil.which("chromium-browser"))
                 if path and os.access(path, os.X_OK)), None)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
THRESHOLD = 0.3

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium executable found "
                                "(install it with: apt-get install -y chromium)")

# Pixel statistics of the heat-map canvas, computed in the page.
CANVAS_STATS = """() => {
  const c = document.getElementById('heatmap');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0, sum = 0, sq = 0, orange = 0, blue = 0;
  for (let i = 0; i < d.length; i += 4) {
    const v = d[i] + d[i + 1] + d[i + 2];
    n++; sum += v; sq += v * v;
    if (d[i] > d[i + 2] + 40) orange++;
    if (d[i + 2] > d[i] + 40) blue++;
  }
  const mean = sum / n;
  return {variance: sq / n - mean * mean, orange: orange / n, blue: blue / n};
}"""


def wait_until(condition, seconds: float, message: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


def test_spirals_train_in_the_browser(tmp_path):
    with running_server() as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            # The page runs under its own Content-Security-Policy (no eval), so the waits
            # below poll from Python instead of asking the page to evaluate script text.
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            errors = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(url)
            page.click("[data-dataset=spirals]")
            page.wait_for_selector("[data-dataset=spirals].selected")
            wait_until(lambda: page.inner_text("#test-loss") != "–", 10, "no first loss")
            start_loss = float(page.inner_text("#test-loss"))
            assert start_loss > 0.5  # untrained: about ln 2

            page.click("#start")
            page.wait_for_selector("#start[data-running=true]")
            began = time.monotonic()
            wait_until(lambda: float(page.inner_text("#test-loss")) < THRESHOLD, 45,
                       f"the test loss shown did not fall below {THRESHOLD}")
            took = time.monotonic() - began
            epochs = int(page.inner_text("#epoch").replace(",", ""))
            assert epochs > 0

            page.check("#show_test")
            shot = tmp_path / "playground.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

            stats = page.evaluate(CANVAS_STATS)
            assert stats["variance"] > 500, stats  # not a blank (or single-colour) canvas
            assert stats["orange"] > 0.1 and stats["blue"] > 0.1, stats  # both classes' areas

            page.click("#start")  # pause
            page.wait_for_selector("#start[data-running=false]")
            session = page.get_attribute("body", "data-session")

            # A second tab gets a session of its own, untouched by the first one's training.
            other = context.new_page()
            other.goto(url)
            other.wait_for_selector("body[data-session]")
            assert other.get_attribute("body", "data-session") != session
            wait_until(lambda: other.inner_text("#epoch") == "0000000", 10, "no epoch counter")
            assert int(page.inner_text("#epoch").replace(",", "")) >= epochs

            # Closing a tab closes its session on the server.
            page.close()
            deadline = time.monotonic() + 5
            while httpx.get(f"{url}api/sessions/{session}").status_code != 404:
                assert time.monotonic() < deadline, "closing the tab left its session open"
                time.sleep(0.05)
            assert errors == []
        finally:
            browser.close()
    print(f"spirals: test loss below {THRESHOLD} after {took:.1f} s ({epochs} epochs)")
