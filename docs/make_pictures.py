"""Redraw the pictures and the worked trace of docs/backprop-by-hand.md.

    python docs/make_pictures.py               # the graph pictures and the trace
    python docs/make_pictures.py --playground  # also a screenshot of the playground page

Needs Graphviz's ``dot`` (apt-get install graphviz / brew install graphviz); the screenshot
needs chromium and the playwright package.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np

import deltagrad as dg
from deltagrad import nn

HERE = Path(__file__).resolve().parent
IMAGES = HERE / "images"
DPI = 96


def draw(target, name: str, **options) -> None:
    dg.viz.draw(target, IMAGES / name, dpi=DPI, **options)
    print("wrote", IMAGES / f"{name}.svg", "and .png")


def gates() -> None:
    # One multiply gate: z = x y.
    x = dg.tensor(np.float64(3.0), requires_grad=True)
    y = dg.tensor(np.float64(-4.0), requires_grad=True)
    z = x * y
    draw(z, "gate_mul", names={"x": x, "y": y, "z": z}, backward=True, rankdir="LR")

    # Two gates: f = (x + y) z.
    x, y, z = (dg.tensor(np.float64(v), requires_grad=True) for v in (-2.0, 5.0, -4.0))
    q = x + y
    f = q * z
    draw(f, "gates_add_mul", names={"x": x, "y": y, "z": z, "q": q, "f": f}, backward=True,
         rankdir="LR")

    # A fork: x is used twice, so its δ is a sum.
    x = dg.tensor(np.float64(3.0), requires_grad=True)
    y = dg.tensor(np.float64(2.0), requires_grad=True)
    f = x * y + x
    draw(f, "fork", names={"x": x, "y": y, "f": f}, backward=True, rankdir="LR")

    # One sigmoid neuron: a = σ(w·x + b).
    w = dg.tensor(np.array([0.5, -0.3]), requires_grad=True)
    b = dg.tensor(np.float64(0.1), requires_grad=True)
    xs = dg.tensor(np.array([1.0, 2.0]))
    z = (w * xs).sum() + b
    a = z.sigmoid()
    draw(a, "neuron", names={"w": w, "b": b, "z": z, "a": a}, backward=True)


def mazur_scalar():
    """The worked example neuron by neuron (see the tutorial for the source)."""
    f = np.float64
    w1, w2, w3, w4, w5, w6, w7, w8 = (dg.tensor(f(v), requires_grad=True)
                                      for v in (.15, .20, .25, .30, .40, .45, .50, .55))
    b1, b2 = dg.tensor(f(.35), requires_grad=True), dg.tensor(f(.60), requires_grad=True)
    i1, i2 = 0.05, 0.10
    net_h1 = w1 * i1 + w2 * i2 + b1
    net_h2 = w3 * i1 + w4 * i2 + b1
    out_h1, out_h2 = net_h1.sigmoid(), net_h2.sigmoid()
    net_o1 = w5 * out_h1 + w6 * out_h2 + b2
    net_o2 = w7 * out_h1 + w8 * out_h2 + b2
    out_o1, out_o2 = net_o1.sigmoid(), net_o2.sigmoid()
    E_o1 = 0.5 * (0.01 - out_o1) ** 2
    E_o2 = 0.5 * (0.99 - out_o2) ** 2
    E_total = E_o1 + E_o2
    return E_total, dict(locals())


def mazur() -> None:
    with dg.viz.trace() as tape:  # recorded, so the constants (0.05, 0.5, ...) show too
        E_total, names = mazur_scalar()
        E_total.backward()
    draw(tape.graph(E_total, names=names), "mazur_scalar", digits=4)
    E_total, names = mazur_scalar()
    buffer = io.StringIO()
    dg.explain(E_total, names=names, decimals=9, file=buffer)
    (IMAGES / "mazur_trace.txt").write_text(buffer.getvalue())
    print("wrote", IMAGES / "mazur_trace.txt")

    # The same network with two Linear layers, recorded with trace().
    hidden, output = nn.Linear(2, 2).to(np.float64), nn.Linear(2, 2).to(np.float64)
    hidden.load_state_dict({"weight": [[.15, .20], [.25, .30]], "bias": [.35, .35]})
    output.load_state_dict({"weight": [[.40, .45], [.50, .55]], "bias": [.60, .60]})
    model = nn.Sequential(hidden, nn.Sigmoid(), output, nn.Sigmoid())
    x, target = dg.tensor(np.array([[0.05, 0.10]])), np.array([[0.01, 0.99]])
    with dg.viz.trace(names={"x": x}) as tape:
        E = (0.5 * (target - model(x)) ** 2).sum()
        E.backward()
    draw(tape, "mazur_matrix", digits=4)
    draw(tape, "mazur_matrix_boxes", digits=4, collapse_modules=True)


def mlp() -> None:
    data = dg.data.load_dataset("moons", n_samples=64, seed=0)
    model = nn.MLP(2, [16, 16], 2, activation="tanh", rng=np.random.default_rng(0))
    with dg.viz.trace(names={"X": dg.tensor(data.X)}) as tape:
        loss = nn.functional.cross_entropy(model(data.X), data.y)
        loss.backward()
    draw(tape, "mlp_boxes", collapse_modules=True)


def playground() -> None:
    """The page after training on the spirals (x₁, x₂, x₁², x₂², sin x₁, sin x₂ switched on),
    its network diagram, and the gradients view after one Step with a point's δ trace."""
    from playwright.sync_api import sync_playwright

    from deltagrad.playground.server import running_server

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]
    with running_server() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.wait_for_selector("#diagram canvas.node-map")
        page.click("[data-dataset=spirals]")
        page.wait_for_selector("[data-dataset=spirals].selected")
        for feature in ("x1_sq", "x2_sq", "sin_x1", "sin_x2"):
            page.click(f"[data-feature={feature}]")
            page.wait_for_selector(f"[data-feature={feature}].on")
        page.click("#start")
        while int(page.inner_text("#epoch").replace(",", "")) < 300:
            page.wait_for_timeout(100)
        page.click("#start")
        page.check("#show_test")
        page.wait_for_timeout(300)
        page.screenshot(path=str(IMAGES / "playground.png"))
        top = page.locator("section.network h2").bounding_box()
        hint = page.locator("section.network .hint").bounding_box()
        clip = {"x": top["x"] - 8, "y": top["y"] - 8, "width": hint["width"] + 16,
                "height": hint["y"] + hint["height"] - top["y"] + 16}
        page.screenshot(path=str(IMAGES / "playground_diagram.png"), clip=clip)
        page.check("#view_gradients")
        page.click("#step")
        # The step being played (for a second or two), then played to its end.
        page.wait_for_selector("#diagram:not([data-phase=idle])")
        page.wait_for_selector("#diagram[data-phase=idle]")
        page.screenshot(path=str(IMAGES / "playground_gradients.png"), clip=clip)
        browser.close()
    for name in ("playground", "playground_diagram", "playground_gradients"):
        print("wrote", IMAGES / f"{name}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--playground", action="store_true", help="also screenshot the page")
    args = parser.parse_args()
    IMAGES.mkdir(exist_ok=True)
    gates()
    mazur()
    mlp()
    if args.playground:
        playground()


if __name__ == "__main__":
    main()
