"""dg.explain: the backward pass written out step by step.

The main oracle is a published worked example of backpropagation by hand: Matt Mazur,
"A Step by Step Backpropagation Example" (2015,
https://mattmazur.com/2015/03/17/a-step-by-step-backpropagation-example/): a 2-2-2 sigmoid
network, squared error, one SGD step with learning rate 0.5 (weights only). Every number
below marked "published" is copied from that post; the test checks that deltagrad, and the
text dg.explain writes, reproduce them to the digits the post prints.
"""

import io
import re
from pathlib import Path

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import nn, optim
from deltagrad.autograd.recording import grad_mode
from deltagrad.autograd.ops import elementwise

# --- the published example ---------------------------------------------------------------------

I1, I2 = 0.05, 0.10
T1, T2 = 0.01, 0.99
WEIGHTS = {"w1": 0.15, "w2": 0.20, "w3": 0.25, "w4": 0.30, "w5": 0.40, "w6": 0.45,
           "w7": 0.50, "w8": 0.55}
B1, B2 = 0.35, 0.60
LR = 0.5
PUBLISHED_E_TOTAL = "0.298371109"
PUBLISHED_UPDATED = {"w5": "0.35891648", "w6": "0.408666186", "w7": "0.511301270",
                     "w8": "0.561370121", "w1": "0.149780716", "w2": "0.19956143",
                     "w3": "0.24975114", "w4": "0.29950229"}
# Intermediate values the post derives on its way (forward pass and backward pass).
PUBLISHED_FORWARD = {"net_h1": "0.3775", "out_h1": "0.593269992", "out_h2": "0.596884378",
                     "out_o1": "0.75136507", "out_o2": "0.772928465"}
PUBLISHED_BACKWARD = {"w5": "0.082167041", "w1": "0.000438568", "out_h1": "0.036350306"}


def places(text: str) -> int:
    return len(text.split(".")[1])


def agrees(value: float, published: str) -> bool:
    """True when ``value`` rounded to the published number of decimals is the published text."""
    return f"{value:.{places(published)}f}" == published


def scalar_network():
    """The post's network neuron by neuron, one scalar tensor per weight (float64)."""
    p = {name: dg.tensor(np.float64(v), requires_grad=True) for name, v in WEIGHTS.items()}
    b1 = dg.tensor(np.float64(B1), requires_grad=True)
    b2 = dg.tensor(np.float64(B2), requires_grad=True)
    net_h1 = p["w1"] * I1 + p["w2"] * I2 + b1
    net_h2 = p["w3"] * I1 + p["w4"] * I2 + b1
    out_h1, out_h2 = net_h1.sigmoid(), net_h2.sigmoid()
    net_o1 = p["w5"] * out_h1 + p["w6"] * out_h2 + b2
    net_o2 = p["w7"] * out_h1 + p["w8"] * out_h2 + b2
    out_o1, out_o2 = net_o1.sigmoid(), net_o2.sigmoid()
    E_o1 = 0.5 * (T1 - out_o1) ** 2
    E_o2 = 0.5 * (T2 - out_o2) ** 2
    E_total = E_o1 + E_o2
    names = {**p, "b1": b1, "b2": b2, "net_h1": net_h1, "net_h2": net_h2, "out_h1": out_h1,
             "out_h2": out_h2, "net_o1": net_o1, "net_o2": net_o2, "out_o1": out_o1,
             "out_o2": out_o2, "E_o1": E_o1, "E_o2": E_o2, "E_total": E_total}
    return p, E_total, names


def test_mazur_worked_example_scalar_network_digit_for_digit():
    p, E_total, names = scalar_network()
    assert agrees(E_total.item(), PUBLISHED_E_TOTAL)
    ex = dg.explain(E_total, names=names, decimals=9, file=None)
    text = str(ex)
    # Forward values and the backward pass's key quantities, as the post prints them.
    for name, published in {**PUBLISHED_FORWARD}.items():
        step = next(s for s in ex.steps if s.name == name)
        assert agrees(float(step.value), published), name
        assert f"{name} = " in text and published in text
    for name, published in PUBLISHED_BACKWARD.items():
        assert agrees(float(ex.delta(name)), published), name
        assert published in text, name
    # out_h1 feeds both output neurons: its δ is the sum of the two branches, written out.
    step = next(s for s in ex.steps if s.name == "out_h1")
    assert len(step.parts) == 2 and agrees(float(sum(pt.delta for pt in step.parts)),
                                           PUBLISHED_BACKWARD["out_h1"])
    assert "0.055399425 (via mul" in text
    assert step.binding == "z = out_h1, a = net_h1"  # the rule's letters, named
    assert "here        z = out_h1, a = net_h1" in text
    # One SGD step on the weights only (the post leaves the biases alone).
    optim.SGD(list(p.values()), lr=LR).step()
    for name, published in PUBLISHED_UPDATED.items():
        assert agrees(p[name].item(), published), (name, p[name].item(), published)


