"""Layers: shapes and PyTorch-compatible state_dict keys, initialisation, forward values
against NumPy, parameter gradients against central differences, and errors."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deltagrad as dg
from deltagrad import nn
from deltagrad.nn import functional as F


@pytest.fixture
def float64():
    previous = dg.get_default_dtype()
    dg.set_default_dtype(np.float64)
    yield
    dg.set_default_dtype(previous)


def leaf(array):
    return dg.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def check_parameter_gradients(module, loss_of_module, eps=1e-6, atol=1e-6):
    """Compare each parameter's .grad from backward() with central differences of the loss."""
    module.zero_grad()
    loss_of_module().backward()
    for name, p in module.named_parameters():
        numeric = np.zeros_like(p.data)
        for i in np.ndindex(p.shape):
            original = p.data[i]
            p.data[i] = original + eps
            plus = loss_of_module().item()
            p.data[i] = original - eps
            minus = loss_of_module().item()
            p.data[i] = original
            numeric[i] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(p.grad, numeric, atol=atol, err_msg=name)


# --- Linear -------------------------------------------------------------------------------


def test_linear_shapes_dtype_and_pytorch_keys():
    layer = nn.Linear(3, 5)
    assert layer.weight.shape == (5, 3) and layer.bias.shape == (5,)
    assert layer.weight.dtype == np.float32 and layer.weight.requires_grad
    assert {k: v.shape for k, v in layer.state_dict().items()} == {"weight": (5, 3),
                                                                    "bias": (5,)}
    assert nn.Linear(3, 5, bias=False).bias is None
    assert [n for n, _ in nn.Linear(3, 5, bias=False).named_parameters()] == ["weight"]


def test_linear_takes_the_default_dtype(float64):
    assert nn.Linear(2, 2).weight.dtype == np.float64


def test_linear_default_init_is_uniform_within_one_over_sqrt_fan_in():
    layer = nn.Linear(400, 300, rng=np.random.default_rng(0))
    bound = 1 / math.sqrt(400)
    for values in (layer.weight.data, layer.bias.data):
        assert np.abs(values).max() <= bound
        assert np.abs(values).max() > 0.95 * bound
    # U(-b, b) has standard deviation b / √3.
    assert layer.weight.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)


