"""Module and Parameter: registration order, dotted names, train/eval, zero_grad,
state_dict round trips and strict loading, dtype conversion, repr."""

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import nn, optim


class Block(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.scale = nn.Parameter(np.ones(n, np.float32))
        self.inner = nn.Linear(n, n)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.inner(x) * self.scale)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Linear(2, 3)
        self.blocks = nn.Sequential(Block(3), Block(3))
        self.offset = nn.Parameter(np.zeros(1, np.float32))
        self.name = "not registered"

    def forward(self, x):
        return self.blocks(self.first(x)) + self.offset


def test_named_parameters_in_registration_order_with_dotted_names():
    # As PyTorch: a module's own parameters first, then each child's, depth first.
    assert [name for name, _ in Net().named_parameters()] == [
        "offset",
        "first.weight", "first.bias",
        "blocks.0.scale", "blocks.0.inner.weight", "blocks.0.inner.bias",
        "blocks.1.scale", "blocks.1.inner.weight", "blocks.1.inner.bias",
    ]
    assert list(Net().state_dict()) == [name for name, _ in Net().named_parameters()]


def test_parameters_children_and_modules():
    net = Net()
    assert len(list(net.parameters())) == 9
    assert all(isinstance(p, nn.Parameter) for p in net.parameters())
    assert [name for name, _ in net.named_children()] == ["first", "blocks"]
    assert list(net.children()) == [net.first, net.blocks]
    kinds = [type(m).__name__ for m in net.modules()]
    assert kinds == ["Net", "Linear", "Sequential", "Block", "Linear", "Dropout", "Block",
                     "Linear", "Dropout"]
    assert [name for name, _ in net.named_modules()][:4] == ["", "first", "blocks", "blocks.0"]


def test_reassigning_replaces_in_place_and_none_unregisters():
    net = Net()
    new = nn.Linear(2, 3)
    net.first = new
    assert list(net.named_children())[0] == ("first", new)  # same position
    net.offset = None
    assert "offset" not in dict(net.named_parameters())
    del net.first
    assert "first.weight" not in net.state_dict()


def test_assigning_a_plain_tensor_to_a_parameter_name_is_refused():
    layer = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="cannot assign a Tensor to parameter 'weight'"):
        layer.weight = dg.tensor(np.zeros((2, 2), np.float32))


def test_assigning_before_super_init_is_a_clear_error():
    class Broken(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\) first"):
        Broken()


def test_shared_parameter_listed_once_but_saved_under_each_name():
    a = nn.Linear(2, 2)
    model = nn.Sequential(a, nn.ReLU(), a)
    assert len(list(model.parameters())) == 2
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_register_parameter_and_add_module():
    m = nn.Module()
    m.register_parameter("w", nn.Parameter(np.ones(2, np.float32)))
    m.add_module("child", nn.Linear(1, 1))
    assert list(m.state_dict()) == ["w", "child.weight", "child.bias"]
    with pytest.raises(TypeError, match="must be a Parameter"):
        m.register_parameter("v", np.ones(2))
    with pytest.raises(ValueError, match="without '.'"):
        m.add_module("a.b", nn.Linear(1, 1))
    with pytest.raises(NotImplementedError, match="Module must define forward"):
        m(1)


def test_parameter_requires_grad_and_float_data():
    p = nn.Parameter([1.0, 2.0])
    assert p.requires_grad and p.dtype == np.float32 and p.is_leaf
    assert repr(p).startswith("Parameter containing:\ntensor(")
    with pytest.raises(TypeError, match="Parameter: data must be floating point, got dtype int64"):
        nn.Parameter(np.array([1, 2], dtype=np.int64))


def test_train_and_eval_are_recursive_and_return_self():
    net = Net()
    assert net.training and all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    assert net.train() is net and all(m.training for m in net.modules())
    net.train(False)
    assert not net.blocks[1].drop.training


def test_zero_grad_sets_grads_to_none():
    net = Net().eval()
    net(np.ones((4, 2), np.float32)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_apply_visits_every_module():
    seen = []
    Net().apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and seen.count("Linear") == 3


# --- state_dict / load_state_dict -------------------------------------------------------------


def test_state_dict_holds_copies():
    layer = nn.Linear(2, 2)
    state = layer.state_dict()
    state["weight"][...] = 7.0
    assert not np.any(layer.weight.data == 7.0)
    before = layer.state_dict()["bias"].copy()
    layer.bias.data += 1
    np.testing.assert_array_equal(state["bias"], before)


def test_round_trip_reproduces_the_outputs_exactly():
    source, target = nn.MLP(3, [8, 8], 2), nn.MLP(3, [8, 8], 2)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    assert not np.array_equal(source(x).numpy(), target(x).numpy())
    result = target.load_state_dict(source.state_dict())
    assert result == nn.LoadResult([], [])
    np.testing.assert_array_equal(source(x).numpy(), target(x).numpy())


def test_load_copies_in_place_so_an_optimiser_keeps_working():
    layer = nn.Linear(2, 1)
    weight, weight_data = layer.weight, layer.weight.data
    opt = optim.SGD(layer.parameters(), lr=0.5)
    layer.load_state_dict({"weight": np.array([[1.0, 2.0]]), "bias": np.array([0.0])})
    assert layer.weight is weight and layer.weight.data is weight_data
    assert layer.weight.dtype == np.float32  # float64 values were cast
    layer(np.array([[1.0, 1.0]], np.float32)).sum().backward()
    opt.step()
    np.testing.assert_allclose(layer.weight.data, [[0.5, 1.5]])


def test_strict_loading_names_missing_and_unexpected_keys():
    layer = nn.Linear(2, 1)
    with pytest.raises(ValueError, match=r"load_state_dict: missing keys \['bias'\] and "
                                         r"unexpected keys \['b'\]"):
        layer.load_state_dict({"weight": np.zeros((1, 2)), "b": np.zeros(1)})
    result = layer.load_state_dict({"weight": np.zeros((1, 2)), "b": np.zeros(1)}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["b"]
    np.testing.assert_array_equal(layer.weight.data, 0)


def test_shape_mismatch_names_key_and_both_shapes_and_writes_nothing():
    layer = nn.Linear(2, 3)
    before = layer.state_dict()
    bad = {"weight": np.ones((3, 2)), "bias": np.ones(4)}
    with pytest.raises(ValueError, match=r"load_state_dict: 'bias' has shape \(4,\) in the state "
                                         r"dict but \(3,\) in the model"):
        layer.load_state_dict(bad)
    np.testing.assert_array_equal(layer.weight.data, before["weight"])


def test_transposed_weight_is_refused():
    with pytest.raises(ValueError, match=r"'weight' has shape \(2, 3\) in the state dict but "
                                         r"\(3, 2\) in the model"):
        nn.Linear(2, 3).load_state_dict({"weight": np.zeros((2, 3)), "bias": np.zeros(3)})


def test_to_casts_parameters_and_grads():
    net = nn.MLP(2, [3], 1)
    net(np.ones((1, 2), np.float32)).sum().backward()
    assert net.to(np.float64) is net
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in net.parameters())
    assert net(np.ones((1, 2))).dtype == np.float64
    with pytest.raises(TypeError, match="to: expected a floating dtype"):
        net.to(np.int32)


def test_repr_reads_like_pytorch():
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Dropout(0.1),
                          nn.Sequential(nn.Linear(4, 1, bias=False)))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=4, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Dropout(p=0.1)\n"
        "  (3): Sequential(\n"
        "    (0): Linear(in_features=4, out_features=1, bias=False)\n"
        "  )\n"
        ")")
