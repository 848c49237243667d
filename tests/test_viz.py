"""deltagrad.viz: capture, trace and draw the graph behind a tensor.

δ's are checked against closed forms; pictures are checked by reading the SVG that Graphviz
writes (and the PNG's signature). Rendering tests skip only where Graphviz's ``dot`` program
is not installed (CI installs it: apt-get install graphviz).
"""

import ast
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import nn
from deltagrad.autograd.recording import grad_mode
from deltagrad.nn.module import module_calls
from deltagrad.viz import GraphvizNotFoundError, capture, draw, trace
from deltagrad.viz import graph as graph_module

needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz's dot program is not installed "
                                      "(apt-get install graphviz)")


def svg_text(path) -> str:
    """All the text in an SVG file, as one string."""
    root = ET.parse(path).getroot()
    return " ".join(t.strip() for t in root.itertext() if t.strip())


def test_capture_structure_values_and_deltas_match_closed_forms():
    a = dg.tensor(np.array([0.5, -1.0]), requires_grad=True)
    b = dg.tensor(np.array([2.0, 3.0]), requires_grad=True)
    c = np.array([0.1, 0.2])
    z = (a * b + c).tanh()
    loss = z.sum()
    g = capture(loss, names={"a": a, "b": b, "z": z, "loss": loss}, backward=True)
    assert [n.op for n in g.nodes.values() if n.kind == "op"] == ["mul", "add", "tanh", "sum"]
    assert {n.name: n.kind for n in g.nodes.values() if n.kind != "op"}["a"] == "leaf"
    u = a.data * b.data + c
    dz = 1 - np.tanh(u) ** 2  # δu = δz (1 - tanh² u), δz = 1
    np.testing.assert_allclose(g.find("z").value, np.tanh(u))
    np.testing.assert_allclose(g.find("z").delta, np.ones(2))
    np.testing.assert_allclose(g.find("a").delta, dz * b.data)
    np.testing.assert_allclose(g.find("b").delta, dz * a.data)
    assert g.find("loss").key == g.root and g.has_deltas


def test_capture_before_backward_has_no_deltas_and_leaves_graph_alive():
    w = dg.tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    g = capture(loss, names={"w": w})
    assert not g.has_deltas and all(n.delta is None for n in g.nodes.values())
    loss.backward()  # the graph was not consumed by capture
    np.testing.assert_array_equal(w.grad, [2.0, 4.0])


def test_fork_is_visible():
    x = dg.tensor(3.0, requires_grad=True)
    h = x.exp()
    y = h * h + h  # h feeds two ops (three uses)
    g = capture(y, names={"x": x, "h": h}, backward=True)
    users = g.consumers()
    assert len(users[g.find("h").key]) == 3
    assert float(g.find("x").delta) == pytest.approx(2 * np.exp(6.0) + np.exp(3.0), rel=1e-6)
    source = draw(g).source
    assert "fork: used 3×" in source


def test_parameters_and_leaves_are_marked():
    layer = nn.Linear(2, 1)
    x = dg.tensor([[1.0, 2.0]], requires_grad=True)
    g = capture(layer(x).sum(), names={"layer": layer, "x": x})
    kinds = {n.name: n.kind for n in g.nodes.values() if n.kind != "op"}
    assert kinds == {"x": "leaf", "layer.weight": "param", "layer.bias": "param"}
    source = draw(g).source
    assert "layer.weight</B>  <FONT POINT-SIZE='9'>param" in source
    assert "x</B>  <FONT POINT-SIZE='9'>leaf" in source


def test_parameters_of_a_model_get_their_state_dict_names():
    model = nn.MLP(2, [3], 2, rng=np.random.default_rng(0))
    loss = nn.functional.cross_entropy(model(np.ones((4, 2), np.float32)), np.array([0, 1, 0, 1]))
    g = capture(loss, backward=True)
    params = [n for n in g.nodes.values() if n.kind == "param"]
    assert [n.name for n in params] == list(model.state_dict())  # not param1, param2, ...
    for node in params:  # each name is that parameter's: its δ is the gradient stored there
        np.testing.assert_array_equal(node.delta, dict(model.named_parameters())[node.name].grad)
    source = draw(model(np.ones((1, 2), np.float32)).sum()).source
    assert "layers.0.weight</B>" in source and "param1" not in source