def test_mazur_worked_example_matrix_network_digit_for_digit():
    """The same network as two nn.Linear layers: the fused δx = δy W does the branch sum."""
    hidden, output = nn.Linear(2, 2).to(np.float64), nn.Linear(2, 2).to(np.float64)
    w = WEIGHTS
    hidden.load_state_dict({"weight": [[w["w1"], w["w2"]], [w["w3"], w["w4"]]],
                            "bias": [B1, B1]})
    output.load_state_dict({"weight": [[w["w5"], w["w6"]], [w["w7"], w["w8"]]],
                            "bias": [B2, B2]})
    x = np.array([[I1, I2]])
    out = output(hidden(x).sigmoid()).sigmoid()
    E = (0.5 * (np.array([[T1, T2]]) - out) ** 2).sum()
    assert agrees(E.item(), PUBLISHED_E_TOTAL)
    ex = dg.explain(E, names={"W1": hidden.weight, "W2": output.weight, "E": E}, decimals=9,
                    file=None)
    assert agrees(float(ex.delta("W2")[0, 0]), PUBLISHED_BACKWARD["w5"])
    assert agrees(float(ex.delta("W1")[0, 0]), PUBLISHED_BACKWARD["w1"])
    linear = [s for s in ex.steps if s.op == "linear"]
    assert linear and all("δx = δy W" in s.rule for s in linear)
    optim.SGD([hidden.weight, output.weight], lr=LR).step()
    W1, W2 = hidden.weight.data, output.weight.data
    got = {"w1": W1[0, 0], "w2": W1[0, 1], "w3": W1[1, 0], "w4": W1[1, 1],
           "w5": W2[0, 0], "w6": W2[0, 1], "w7": W2[1, 0], "w8": W2[1, 1]}
    for name, published in PUBLISHED_UPDATED.items():
        assert agrees(float(got[name]), published), name


# --- what the trace says, in general -----------------------------------------------------------


def test_fork_is_summed_and_written_out():
    x = dg.tensor(np.float64(2.0), requires_grad=True)
    a = x * x  # uses x twice: δx gets two terms from here
    y = a + 3.0 * x  # and a third from here
    ex = dg.explain(y, names={"x": x, "a": a, "y": y}, file=None)
    leaf = next(leaf for leaf in ex.leaves if leaf.name == "x")
    assert len(leaf.parts) == 3
    assert float(leaf.delta) == pytest.approx(2 * 2.0 + 3.0)  # d/dx (x² + 3x) at 2
    assert float(x.grad) == pytest.approx(7.0)
    assert "x.grad  = " in str(ex) and " + " in str(ex).split("x.grad")[1]


def test_steps_come_in_reverse_topological_order():
    w = dg.tensor([0.5, -1.0], requires_grad=True)
    h = (w * 3.0).tanh()
    z = (h * h).sum() + h.sum()
    ex = dg.explain(z, names={"w": w, "h": h, "z": z}, file=None)
    position = {s.name: s.index for s in ex.steps}
    for step in ex.steps:
        for inp in step.inputs:  # every op's inputs are explained after the op itself
            if inp.name in position:
                assert position[inp.name] > step.index


def test_rule_is_the_op_docstring_first_line():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    ex = dg.explain((x * x).sum(), file=None)
    mul = next(s for s in ex.steps if s.op == "mul")
    first_line = elementwise.Mul.__doc__.strip().splitlines()[0]
    assert mul.rule == first_line.strip()
    assert first_line.strip() in str(ex)


def test_broadcast_gradient_is_summed_and_said_so():
    b = dg.tensor(np.zeros(3), requires_grad=True)
    X = np.arange(12.0).reshape(4, 3)
    loss = (X + b).sum()
    ex = dg.explain(loss, names={"b": b}, file=None)
    np.testing.assert_array_equal(ex.delta("b"), [4.0, 4.0, 4.0])  # four rows, each 1
    assert "summed over the broadcast axes: (4, 3) -> (3,)" in str(ex)


