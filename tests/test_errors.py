"""User mistakes raise ValueError / TypeError whose message names the op and the offending
values, shapes written as Python tuples; gradcheck catches a wrong backward and says where."""

import re

import numpy as np
import pytest

import deltagrad as dg


def t(shape, requires_grad=True) -> dg.Tensor:
    return dg.tensor(np.ones(shape), requires_grad=requires_grad)


# --- shapes that do not fit -----------------------------------------------------------


BROADCASTING = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
    "maximum": dg.maximum,
    "minimum": dg.minimum,
}


@pytest.mark.parametrize("name", sorted(BROADCASTING))
def test_broadcast_mismatch_names_op_and_shapes(name):
    op = BROADCASTING[name]
    expected = f"{name}: shapes (2, 3) and (4, 5) can not be broadcast together"
    with pytest.raises(ValueError, match=re.escape(expected)):
        op(t((2, 3)), t((4, 5)))
    with pytest.raises(ValueError, match=re.escape(expected)):
        op(t((2, 3)), np.ones((4, 5)))  # ndarray on the right
    reflected = f"{name}: shapes (4, 5) and (2, 3) can not be broadcast together"
    with pytest.raises(ValueError, match=re.escape(reflected)):
        op(np.ones((4, 5)), t((2, 3)))  # ndarray on the left


@pytest.mark.parametrize("a_shape, b_shape", [
    ((2, 3), (4, 5)), ((3,), (4,)), ((2, 3), (4,)), ((4,), (3, 2)),
    ((2, 3, 4), (3, 4, 5)), ((5, 2, 3), (2, 4, 1)),
])
def test_matmul_mismatch_names_both_shapes(a_shape, b_shape):
    for a, b in [(t(a_shape), t(b_shape)), (np.ones(a_shape), t(b_shape)),
                 (t(a_shape), np.ones(b_shape))]:
        with pytest.raises(ValueError) as info:
            a @ b
        message = str(info.value)
        assert "matmul" in message
        assert str(a_shape) in message and str(b_shape) in message
    with pytest.raises(ValueError, match="matmul"):
        dg.matmul(t(a_shape), t(b_shape))


def test_matmul_of_zero_dim_operand():
    with pytest.raises(ValueError, match=r"matmul.*\(\).*\(3,\)"):
        dg.tensor(2.0, requires_grad=True) @ t((3,))


def test_reshape_to_wrong_size():
    with pytest.raises(ValueError) as info:
        t((2, 3)).reshape(4, 2)
    message = str(info.value)
    assert "reshape" in message and "(2, 3)" in message and "(4, 2)" in message
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3\)"):
        t((2, 3)).reshape(-1, 4)
    with pytest.raises(ValueError, match="reshape"):
        dg.reshape(t((2, 3)), (7,))


def test_where_mismatch_names_the_condition_shape():
    with pytest.raises(ValueError) as info:
        dg.where(np.ones(5, dtype=bool), t((2, 3)), 1.0)
    message = str(info.value)
    assert "where" in message and "(5,)" in message and "(2, 3)" in message


def test_concatenate_and_stack_mismatches():
    with pytest.raises(ValueError, match=r"concatenate.*\(2, 3\).*\(2, 4\)"):
        dg.concatenate([t((2, 3)), t((2, 4))], axis=0)
    with pytest.raises(ValueError, match=r"stack.*\(2, 3\).*\(3, 2\)"):
        dg.stack([t((2, 3)), t((3, 2))])
    with pytest.raises(ValueError, match="concatenate"):
        dg.concatenate([])
    with pytest.raises(ValueError, match="stack"):
        dg.stack([])


# --- indices and axes out of range ----------------------------------------------------


@pytest.mark.parametrize("index", [5, -3, (0, 3), np.s_[:, [0, 7]], [2, 0],
                                   np.array([True, False, True])],
                         ids=["int", "negative", "tuple", "int-array", "list", "mask"])
