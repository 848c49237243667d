"""Module.summary (a Keras-like table) and how tensors and modules show in Jupyter."""

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import nn


def test_summary_counts_parameters_and_shows_output_shapes():
    model = nn.MLP(2, [16, 16], 3, norm="batch", residual=True, rng=np.random.default_rng(0))
    text = str(model.summary((2,)))
    lines = {line.split()[0]: line.split() for line in text.splitlines()[4:] if line.strip()}
    assert lines["layers.0"][-2:] == ["16)", "48"]          # (None, 16), 2*16 + 16
    assert lines["layers.3.module.0"][-1] == "272"          # 16*16 + 16
    assert lines["layers.4"][-3:] == ["(None,", "3)", "51"]
    total = sum(p.data.size for p in model.parameters())
    assert f"Total params: {total:,}" in text
    assert "Buffer elements (state, not trained): 66" in text  # 2 x (16 + 16 + 1)


def test_summary_runs_in_eval_mode_and_leaves_the_running_statistics_alone():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.5))
    before = {k: v.copy() for k, v in model.state_dict().items()}
    model.summary((3,))
    assert all(m.training for m in model.modules())
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_summary_without_input_shape_has_no_shape_column_and_a_bare_layer_one_row():
    text = str(nn.Linear(3, 4).summary())
    assert "Output shape" not in text and "(model) (Linear)" in text and "16" in text


@pytest.mark.parametrize("bad", [(0,), (2.5,), "2", (True,)])
def test_summary_refuses_a_bad_input_shape(bad):
    with pytest.raises(ValueError, match="summary: input_shape"):
        nn.Linear(2, 1).summary(bad)


def test_modules_and_tensors_show_as_html_in_jupyter():
    model = nn.MLP(2, [4], 1)
    assert "<table>" in model._repr_html_() and "layers.0" in model._repr_html_()
    w = dg.tensor(np.arange(100.0).reshape(10, 10), requires_grad=True)
    (w * w).sum().backward()
    page = w._repr_html_()
    assert "shape (10, 10), float64, requires grad" in page
    assert page.count("<tr>") == 2 * 9   # 8 rows + an ellipsis row, for the values and grad
    assert "<code>198</code>" in page   # the last gradient, 2 * 99
    assert "made by mul" in (w * 2)._repr_html_()