def test_small_tensors_in_full_large_ones_summarised():
    small = dg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    big = dg.tensor(np.linspace(0, 1, 100), requires_grad=True)
    text = str(dg.explain((small * 2.0).sum() + (big * big).sum(),
                          names={"small": small, "big": big}, file=None))
    assert "small.grad  = [2, 2]" in text
    line = next(ln for ln in text.splitlines() if "big.grad" in ln)
    assert "shape (100,): mean 1" in line and "range [0, 2]" in line  # δ = 2 big on [0, 1]


def test_explain_fills_grad_exactly_like_backward():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 1))

    def run(explain: bool):
        model = nn.Sequential(nn.Linear(3, 4, rng=np.random.default_rng(1)), nn.Tanh(),
                              nn.Linear(4, 1, rng=np.random.default_rng(2))).to(np.float64)
        loss = nn.functional.mse_loss(model(X), y)
        dg.explain(loss, names=model, file=None) if explain else loss.backward()
        return [p.grad for p in model.parameters()]

    for a, b in zip(run(True), run(False)):
        np.testing.assert_array_equal(a, b)


def test_module_names_its_parameters():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid())
    ex = dg.explain(model(np.ones((1, 2), np.float32)).sum(), names={"net": model}, file=None)
    assert {leaf.name for leaf in ex.leaves} == {"net.0.weight", "net.0.bias"}
    assert all(leaf.is_parameter for leaf in ex.leaves)


def test_parameters_of_the_model_that_made_the_loss_get_state_dict_names():
    model = nn.MLP(2, [3], 1, activation="tanh", rng=np.random.default_rng(0))
    loss = nn.functional.mse_loss(model(np.ones((4, 2), np.float32)), np.zeros((4, 1)))
    ex = dg.explain(loss, file=None)
    assert [leaf.name for leaf in ex.leaves] == list(model.state_dict())
    assert "layers.0.weight.grad" in str(ex) and "param1" not in str(ex)
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(ex.delta(name), p.grad)


def test_prints_to_stdout_by_default_and_to_a_file(capsys):
    x = dg.tensor(1.0, requires_grad=True)
    dg.explain(x * 2.0)
    assert "Backward pass from" in capsys.readouterr().out
    buffer = io.StringIO()
    ex = dg.explain(dg.tensor(1.0, requires_grad=True) * 2.0, file=buffer)
    assert buffer.getvalue().strip() == str(ex).strip()
    dg.explain(dg.tensor(1.0, requires_grad=True) * 2.0, file=None)
    assert capsys.readouterr().out == ""


def test_non_scalar_root_takes_a_seed():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    ex = dg.explain(x * 3.0, grad=np.array([1.0, 10.0], np.float32), names={"x": x},
                    file=None)
    np.testing.assert_array_equal(ex.delta("x"), [3.0, 30.0])
    with pytest.raises(ValueError, match="needs grad="):
        dg.explain(dg.tensor([1.0, 2.0], requires_grad=True) * 3.0, file=None)


def test_hooks_are_restored_and_chained():
    seen = []
    grad_mode.backward_hook = lambda node, g, grads: seen.append(node.name)
    try:
        x = dg.tensor(1.0, requires_grad=True)
        dg.explain((x * 2.0).exp(), file=None)
        assert seen == ["exp", "mul"]  # the hook already installed was still called
        assert grad_mode.backward_hook is not None and grad_mode.backward_hook.__name__ == \
            "<lambda>"
    finally:
        grad_mode.backward_hook = None


def test_bad_input_gets_a_clear_error():
    with pytest.raises(TypeError, match="explain: loss must be a deltagrad Tensor"):
        dg.explain(3.0)
    with pytest.raises(ValueError, match="does not require grad"):
        dg.explain(dg.tensor(1.0) * 2)
    y = dg.tensor(1.0, requires_grad=True) * 2.0
    y.backward()
    with pytest.raises(ValueError, match="already freed by backward"):
        dg.explain(y)
    x = dg.tensor(1.0, requires_grad=True)
    with pytest.raises(ValueError, match="digits must be an int"):
        dg.explain(x * 2.0, digits=0)
    with pytest.raises(ValueError, match="decimals must be None or an int"):
        dg.explain(x * 2.0, decimals=-1)
    with pytest.raises(TypeError, match="names must be a mapping"):
        dg.explain(x * 2.0, names=[x])
    with pytest.raises(KeyError, match="no value named 'nope'"):
        dg.explain(x * 2.0, file=None).delta("nope")