def test_out_of_range_index_is_value_and_index_error(index):
    with pytest.raises(ValueError) as info:
        t((2, 3))[index]
    assert isinstance(info.value, IndexError)
    assert "getitem" in str(info.value) and "(2, 3)" in str(info.value)
    with pytest.raises(IndexError):
        t((2, 3))[index]


@pytest.mark.parametrize("name", ["sum", "mean", "var", "max", "min", "logsumexp"])
@pytest.mark.parametrize("axis", [2, -3, (0, 2), (0, -5)])
def test_reduction_axis_out_of_range(name, axis):
    with pytest.raises(ValueError) as info:
        getattr(t((2, 3)), name)(axis=axis)
    message = str(info.value)
    assert name in message and "(2, 3)" in message
    with pytest.raises(ValueError, match=name):
        getattr(dg, name)(t((2, 3)), axis=axis)


def test_repeated_reduction_axis():
    with pytest.raises(ValueError, match="sum"):
        t((2, 3)).sum(axis=(0, -2))


@pytest.mark.parametrize("axes", [(0, 2), (0, -3), (0,), (0, 0), (1, 0, 2)])
def test_transpose_axes_out_of_range_or_not_a_permutation(axes):
    with pytest.raises(ValueError) as info:
        t((2, 3)).transpose(*axes)
    assert "transpose" in str(info.value) and "(2, 3)" in str(info.value)


@pytest.mark.parametrize("axis1, axis2", [(0, 2), (-3, 1), (5, 0)])
def test_swapaxes_out_of_range(axis1, axis2):
    with pytest.raises(ValueError) as info:
        t((2, 3)).swapaxes(axis1, axis2)
    assert "swapaxes" in str(info.value) and "(2, 3)" in str(info.value)


def test_concatenate_and_stack_axis_out_of_range():
    with pytest.raises(ValueError, match=r"concatenate.*axis"):
        dg.concatenate([t((2, 3)), t((2, 3))], axis=2)
    with pytest.raises(ValueError, match=r"stack.*axis"):
        dg.stack([t((2, 3)), t((2, 3))], axis=-4)


# --- requires_grad and backward misuse ------------------------------------------------


@pytest.mark.parametrize("data", [[1, 2], 3, True, np.arange(3), np.array([True, False])])
def test_requires_grad_on_integer_or_bool_data_is_a_type_error(data):
    with pytest.raises(TypeError) as info:
        dg.tensor(data, requires_grad=True)
    assert str(np.asarray(data).dtype) in str(info.value)
    with pytest.raises(TypeError):
        dg.tensor(data).requires_grad_()


def test_backward_on_non_scalar_needs_grad():
    y = t((2, 3)) * 2.0
    with pytest.raises(ValueError) as info:
        y.backward()
    assert "(2, 3)" in str(info.value)


def test_backward_with_grad_of_wrong_shape():
    x = t((2, 3))
    y = x * 2.0
    with pytest.raises(ValueError) as info:
        y.backward(grad=np.ones((3, 2)))
    message = str(info.value)
    assert "(3, 2)" in message and "(2, 3)" in message
    assert x.grad is None
    y.backward(grad=np.ones((2, 3)))  # the failed call left the graph intact
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 2.0))


def test_backward_on_tensor_without_grad():
    with pytest.raises(ValueError, match="require"):
        t((2,), requires_grad=False).sum().backward()
    with pytest.raises(ValueError, match="require"):
        (t((2,), requires_grad=False) * t((2,), requires_grad=False)).sum().backward()


def test_item_of_many_elements_and_clip_without_bounds():
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        t((2, 3)).item()
    with pytest.raises(ValueError, match="clip"):
        t((2,)).clip()


def test_tensor_from_unsupported_data():
    with pytest.raises(TypeError):
        dg.tensor("not numbers")
    with pytest.raises(TypeError):
        dg.tensor({"a": 1.0})