def test_linear_forward_equals_numpy_for_any_leading_axes():
    layer = nn.Linear(3, 2, rng=np.random.default_rng(1))
    w, b = layer.weight.data, layer.bias.data
    rng = np.random.default_rng(2)
    for shape in [(3,), (4, 3), (2, 5, 3)]:
        x = rng.normal(size=shape).astype(np.float32)
        y = layer(x)
        assert y.shape == shape[:-1] + (2,) and y.dtype == np.float32
        np.testing.assert_allclose(y.numpy(), x @ w.T + b, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(layer.bias.data, b)  # the in-place add left b alone


def test_linear_gradients(float64):
    rng = np.random.default_rng(3)
    layer = nn.Linear(3, 2, rng=rng)
    x = rng.normal(size=(2, 4, 3))
    weights = rng.normal(size=(2, 4, 2))
    check_parameter_gradients(layer, lambda: (layer(x) * weights).sum())
    assert dg.gradcheck(lambda x: layer(x), [leaf(x)])


def test_linear_closed_form_gradients():
    rng = np.random.default_rng(4)
    layer = nn.Linear(3, 2, rng=rng)
    x = dg.tensor(rng.normal(size=(5, 3)).astype(np.float32), requires_grad=True)
    g = rng.normal(size=(5, 2)).astype(np.float32)
    layer(x).backward(g)
    np.testing.assert_allclose(x.grad, g @ layer.weight.data, rtol=1e-5)
    np.testing.assert_allclose(layer.weight.grad, g.T @ x.data, rtol=1e-5)
    np.testing.assert_allclose(layer.bias.grad, g.sum(0), rtol=1e-5)


def test_linear_rejects_bad_sizes_and_inputs():
    with pytest.raises(ValueError, match="Linear: in_features must be a positive integer"):
        nn.Linear(0, 3)
    with pytest.raises(ValueError, match=r"linear: input of shape \(2, 4\) does not match"):
        nn.Linear(3, 2)(np.zeros((2, 4), np.float32))


# --- Sequential and MLP ---------------------------------------------------------------------


def test_sequential_indexing_iteration_and_names():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    model = nn.Sequential(a, b, c)
    assert len(model) == 3 and model[0] is a and model[-1] is c and list(model) == [a, b, c]
    assert [name for name, _ in model.named_children()] == ["0", "1", "2"]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    tail = model[1:]
    assert isinstance(tail, nn.Sequential) and list(tail) == [b, c]
    assert [name for name, _ in tail.named_children()] == ["1", "2"]  # names kept, as PyTorch
    x = np.ones((4, 2), np.float32)
    np.testing.assert_allclose(model(x).numpy(), c(b(a(x))).numpy())
    with pytest.raises(IndexError, match="Sequential: index 3 is out of range for 3"):
        model[3]
    with pytest.raises(TypeError, match="every item must be a Module"):
        nn.Sequential(a, "relu")


def test_sequential_append_and_dict():
    model = nn.Sequential({"encoder": nn.Linear(2, 2), "act": nn.Tanh()})
    model.append(nn.Linear(2, 1))
    assert [name for name, _ in model.named_children()] == ["encoder", "act", "2"]


def test_mlp_state_dict_keys_and_shapes_match_pytorch_sequential():
    model = nn.MLP(3, [8, 5], 2)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert shapes == {"layers.0.weight": (8, 3), "layers.0.bias": (8,),
                      "layers.2.weight": (5, 8), "layers.2.bias": (5,),
                      "layers.4.weight": (2, 5), "layers.4.bias": (2,)}
    with_dropout = nn.MLP(3, (8,), 2, dropout=0.2)
    assert list(with_dropout.state_dict()) == ["layers.0.weight", "layers.0.bias",
                                               "layers.3.weight", "layers.3.bias"]
    assert [type(m).__name__ for m in with_dropout.layers] == ["Linear", "ReLU", "Dropout",
                                                               "Linear"]


def test_mlp_with_no_hidden_layers_is_linear():
    model = nn.MLP(4, [], 3)
    assert list(model.state_dict()) == ["layers.0.weight", "layers.0.bias"]
    assert model(np.zeros((2, 4), np.float32)).shape == (2, 3)


def test_mlp_with_many_hidden_layers():
    model = nn.MLP(2, [4] * 5, 1, activation="gelu")
    assert len([m for m in model.layers if isinstance(m, nn.Linear)]) == 6
    assert model(np.zeros((3, 2), np.float32)).shape == (3, 1)


@pytest.mark.parametrize("activation, kind", [("relu", nn.ReLU), ("leaky_relu", nn.LeakyReLU),
                                              ("tanh", nn.Tanh), ("sigmoid", nn.Sigmoid),
                                              ("gelu", nn.GELU)])
def test_mlp_activation_by_name_and_matching_initialisation(activation, kind):
    model = nn.MLP(300, [200, 200], 100, activation=activation, rng=np.random.default_rng(0))
    first, second, last = (m for m in model.layers if isinstance(m, nn.Linear))
    assert isinstance(model.layers[1], kind)
    if activation in ("relu", "gelu"):
        std = math.sqrt(2 / 300)  # He: gain √2 / √fan_in
    elif activation == "leaky_relu":
        std = math.sqrt(2 / (1 + 0.01**2) / 300)
    else:  # Xavier: gain √(2 / (fan_in + fan_out))
        std = nn.init.calculate_gain(activation) * math.sqrt(2 / (300 + 200))
    assert first.weight.data.std() == pytest.approx(std, rel=0.03)
    assert np.abs(first.weight.data).max() <= std * math.sqrt(3) * (1 + 1e-6)
    assert last.weight.data.std() == pytest.approx(math.sqrt(2 / (200 + 100)), rel=0.03)
    for linear in (first, second, last):
        np.testing.assert_array_equal(linear.bias.data, 0)


def test_mlp_rejects_unknown_activation_listing_valid_names():
    with pytest.raises(ValueError, match=r"MLP: unknown activation 'swish'; choose one of "
                                         r"\['gelu', 'leaky_relu', 'relu', 'sigmoid', 'tanh'\]"):
        nn.MLP(2, [4], 1, activation="swish")
    with pytest.raises(ValueError, match=r"MLP: p must be a probability in \[0, 1\)"):
        nn.MLP(2, [4], 1, dropout=1.0)
    with pytest.raises(ValueError, match="each hidden size must be a positive integer"):
        nn.MLP(2, [4, 0], 1)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "sigmoid", "gelu"])
