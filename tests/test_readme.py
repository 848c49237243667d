"""The README's examples do what the README says."""

import re
from pathlib import Path

import numpy as np
import pytest

import deltagrad as dg

README = Path(__file__).resolve().parents[1] / "README.md"


def ten_lines() -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"## Ten lines of backprop\n\n```python\n(.*?)```", text, re.S)
    assert found, "README.md has no 'Ten lines of backprop' code block"
    return found.group(1)


def run(code: str, seed: int) -> dict:
    np.random.seed(seed)  # the snippet draws from NumPy's global generator, as a reader's would
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102  (our own README)
    return namespace


def xor_accuracy(ns: dict) -> float:
    with dg.no_grad():
        hidden = ns["X"] @ ns["W1"] + ns.get("b1", 0.0)
        p = (hidden.tanh() @ ns["W2"] + ns.get("b2", 0.0)).sigmoid().numpy()
    return float(((p > 0.5) == ns["y"]).mean())


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_ten_lines_of_backprop_learn_xor(seed):
    ns = run(ten_lines(), seed)
    assert xor_accuracy(ns) == 1.0
    assert ns["loss"].item() < 0.01
    assert ns["W1"].is_leaf and ns["W1"].grad is not None  # updated in place, still the leaf


def test_without_biases_the_same_lines_are_stuck_at_one_half_for_zero_input():
    """What the README warns about: (0, 0) reaches the sigmoid as 0 whatever the weights."""
    code = ten_lines().replace(" + b1", "").replace(" + b2", "").replace(
        "(W1, b1, W2, b2)", "(W1, W2)")
    assert "+ b" not in code and "(W1, W2)" in code
    ns = run(code, 0)
    with dg.no_grad():
        p = ((ns["X"] @ ns["W1"]).tanh() @ ns["W2"]).sigmoid().numpy()
    assert p[0, 0] == 0.5 and ns["loss"].item() > 0.05
