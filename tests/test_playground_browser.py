"""The playground end to end, in a real headless browser.

Debian's chromium, driven by Playwright (``apt-get install -y chromium``; Playwright's own
browser download is never used). The server runs on a free loopback port; one browser serves
every test. What is checked, as a user would see it:

- spirals: Start trains until the page shows a test loss below 0.3 (chance level is
  ln 2 = 0.69); the heat map shows both classes; the diagram has one heat-map canvas per
  input feature and per neuron, none blank; tabs have sessions of their own; closing a tab
  closes its session;
- circles with x₁² and x₂² switched on and no hidden layer reach a test loss below 0.1 (a
  linear model on x₁ and x₂ alone stays at chance);
- the gradients view: Step plays the step (forward, backward, update), then the links carry
  the step's ∂loss/∂w and the neurons their mean |δ|; a click on a training point shows its
  δ trace from ``dg.explain``;
- regression on the plane reaches a test loss (mean squared error) below 0.005, twice what
  the target's noise alone costs (0.05² = 0.0025; predicting the mean costs about 0.17);
- a server whose every session was taken through the API still gives a new tab one.

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
THRESHOLD = 0.3  # spirals, cross-entropy
CIRCLES_THRESHOLD = 0.1  # circles from x₁², x₂² without hidden layers, cross-entropy
REGRESSION_THRESHOLD = 0.005  # plane, mean squared error

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

# Each diagram canvas: what it shows (feature, or layer and neuron) and its pixel spread.
NODE_MAPS = """() => Array.from(document.querySelectorAll('#diagram canvas.node-map'), (c) => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0, sum = 0, sq = 0;
  for (let i = 0; i < d.length; i += 4) {
    const v = d[i] + d[i + 1] + d[i + 2];
    n++; sum += v; sq += v * v;
  }
  const node = c.parentElement;
  return {feature: node.dataset.feature || null, layer: node.dataset.layer || null,
          spread: Math.sqrt(Math.max(0, sq / n - (sum / n) ** 2))};
})"""

# The links of the diagram: the number each one shows and its colour.
LINKS = """() => Array.from(document.querySelectorAll('#diagram path.link'), (p) => ({
  value: p.dataset.value, stroke: p.getAttribute('stroke'), title: p.parentNode.textContent}))"""

# What the pointer finds halfway along the first link: the tooltip of the link under it.
HOVERED_LINK = """() => {
  const path = document.querySelector('#diagram path.link');
  const point = path.getPointAtLength(path.getTotalLength() / 2);
  const box = document.querySelector('#diagram svg.links').getBoundingClientRect();
  const hit = document.elementFromPoint(box.left + point.x, box.top + point.y);
  return hit && hit.matches('path.hit') ? hit.parentNode.textContent : null;
}"""

# The diagram's phases from now on, as the page goes through them (a phase lasts a fraction
# of a second: too short to be sure of catching it by polling from here). PHASES reads them.
RECORD_PHASES = """() => {
  const diagram = document.getElementById('diagram');
  window.phases = [];
  new MutationObserver((records) => records.forEach((r) => window.phases.push(r.oldValue)))
    .observe(diagram, {attributeFilter: ['data-phase'], attributeOldValue: true});
}"""
PHASES = """() => window.phases.concat([document.getElementById('diagram').dataset.phase])"""


def wait_until(condition, seconds: float, message: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


def shown_loss(page) -> float:
    text = page.inner_text("#test-loss")
    return float("inf") if text == "–" else float(text)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def url():
    with running_server() as address:
        yield address


@pytest.fixture
def context(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield context
    context.close()


def open_page(context, url):
    """A new tab on the playground, with its errors collected, once its session is ready."""
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.goto(url)
    page.wait_for_selector("body[data-session]")
    page.wait_for_selector("#diagram canvas.node-map")
    return page


def train_until(page, threshold: float, seconds: float) -> float:
    """Start, wait until the test loss shown is below ``threshold``, pause; the time taken."""
    page.click("#start")
    page.wait_for_selector("#start[data-running=true]")
    began = time.monotonic()
    wait_until(lambda: shown_loss(page) < threshold, seconds,
               f"the test loss shown did not fall below {threshold}")
    took = time.monotonic() - began
    page.click("#start")  # pause
    page.wait_for_selector("#start[data-running=false]")
    return took


def test_spirals_train_in_the_browser(context, url, tmp_path):
    # The page runs under its own Content-Security-Policy (no eval), so the waits below poll
    # from Python instead of asking the page to evaluate script text.
    page = open_page(context, url)
    page.click("[data-dataset=spirals]")
    page.wait_for_selector("[data-dataset=spirals].selected")
    wait_until(lambda: page.inner_text("#test-loss") != "–", 10, "no first loss")
    assert shown_loss(page) > 0.5  # untrained: about ln 2

    took = train_until(page, THRESHOLD, 45)
    epochs = int(page.inner_text("#epoch").replace(",", ""))
    assert epochs > 0

    page.check("#show_test")
    shot = tmp_path / "playground.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    stats = page.evaluate(CANVAS_STATS)
    assert stats["variance"] > 500, stats  # not a blank (or single-colour) canvas
    assert stats["orange"] > 0.1 and stats["blue"] > 0.1, stats  # both classes' areas

    # The diagram: one heat map per input feature and per neuron (8 + 8 hidden, 2 outputs),
    # none of them blank.
    nodes = page.evaluate(NODE_MAPS)
    assert [n["feature"] for n in nodes[:7]] == ["x1", "x2", "x1_sq", "x2_sq", "x1_x2",
                                                  "sin_x1", "sin_x2"]
    assert [n["layer"] for n in nodes[7:]] == ["1"] * 8 + ["2"] * 8 + ["3"] * 2
    assert min(n["spread"] for n in nodes) > 5, nodes
    session = page.get_attribute("body", "data-session")

    # A second tab gets a session of its own, untouched by the first one's training.
    other = open_page(context, url)
    assert other.get_attribute("body", "data-session") != session
    wait_until(lambda: other.inner_text("#epoch") == "0000000", 10, "no epoch counter")
    assert int(page.inner_text("#epoch").replace(",", "")) >= epochs

    # Closing a tab closes its session on the server.
    page.close()
    deadline = time.monotonic() + 5
    while httpx.get(f"{url}api/sessions/{session}").status_code != 404:
        assert time.monotonic() < deadline, "closing the tab left its session open"
        time.sleep(0.05)
    assert page.errors == [] and other.errors == []
    print(f"spirals: test loss below {THRESHOLD} after {took:.1f} s ({epochs} epochs)")


def test_circles_from_squared_features_without_hidden_layers(context, url):
    page = open_page(context, url)
    page.click("[data-dataset=circles]")
    page.wait_for_selector("[data-dataset=circles].selected")
    for feature in ("x1_sq", "x2_sq"):
        page.click(f"[data-feature={feature}]")
        page.wait_for_selector(f"[data-feature={feature}].on")
    for left in ("1", "0"):
        page.click("#remove_layer")
        page.wait_for_selector(f"#layer_count:text-is('{left}')")
    page.wait_for_selector("#remove_layer:disabled")
    assert shown_loss(page) > 0.5
    took = train_until(page, CIRCLES_THRESHOLD, 30)
    # Four input features straight to the two outputs: 4 x 2 links, 7 + 2 heat maps.
    nodes = page.evaluate(NODE_MAPS)
    assert len(nodes) == 9 and [n["layer"] for n in nodes[7:]] == ["1", "1"]
    assert min(n["spread"] for n in nodes) > 5, nodes
    assert len(page.evaluate(LINKS)) == 8
    assert page.errors == []
    print(f"circles from x1², x2², no hidden layer: test loss below {CIRCLES_THRESHOLD} "
          f"after {took:.1f} s")


def test_gradients_view_plays_a_step_and_explains_a_point(context, url, tmp_path):
    page = open_page(context, url)
    page.check("#view_gradients")
    links = page.evaluate(LINKS)
    assert len(links) == 2 * 8 + 8 * 8 + 8 * 2
    assert all(link["value"] == "" for link in links)  # no step yet: nothing to show

    page.evaluate(RECORD_PHASES)
    page.click("#step")
    wait_until(lambda: page.evaluate(PHASES)[-2:] == ["update", "idle"], 30,
               "the step was not played to its end")
    phases = page.evaluate(PHASES)
    assert [p for i, p in enumerate(phases) if i == 0 or p != phases[i - 1]] == [
        "idle", "forward", "backward", "update", "idle"]
    links = page.evaluate(LINKS)
    values = [float(link["value"]) for link in links]
    assert sum(v != 0 for v in values) > len(values) * 0.9
    assert {link["stroke"] for link in links} <= {"rgb(214,51,108)", "rgb(43,138,62)"}
    assert all(link["title"].startswith("∂loss/∂w = ") for link in links)
    assert page.evaluate(HOVERED_LINK).startswith("∂loss/∂w = ")  # a thin link is hoverable
    deltas = page.eval_on_selector_all("#diagram .neuron", "n => n.map(e => e.dataset.delta)")
    assert len(deltas) == 18 and all(float(d) > 0 for d in deltas)
    page.screenshot(path=str(tmp_path / "gradients.png"))

    # A click on a training point shows its backward pass, from dg.explain.
    sid = page.get_attribute("body", "data-session")
    data = httpx.get(f"{url}api/sessions/{sid}/data").json()
    (a, b), (x0, x1, y0, y1) = data["train"]["x"][0], data["bounds"]
    box = page.locator("#heatmap").bounding_box()
    page.mouse.click(box["x"] + (a - x0) / (x1 - x0) * box["width"],
                     box["y"] + (y1 - b) / (y1 - y0) * box["height"])
    wait_until(lambda: page.inner_text("#trace").startswith("Backward pass from loss = "), 5,
               "no δ trace after clicking a training point")
    assert "δlayers.0.weight" in page.inner_text("#trace")
    assert page.inner_text("#trace-title").startswith("Backward pass of training point 0 ")
    assert page.errors == []


def test_regression_on_the_plane(context, url):
    page = open_page(context, url)
    page.select_option("#problem", "regression")
    page.wait_for_selector("[data-dataset=plane].selected")
    page.wait_for_selector("body[data-problem=regression]")
    wait_until(lambda: shown_loss(page) < float("inf"), 10, "no first loss")
    assert shown_loss(page) > 0.05  # untrained
    took = train_until(page, REGRESSION_THRESHOLD, 30)
    assert page.inner_text("#test-accuracy") == "–"
    nodes = page.evaluate(NODE_MAPS)
    assert [n["layer"] for n in nodes[-1:]] == ["3"]  # one output neuron
    assert page.errors == []
    print(f"plane: test MSE below {REGRESSION_THRESHOLD} after {took:.1f} s")


def test_a_full_server_still_gives_a_new_tab_a_session(browser):
    with running_server(max_sessions=3) as address:
        taken = [httpx.post(f"{address}api/sessions", json={}).json()["id"] for _ in range(3)]
        context = browser.new_context()
        try:
            page = open_page(context, address)
            sid = page.get_attribute("body", "data-session")
            assert sid not in taken
            assert httpx.get(f"{address}api/sessions/{sid}").status_code == 200
            gone = [s for s in taken if httpx.get(f"{address}api/sessions/{s}").status_code
                    == 404]
            assert gone == taken[:1]  # the least recently watched made room
            assert page.inner_text("#message") == "" and page.errors == []
        finally:
            context.close()
