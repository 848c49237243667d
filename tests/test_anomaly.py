"""dg.detect_anomaly: the first op whose output or gradient goes non-finite is named; nothing
is checked (or paid) outside the context; hooks of other tools keep working."""

import warnings

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import nn
from deltagrad.autograd import AnomalyError
from deltagrad.autograd.anomaly import describe_nonfinite
from deltagrad.autograd.recording import grad_mode


@pytest.fixture(autouse=True)
def _quiet_numpy():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def test_forward_names_the_first_bad_op_not_the_ones_after_it():
    x = dg.tensor([4.0, 1.0, 9.0], requires_grad=True)
    with pytest.raises(AnomalyError) as info, dg.detect_anomaly():
        y = (x - 2.0) * 3.0       # finite
        z = y.sqrt()              # sqrt(-3) is nan: the first bad op
        (z * 2.0).exp().sum()     # would be nan too, but is never reached
    err = info.value
    assert (err.op, err.phase, err.shape) == ("sqrt", "forward", (3,))
    assert "forward of op 'sqrt' gave nan" in str(err)
    assert "from finite inputs" in str(err)
    assert "test_anomaly.py" in err.location
    assert isinstance(err, FloatingPointError)


def test_forward_reports_inf_and_minus_inf():
    x = dg.tensor([0.0, 1.0], requires_grad=True)
    with pytest.raises(AnomalyError, match="op 'log' gave -inf"), dg.detect_anomaly():
        x.log()
    with pytest.raises(AnomalyError, match="op 'exp' gave inf"), dg.detect_anomaly():
        (x * 100.0).exp()


def test_a_bad_parameter_is_reported_as_a_bad_input_with_its_module():
    model = nn.Sequential(nn.Linear(2, 3, rng=np.random.default_rng(0)), nn.Tanh())
    model[0].weight.data[1, 0] = np.nan
    with pytest.raises(AnomalyError) as info, dg.detect_anomaly():
        model(np.ones((5, 2), np.float32))
    err = info.value
    assert err.op == "linear" and err.shape == (5, 3)
    assert "input 1 (shape (3, 2)), which was already nan" in str(err)
    assert err.module is model[0] and "inside Linear" in str(err)


def test_backward_names_the_op_whose_gradient_went_non_finite():
    w = dg.tensor([0.0, 4.0], requires_grad=True)
    with pytest.raises(AnomalyError) as info, dg.detect_anomaly():
        loss = (w.sqrt() * 2.0).sum()  # finite forward: sqrt(0) = 0
        loss.backward()                 # d sqrt / dw = 1 / (2 sqrt(0)) = inf
    err = info.value
    assert (err.op, err.phase, err.input_index, err.shape) == ("sqrt", "backward", 0, (2,))
    assert "from a finite upstream gradient" in str(err)
    assert "test_anomaly.py" in err.location


def test_backward_says_when_the_upstream_gradient_was_already_bad():
    w = dg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(AnomalyError, match="upstream gradient that was already nan"), \
            dg.detect_anomaly():
        (w * 3.0).backward(grad=np.array([np.nan, 1.0], np.float32))


def test_nothing_is_checked_outside_and_hooks_are_restored():
    assert grad_mode.forward_hook is None and grad_mode.backward_hook is None
    x = dg.tensor([0.0], requires_grad=True)
    with dg.detect_anomaly():
        assert grad_mode.forward_hook is not None and grad_mode.backward_hook is not None
        (x + 1.0).log().sum().backward()  # finite: no error
    assert grad_mode.forward_hook is None and grad_mode.backward_hook is None
    y = x.log()  # -inf, and no error outside the context
    assert np.isneginf(y.data[0])
    with pytest.raises(AnomalyError), dg.detect_anomaly():
        x.log()
    assert grad_mode.forward_hook is None and grad_mode.backward_hook is None


def test_other_tools_hooks_still_run_inside_and_come_back_after():
    seen = []
    grad_mode.forward_hook = lambda node, arrays, out: seen.append(("f", node.name))
    grad_mode.backward_hook = lambda node, g, grads: seen.append(("b", node.name))
    try:
        x = dg.tensor([1.0, 2.0], requires_grad=True)
        with dg.detect_anomaly(), dg.detect_anomaly():  # nested: the inner restores the outer
            (x * 2.0).sum().backward()
        assert seen == [("f", "mul"), ("f", "sum"), ("b", "sum"), ("b", "mul")]
        assert grad_mode.forward_hook is not None and grad_mode.forward_hook.__name__ == "<lambda>"
    finally:
        grad_mode.forward_hook = grad_mode.backward_hook = None


def test_works_as_a_decorator_and_with_higher_order_gradients():
    @dg.detect_anomaly()
    def second_derivative(x):
        first = dg.grad(lambda t: (t ** 3).sum())
        return dg.grad(lambda t: first(t).sum())(x)  # d/dx of 3x² summed: 6x

    np.testing.assert_allclose(second_derivative(np.array([1.0, 2.0])), [6.0, 12.0])

    @dg.detect_anomaly()
    def bad(x):
        return dg.grad(lambda t: t.sqrt().sum())(x)

    with pytest.raises(AnomalyError, match="backward of op 'sqrt' gave inf"):
        bad(np.array([0.0, 1.0]))  # arrays: a first-order backward pass
    # Tensors: the backward pass is itself recorded, so the bad value is met in the forward
    # of the op that computes sqrt's derivative (a division by 2 sqrt(0)).
    with pytest.raises(AnomalyError, match="forward of op 'div' gave inf"):
        bad(dg.tensor([0.0, 1.0]))


def test_describe_nonfinite_has_no_false_alarm_when_only_the_sum_overflows():
    big = np.full(4, 3e38, np.float32)  # finite values whose float32 sum overflows
    assert describe_nonfinite(big) is None
    assert describe_nonfinite(np.array([1.0, np.nan, np.inf, -np.inf])) == "nan and inf and -inf"
    assert describe_nonfinite(np.array([1, 2])) is None  # integers are always finite