def test_mlp_parameter_gradients(float64, activation):
    rng = np.random.default_rng(5)
    model = nn.MLP(3, [4, 3], 2, activation=activation, rng=rng)
    x = rng.normal(size=(5, 3))
    target = np.array([0, 1, 1, 0, 1])
    check_parameter_gradients(model, lambda: F.cross_entropy(model(x), target))


def test_mlp_is_reproducible_from_a_generator_or_manual_seed():
    a = nn.MLP(3, [5], 2, rng=np.random.default_rng(11)).state_dict()
    b = nn.MLP(3, [5], 2, rng=np.random.default_rng(11)).state_dict()
    dg.manual_seed(11)
    c = nn.MLP(3, [5], 2).state_dict()
    dg.manual_seed(11)
    d = nn.MLP(3, [5], 2).state_dict()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
        np.testing.assert_array_equal(c[key], d[key])
    fresh = nn.MLP(3, [5], 2).state_dict()
    assert not np.array_equal(a["layers.0.weight"], fresh["layers.0.weight"])


def test_mlp_dropout_only_in_training_mode():
    model = nn.MLP(10, [50], 1, dropout=0.5, rng=np.random.default_rng(0))
    x = np.ones((1, 10), np.float32)
    assert model(x).item() != model(x).item()  # fresh masks each call
    model.eval()
    assert model(x).item() == model(x).item()


# --- activations, Dropout, Flatten ---------------------------------------------------------------


def test_activation_layers_match_functional():
    x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    pairs = [(nn.ReLU(), F.relu(x)), (nn.LeakyReLU(0.2), F.leaky_relu(x, 0.2)),
             (nn.Tanh(), F.tanh(x)), (nn.Sigmoid(), F.sigmoid(x)), (nn.GELU(), F.gelu(x)),
             (nn.GELU("tanh"), F.gelu(x, "tanh")), (nn.Softmax(axis=0), F.softmax(x, 0)),
             (nn.LogSoftmax(), F.log_softmax(x)), (nn.Identity(), dg.tensor(x))]
    for layer, expected in pairs:
        np.testing.assert_array_equal(np.asarray(layer(x)), expected.numpy())
        assert list(layer.parameters()) == []
    with pytest.raises(ValueError, match="GELU: approximate must be 'none' or 'tanh'"):
        nn.GELU("fast")


def test_dropout_layer_statistics_and_eval_identity():
    drop = nn.Dropout(0.25, rng=np.random.default_rng(0))
    x = np.ones(100_000, np.float32)
    y = drop(x).numpy()
    assert abs((y == 0).mean() - 0.25) < 0.01
    assert abs(y.mean() - 1.0) < 0.01
    assert drop.eval() is drop and not drop.training
    np.testing.assert_array_equal(drop(x).numpy(), x)
    with pytest.raises(ValueError, match=r"Dropout: p must be a probability in \[0, 1\)"):
        nn.Dropout(1.0)