def test_grad_of_non_scalar_function_and_bad_argnums():
    with pytest.raises(ValueError, match="scalar"):
        dg.grad(lambda x: x * 2.0)(np.ones(3))
    with pytest.raises(ValueError, match="argnums"):
        dg.grad(lambda x: x.sum(), argnums=1)(np.ones(3))
    with pytest.raises(ValueError, match="argnums"):
        dg.hessian(lambda x, y: (x * y).sum(), argnums=(0, 2))(np.ones(2), np.ones(2))


# --- gradcheck catches a wrong backward -----------------------------------------------


class WrongAtOneElement(dg.Function):
    """z = a², but backward claims 3a instead of 2a at element (1, 2)."""

    name = "wrong_square"
    saves = (0,)

    def forward(self, a):
        return a * a

    def backward(self, g):
        (a,) = self.saved
        slope = 2 * a
        slope[1, 2] = 3 * a[1, 2]
        return g * slope


class WrongSecondInput(dg.Function):
    """z = a * b, with the gradient for b off by a factor 1.5."""

    name = "wrong_mul"
    saves = (0, 1)

    def forward(self, a, b):
        return a * b

    def backward(self, g):
        a, b = self.saved
        return g * b, g * a * 1.5


class RightCube(dg.Function):
    name = "cube"
    saves = (0,)

    def forward(self, a):
        return a**3

    def backward(self, g):
        (a,) = self.saved
        return g * 3 * a**2


def numbers_in(message: str) -> list[float]:
    return [float(s) for s in re.findall(r"[-+]?\d*\.\d+(?:[eE][-+]?\d+)?", message)]


def test_gradcheck_names_input_element_and_both_values():
    data = np.full((2, 3), 0.5)
    data[1, 2] = 0.7
    x = dg.tensor(data, requires_grad=True)
    with pytest.raises(dg.GradcheckError) as info:
        dg.gradcheck(lambda a: dg.Tensor.apply(WrongAtOneElement, a), [x])
    message = str(info.value)
    assert re.search(r"input\D*0\b", message)
    assert "(1, 2)" in message
    values = numbers_in(message)
    assert any(v == pytest.approx(2.1, rel=1e-5) for v in values)  # analytic: 3a
    assert any(v == pytest.approx(1.4, rel=1e-5) for v in values)  # numeric: 2a
    assert dg.get_default_dtype() == np.float32  # gradcheck's float64 switch was undone


def test_gradcheck_names_the_second_input():
    x = dg.tensor(np.array([0.25, 0.5]), requires_grad=True)
    y = dg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(dg.GradcheckError) as info:
        dg.gradcheck(lambda a, b: dg.Tensor.apply(WrongSecondInput, a, b), [x, y])
    message = str(info.value)
    assert re.search(r"input\D*1\b", message)
    assert "(0,)" in message
    values = numbers_in(message)
    assert any(v == pytest.approx(0.375, rel=1e-5) for v in values)  # 1.5 * a[0]
    assert any(v == pytest.approx(0.25, rel=1e-5) for v in values)


def test_gradcheck_detects_a_wrong_gradient_only_for_inputs_that_require_it():
    x = dg.tensor(np.array([0.25, 0.5]), requires_grad=True)
    y = dg.tensor(np.array([1.0, 2.0]))  # not checked: its wrong rule is never compared
    assert dg.gradcheck(lambda a, b: dg.Tensor.apply(WrongSecondInput, a, b), [x, y]) is True


def test_gradcheck_passes_a_correct_custom_function_and_backward_uses_it():
    x = dg.tensor(np.array([0.5, -1.5]), requires_grad=True)
    assert dg.gradcheck(lambda a: dg.Tensor.apply(RightCube, a), [x]) is True
    dg.Tensor.apply(RightCube, x).sum().backward()
    np.testing.assert_allclose(x.grad, 3 * x.data**2)


def test_gradcheck_misuse():
    with pytest.raises(ValueError, match="requires grad"):
        dg.gradcheck(lambda a: a * 2.0, [t((2,), requires_grad=False)])
    with pytest.raises(TypeError, match="Tensor"):
        dg.gradcheck(lambda a: a.data * 2.0, [t((2,))])