def test_names_given_win_and_several_models_are_told_apart():
    model = nn.Sequential(nn.Linear(2, 2), nn.Tanh())
    out = model(np.ones((1, 2), np.float32))
    names = {n.name for n in capture(out.sum(), names={"W": model[0].weight}).nodes.values()}
    assert {"W", "0.bias"} <= names and "0.weight" not in names
    encoder, decoder, head = nn.Linear(2, 2), nn.Linear(2, 2), nn.MLP(2, [2], 1)
    loss = head(decoder(encoder(np.ones((1, 2), np.float32)))).sum()
    params = [n.name for n in capture(loss).nodes.values() if n.kind == "param"]
    assert params == ["Linear1.weight", "Linear1.bias", "Linear2.weight", "Linear2.bias",
                      "MLP.layers.0.weight", "MLP.layers.0.bias", "MLP.layers.2.weight",
                      "MLP.layers.2.bias"]


def test_a_graph_freed_part_way_is_refused_clearly():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    hidden = x.exp()
    hidden.sum().backward()  # frees the graph behind hidden
    with pytest.raises(ValueError, match="capture: the graph .* already freed by backward"):
        capture((hidden * 2.0).sum())  # the root is new, the graph below it is gone


def test_graph_module_never_imports_the_picture_module():
    """picture.py builds on graph.py; an import back, even inside a function, is a cycle."""
    tree = ast.parse(Path(graph_module.__file__).read_text())
    imported = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported += [node.module or ""] + [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
    assert imported and not [name for name in imported if "picture" in name]


def test_trace_records_module_calls_constants_and_deltas():
    model = nn.MLP(2, [3], 1, activation="tanh", rng=np.random.default_rng(0))
    x = dg.tensor(np.ones((4, 2), np.float32))
    with trace(names={"x": x}) as tape:
        loss = (model(x) ** 2).mean()
        loss.backward()
    g = tape.graph(loss)
    labels = [c.label for c in g.calls.values()]
    assert labels == ["MLP", "layers: Sequential", "layers.0: Linear", "layers.1: Tanh",
                      "layers.2: Linear"]
    names = {n.name for n in g.nodes.values()}
    assert {"x", "layers.0.weight", "layers.2.bias"} <= names
    pow_node = next(n for n in g.nodes.values() if n.op == "pow")
    exponent = g.nodes[pow_node.inputs[1]]
    assert exponent.kind == "const" and int(exponent.value) == 2  # a constant's value is kept
    for name, p in model.named_parameters():  # δ of each parameter = what backward stored
        np.testing.assert_allclose(g.find(name).delta, p.grad, rtol=1e-6)
    assert grad_mode.forward_hook is None and module_calls.observer is None


def test_names_can_be_given_after_recording():
    with trace() as tape:
        w = dg.tensor([1.0, 2.0], requires_grad=True)
        hidden = (w * 3.0).tanh()
        loss = hidden.sum()
    g = tape.graph(loss, names=locals())
    assert {"w", "hidden", "loss"} <= {n.name for n in g.nodes.values()}
    assert "<I>hidden</I>" in draw(tape, names={"hidden": hidden}).source


def test_values_are_snapshots():
    w = dg.tensor([1.0, 2.0], requires_grad=True)
    with trace(names={"w": w}) as tape:
        loss = (w * 2.0).sum()
        loss.backward()
    w.data -= 0.5  # an optimiser step after the picture was taken
    np.testing.assert_array_equal(tape.graph(loss).find("w").value, [1.0, 2.0])


def test_collapse_modules_draws_one_box_per_call():
    model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1))
    with trace() as tape:
        loss = model(np.ones((3, 2), np.float32)).sum()
        loss.backward()
    flat = draw(tape).source
    boxes = draw(tape, collapse_modules=True).source
    whole = draw(tape, collapse_modules=0).source
    assert "<B>linear</B>" in flat and "0.weight" in flat  # every op and parameter
    for label in ("0: Linear", "1: Tanh", "2: Linear"):
        assert f"<B>{label}</B>" in boxes
    assert "0.weight" not in boxes and "<B>linear</B>" not in boxes  # folded into the boxes
    assert "2 parameter tensors, 12 values" in boxes  # Linear(2, 4): 8 weights, 4 biases
    assert "2 parameter tensors, 5 values" in boxes  # Linear(4, 1)
    assert "<B>Sequential</B>" in whole and "<B>0: Linear</B>" not in whole
    assert "3 ops: linear, tanh" in whole