def test_flatten_keeps_the_batch_axis(float64):
    x = leaf(np.arange(24.0).reshape(2, 3, 4))
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Flatten(0, 1)(x).shape == (6, 4)
    assert dg.gradcheck(lambda x: nn.Flatten()(x), [x])
    with pytest.raises(ValueError, match=r"Flatten: start_dim=1, end_dim=-1 do not fit an input "
                                         r"of shape \(3,\)"):
        nn.Flatten()(np.zeros(3))


# --- Embedding ----------------------------------------------------------------------------------


def test_embedding_weight_is_standard_normal_and_gathers_rows():
    emb = nn.Embedding(1000, 64, rng=np.random.default_rng(0))
    assert emb.weight.shape == (1000, 64) and emb.weight.dtype == np.float32
    assert emb.weight.data.mean() == pytest.approx(0, abs=0.01)
    assert emb.weight.data.std() == pytest.approx(1, rel=0.01)
    idx = np.array([[1, 5, 1], [999, 0, 5]])
    out = emb(idx)
    assert out.shape == (2, 3, 64)
    np.testing.assert_array_equal(out.numpy(), emb.weight.data[idx])


@pytest.mark.parametrize("rows, dim", [(50, 8), (50, 64), (1000, 8)],
                         ids=["bincount-per-column", "segment-sum-wide", "segment-sum-many-rows"])
def test_embedding_backward_with_repeated_indices_equals_one_hot_matmul(rows, dim):
    rng = np.random.default_rng(1)
    emb = nn.Embedding(rows, dim, rng=rng)
    idx = rng.integers(0, rows, size=(16, 20))  # 320 lookups: many rows repeat
    idx[0, :5] = 7  # one row repeated many times
    g = rng.normal(size=(16, 20, dim)).astype(np.float32)
    emb(idx).backward(g)
    one_hot = np.eye(rows, dtype=np.float64)[idx.reshape(-1)]  # (320, rows)
    expected = one_hot.T @ g.reshape(-1, dim).astype(np.float64)
    np.testing.assert_allclose(emb.weight.grad, expected, rtol=1e-5, atol=1e-5)
    assert emb.weight.grad.dtype == np.float32


@settings(max_examples=60, deadline=None)
@given(num_rows=st.integers(1, 80), lookups=st.integers(0, 120), dim=st.integers(1, 40),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**32 - 1))
def test_rows_scatter_add_equals_np_add_at(num_rows, lookups, dim, dtype, seed):
    from deltagrad.nn.ops import rows_scatter_add

    rng = np.random.default_rng(seed)
    rows = rng.integers(0, num_rows, lookups)
    g = rng.normal(size=(lookups, dim)).astype(dtype)
    expected = np.zeros((num_rows, dim), dtype)
    np.add.at(expected, rows, g)
    out = rows_scatter_add(g, rows, num_rows)
    assert out.dtype == dtype and out.shape == (num_rows, dim)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_embedding_gradcheck_and_second_order(float64):
    rng = np.random.default_rng(2)
    weight = rng.normal(size=(5, 3))
    idx = np.array([[0, 4, 4], [2, 0, 4]])
    assert dg.gradcheck(lambda w: F.embedding(idx, w), [leaf(weight)])

    def f(w):  # Σ E[idx]³: its Hessian is diagonal, 6 · count · w
        return (F.embedding(idx, w.reshape(5, 3)) ** 3).sum()

    counts = np.bincount(idx.ravel(), minlength=5)
    expected = np.diag((6 * counts[:, None] * weight).ravel())
    np.testing.assert_allclose(dg.hessian(f)(weight.ravel()), expected, atol=1e-10)


def test_embedding_rejects_bad_indices():
    emb = nn.Embedding(10, 2)
    with pytest.raises(ValueError, match=r"embedding: index 10 is out of range for "
                                         r"num_embeddings = 10 \(valid: 0 to 9\)"):
        emb(np.array([0, 10]))
    with pytest.raises(TypeError, match="embedding: indices must be integers, got dtype float32"):
        emb(np.array([1.0], np.float32))
    with pytest.raises(ValueError, match="embedding_dim must be a positive integer"):
        nn.Embedding(10, 0)
