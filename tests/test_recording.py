"""What an op declares for its backward (``saves``, ``constants``, ``derived`` with ``rebuild``)
and what higher-order gradients do with it: exact where the op says how, a clear error naming
the op where it does not (never a derived value silently treated as a constant)."""

import numpy as np
import pytest

import deltagrad as dg
from deltagrad.autograd import OUTPUT, HigherOrderError, engine
from deltagrad.autograd.recording import grad_mode, recording_higher_order
from deltagrad.nn import functional as F

X0 = np.array([-1.2, -0.3, 0.4, 1.5])


def finite_difference(f, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central differences of an elementwise f (NumPy in, NumPy out), element by element."""
    return (f(x + h) - f(x - h)) / (2 * h)


class TimesExp(dg.Function):
    """z = a e^a  ->  δa = δz e^a (1 + a)   (keeps e^a, a derived value, and cannot rebuild it)"""

    name = "times_exp"
    saves = (0,)
    derived = ("e",)

    def forward(self, a):
        self.e = np.exp(a)
        return a * self.e

    def backward(self, g):
        (a,) = self.saved
        return g * self.e * (1 + a)


class TimesExpRebuilt(TimesExp):
    """The same op, saying how to make e^a from Tensors."""

    name = "times_exp_rebuilt"

    def rebuild(self, a):
        return (a.exp(),)


class TimesExpUndeclared(TimesExp):
    """The same op, keeping e^a without declaring it."""

    name = "times_exp_undeclared"
    derived = ()


def total(op):
    return lambda t: dg.Tensor.apply(op, t).sum()


@pytest.mark.parametrize("op", [TimesExp, TimesExpRebuilt, TimesExpUndeclared])
def test_first_order_needs_no_declaration_of_how_to_rebuild(op):
    x = dg.tensor(X0, requires_grad=True)
    assert dg.gradcheck(lambda t: dg.Tensor.apply(op, t), [x])
    np.testing.assert_allclose(dg.grad(total(op))(X0), np.exp(X0) * (1 + X0))


@pytest.mark.parametrize("higher", [
    lambda f: dg.hessian(f)(X0),
    lambda f: dg.grad(lambda t: dg.grad(f)(t).sum())(X0),
    lambda f: dg.grad(f)(dg.tensor(X0, requires_grad=True)),
], ids=["hessian", "grad_of_grad", "grad_given_a_tensor"])
def test_a_derived_value_without_rebuild_refuses_higher_order_naming_the_op(higher):
    with pytest.raises(HigherOrderError, match=r"times_exp: .*reads \['e'\].*TimesExp gives "
                                               r"neither rebuild\(\).*nor decompose"):
        higher(total(TimesExp))
    with pytest.raises(ValueError, match=r"times_exp_undeclared: .*keeps \['e'\] without "
                                         r"declaring"):
        higher(total(TimesExpUndeclared))
    assert grad_mode.higher_order == 0 and grad_mode.enabled  # the failure undid its switches


def test_a_rebuilt_derived_value_gives_exact_second_and_third_derivatives():
    f = total(TimesExpRebuilt)
    hessian = dg.hessian(f)(X0)
    np.testing.assert_allclose(hessian, np.diag(np.exp(X0) * (2 + X0)), rtol=1e-12)
    third = dg.grad(lambda t: dg.grad(lambda u: dg.grad(f)(u).sum())(t).sum())(X0)
    np.testing.assert_allclose(third, np.exp(X0) * (3 + X0), rtol=1e-12)


def test_a_graph_recorded_for_higher_order_still_runs_a_plain_backward():
    x = dg.tensor(X0, requires_grad=True)
    g = dg.grad(total(TimesExpRebuilt))(x)  # its graph holds array and Tensor forms of e^a
    g.sum().backward()  # the plain backward runs on the arrays, the rebuilt values untouched
    np.testing.assert_allclose(x.grad, np.exp(X0) * (2 + X0), rtol=1e-12)
    np.testing.assert_allclose(g.data, np.exp(X0) * (1 + X0), rtol=1e-12)


def test_saves_picks_inputs_by_position_and_the_output():
    class MulThenKeep(dg.Function):
        name = "mul_then_keep"
        saves = (1, OUTPUT, 0)

        def forward(self, a, b):
            return a * b

        def backward(self, g):
            b, z, a = self.saved
            assert z is self.output_seen
            return g * b, g * a

    a = dg.tensor(np.array([2.0, 3.0]), requires_grad=True)
    z = dg.Tensor.apply(MulThenKeep, a, np.array([5.0, 7.0]))
    node = z._node
    assert node.saved[0].tolist() == [5.0, 7.0] and node.saved[1] is z.data
    assert node.saved[2] is a.data
    MulThenKeep.output_seen = z.data
    z.sum().backward()
    np.testing.assert_array_equal(a.grad, [5.0, 7.0])


def test_undeclared_slots_are_refused_when_the_op_is_defined():
    with pytest.raises(TypeError, match=r"Masked: attribute\(s\) \['mask'\] in __slots__ are "
                                        r"neither constants"):
        class Masked(dg.Function):
            __slots__ = ("mask",)

    class Declared(dg.Function):
        __slots__ = constants = ("mask",)

    assert Declared.constants == ("mask",)


def test_constants_are_not_differentiated_and_need_no_rebuild():
    class Relu(dg.Function):
        """z = a where a > 0  ->  δa = δz where a > 0"""

        name = "my_relu"
        __slots__ = constants = ("positive",)

        def forward(self, a):
            self.positive = a > 0
            return a * self.positive

        def backward(self, g):
            return g * self.positive

    def f(t):
        return (dg.Tensor.apply(Relu, t) ** 3).sum()

    np.testing.assert_allclose(dg.hessian(f)(X0), np.diag(6 * X0 * (X0 > 0)), atol=1e-12)


def test_a_graph_recorded_without_higher_order_refuses_a_recorded_backward():
    x = dg.tensor(X0, requires_grad=True)
    y = x.exp().sum()  # recorded outside dg.grad: its nodes keep arrays only
    with pytest.raises(ValueError, match="exp: this graph was recorded without higher-order "
                                         "support"):
        engine.backward(y, dg.tensor(1.0, dtype=np.float64), targets=[x], create_graph=True,
                        free_graph=False)
    with recording_higher_order():
        y = x.exp().sum()
    g = engine.backward(y, dg.tensor(1.0, dtype=np.float64), targets=[x], create_graph=True)[0]
    np.testing.assert_allclose(g.data, np.exp(X0))
    assert g.requires_grad


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_rebuilds_what_it_keeps_exactly_to_third_order(approximate):
    def gelu(t):
        return F.gelu(t, approximate=approximate).sum()

    def second(x):  # d²/dx² Σ gelu, elementwise
        return dg.grad(lambda t: dg.grad(gelu)(t).sum())(x)

    third = dg.grad(lambda t: second(t).sum())(X0)  # the rebuilt Φ(x) / tanh u, twice over
    np.testing.assert_allclose(third, finite_difference(second, X0), rtol=1e-6, atol=1e-8)
    if approximate == "none":  # with φ' = -x φ: (x Φ)'' = 2φ - x² φ, so (x Φ)''' = φ (x³ - 4x)
        phi = np.exp(-X0 ** 2 / 2) / np.sqrt(2 * np.pi)
        np.testing.assert_allclose(third, phi * (X0 ** 3 - 4 * X0), rtol=1e-10)


RNG = np.random.default_rng(21)
X3 = RNG.normal(size=(2, 3, 4))  # a batch of sequences: Linear sees any leading axes
TARGET = RNG.normal(size=(2, 3, 2))
W3 = RNG.normal(size=(3, 4))

HIGHER_ORDER_CASES = {
    # Ops whose saved values are not already differentiated twice elsewhere in the suite.
    "linear_with_bias_3d": lambda w: (F.linear(X3, w[:8].reshape(2, 4), w[8:]).tanh() ** 2).sum(),
    "l1_loss": lambda w: F.l1_loss(F.linear(X3, w[:8].reshape(2, 4), w[8:]) ** 2, TARGET),
    "linear_input": lambda w: (F.linear(w[:8].reshape(2, 4), W3) ** 3).sum() + (w[8:] ** 4).sum(),
}


@pytest.mark.parametrize("name", sorted(HIGHER_ORDER_CASES))
def test_hessians_of_ops_with_saved_inputs_match_differenced_gradients(name):
    f = HIGHER_ORDER_CASES[name]
    w0 = np.random.default_rng(22).uniform(-1, 1, 10)
    grad = dg.grad(f)
    eps = 1e-6
    numeric = np.stack([(grad(w0 + eps * e) - grad(w0 - eps * e)) / (2 * eps)
                        for e in np.eye(w0.size)], axis=-1)
    hessian = dg.hessian(f)(w0)
    np.testing.assert_allclose(hessian, numeric, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hessian, hessian.T, atol=1e-10)