def test_custom_module_with_several_ops_collapses():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            h = self.fc(x)
            return h * h.sigmoid() + 1.0  # swish plus a constant: four ops

    block = Block()
    with trace() as tape:
        loss = block(np.ones((1, 2), np.float32)).sum()
    boxes = draw(tape.graph(loss), collapse_modules=True).source
    assert "<B>fc: Linear</B>" in boxes and "cluster_1" in boxes  # the Block is a frame
    one = draw(tape.graph(loss), collapse_modules=0).source
    assert "<B>Block</B>" in one and "4 ops: linear, sigmoid, mul, add" in one


@needs_dot
def test_draw_writes_svg_and_png_with_names_shapes_values_and_deltas(tmp_path):
    w = dg.tensor([1.0, -2.0], requires_grad=True)
    draw((w * w).sum(), tmp_path / "square", names={"w": w}, backward=True)
    svg, png = tmp_path / "square.svg", tmp_path / "square.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = svg_text(svg)
    for expected in ("mul", "sum", "w", "leaf", "(2,) float32", "[1, -2]", "δ [2, -4]",
                     "δ 1"):
        assert expected in text, expected
    assert np.array_equal(w.grad, [2.0, -4.0])  # backward=True ran the real backward pass


@needs_dot
def test_draw_single_format_by_suffix(tmp_path):
    x = dg.tensor(1.0, requires_grad=True)
    draw(x * 2.0, tmp_path / "one.svg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.svg"]


def test_missing_dot_says_how_to_install(tmp_path, monkeypatch):
    from deltagrad.viz import picture

    monkeypatch.setattr(picture.shutil, "which", lambda name: None)
    x = dg.tensor(1.0, requires_grad=True)
    assert "mul" in draw(x * 2.0).source  # building the picture needs no dot
    with pytest.raises(GraphvizNotFoundError, match="apt-get install graphviz") as info:
        draw(x * 2.0, tmp_path / "g")
    assert "brew install graphviz" in str(info.value)


def test_missing_graphviz_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)  # import graphviz now fails
    with pytest.raises(GraphvizNotFoundError, match="pip install graphviz"):
        draw(dg.tensor(1.0, requires_grad=True) * 2.0)


def test_import_deltagrad_does_not_import_graphviz():
    import subprocess

    code = ("import sys, deltagrad as dg; dg.explain; dg.viz.draw; "
            "print(sorted(m for m in ('graphviz', 'starlette', 'uvicorn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_bad_input_gets_a_clear_error():
    x = dg.tensor(1.0, requires_grad=True)
    y = x * 2.0
    with pytest.raises(TypeError, match="draw: target must be a Tensor"):
        draw("loss")
    with pytest.raises(ValueError, match="formats must be some of"):
        draw(y, formats=("jpeg",))
    with pytest.raises(ValueError, match="collapse_modules must be"):
        draw(y, collapse_modules=-1)
    with pytest.raises(ValueError, match="rankdir"):
        draw(y, rankdir="up")
    y.backward()
    with pytest.raises(ValueError, match="already freed by backward.*dg.viz.trace"):
        draw(y)
    with pytest.raises(ValueError, match="nothing was recorded"):
        with trace() as tape:
            pass
        tape.graph()


def test_trace_restores_observers_after_an_error_and_refuses_nesting():
    model = nn.Linear(2, 1)
    with pytest.raises(ValueError), trace():
        model(np.ones((1, 3), np.float32))  # wrong width: the op refuses
    assert module_calls.observer is None and grad_mode.forward_hook is None
    with trace(), pytest.raises(RuntimeError, match="nested"), trace():
        pass
    assert module_calls.observer is None


def test_trace_sees_only_its_own_thread():
    import threading

    from deltagrad.nn import module

    model = nn.Linear(2, 1)
    x = np.ones((1, 2), np.float32)
    with trace() as tape:
        worker = threading.Thread(target=lambda: model(x).sum().backward())
        worker.start()
        worker.join()
        assert module._observing == 1
    assert "ops" in repr(tape) and repr(tape).startswith("<Tape: 0 ops, 0 module calls")
    assert module._observing == 0 and module_calls.observer is None