def test_backward_from_a_leaf():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    ex = dg.explain(x, grad=np.ones(2, np.float32), names={"x": x}, file=None)
    assert ex.steps == [] and np.array_equal(ex.delta("x"), [1.0, 1.0])


def test_the_trace_in_the_docs_is_what_explain_writes_today():
    trace = Path(__file__).resolve().parents[1] / "docs" / "images" / "mazur_trace.txt"
    if not trace.exists():
        pytest.skip("docs/images/mazur_trace.txt is not in this checkout")
    _, E_total, names = scalar_network()
    assert str(dg.explain(E_total, names=names, decimals=9, file=None)) + "\n" == \
        trace.read_text(encoding="utf-8")


# --- what a student tripped on -------------------------------------------------------------------


def test_matrices_line_up_under_their_first_row():
    W = dg.tensor(np.array([[1.0, -2.0], [3.0, 4.0]]), requires_grad=True)
    x = np.array([[0.5, 1.0], [2.0, -1.0]])
    h = x @ W
    loss = (h * h).sum()
    text = str(dg.explain(loss, names={"W": W, "h": h, "x": x, "loss": loss}, file=None))
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.rstrip().endswith("],") and "[[" in line:  # the first row of a matrix
            column = line.index("[[") + 1
            follower = lines[i + 1]
            assert follower[:column].strip() == "" and follower[column] == "[", (line, follower)
    assert "   W = [[1, -2],\n        [3, 4]]" in text  # the inputs, aligned as well


def test_rule_letters_that_clash_with_the_users_names_are_renamed():
    x = dg.tensor(np.float64(0.5), requires_grad=True)
    a = x.tanh()
    b = a * x
    ex = dg.explain(b, names={"x": x, "a": a, "b": b}, file=None)
    tanh = next(s for s in ex.steps if s.op == "tanh")
    assert tanh.binding == "z = a, u = x"  # not "z = a, a = x"
    assert tanh.rule == "z = tanh u  ->  δu = δz * (1 - z²)"
    mul = next(s for s in ex.steps if s.op == "mul")
    assert mul.binding == "z = b, u = a, v = x"  # not "z = b, a = a, b = x"
    assert mul.rule == "z = u * v  ->  δu = δz * v,  δv = δz * u"
    # no clash, no renaming: the rule as the op's docstring writes it
    y = x.tanh()
    ex = dg.explain(y, names={"x_in": x, "y_out": y}, file=None)
    assert ex.steps[0].rule.startswith("z = tanh a") and ex.steps[0].binding == "z = y_out, a = x_in"


def test_inputs_without_grad_show_their_value_or_their_name():
    w = dg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    X = np.array([[1.0, 0.0], [0.5, 2.0]])
    target = dg.tensor(np.array([1.0, -1.0]))
    out = X @ w
    err = (out - target) * 0.5
    loss = (err * err + 3.0).sum()
    text = str(dg.explain(loss, names={"w": w, "X": X, "out": out, "target": target,
                                       "err": err, "loss": loss}, file=None))
    assert "out = matmul(X, w)" in text  # a plain array passed by name: its name is used
    rows = re.search(r"\n(   X +=) \[\[1, 0\],\n( +)\[0.5, 2\]\]   \(needs no gradient\)", text)
    assert rows and len(rows.group(2)) == len(rows.group(1)) + 2  # the rows line up
    assert "sub1 = sub(out, target)" in text
    assert re.search(r"\n   target +\= \[1, -1\]   \(needs no gradient\)", text)
    assert "err = mul(sub1, 0.5)" in text and "add(mul1, 3)" in text  # numbers in place
    assert "const" not in text
    unnamed = dg.explain((w * np.array([3.0, 4.0])).sum(), names={"w": w}, file=None)
    assert "mul1 = mul(w, const1)" in str(unnamed)
    assert re.search(r"\n   const1 += \[3, 4\]   \(needs no gradient\)", str(unnamed))


def test_every_leaf_shows_its_value():
    w = dg.tensor(np.array([0.25, -4.0]), requires_grad=True)
    text = str(dg.explain((w * w).sum(), names={"w": w}, file=None))
    assert "The inputs that get a gradient:\n   w = [0.25, -4]" in text
