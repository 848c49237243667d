"""Plots: real PNG files whose pixels show what they should; a clear error without
matplotlib; pyplot's global state is left alone."""

import sys

import numpy as np
import pytest

from deltagrad import plots
from deltagrad.train import History

pytest.importorskip("matplotlib", reason="plots need matplotlib (pip install deltagrad[plot])")


def read_png(path):
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return imread(str(path))


def test_history_plot_has_one_panel_per_kind_of_curve(tmp_path):
    h = History()
    for e in range(1, 6):
        h.append(e, {"loss": 1 / e, "val_loss": 1.2 / e, "accuracy": 1 - 1 / (e + 1),
                     "val_accuracy": 0.9, "lr": 0.1 * 0.5 ** e, "time": 0.1})
    wide = read_png(plots.plot_history(h, tmp_path / "h.png"))
    h2 = History()
    for e in range(1, 6):
        h2.append(e, {"loss": 1 / e, "lr": 0.1})
    narrow = read_png(plots.plot_history(h2, tmp_path / "h2.png"))
    # loss + metrics + learning rate panels against a lone loss panel: three times as wide.
    assert wide.shape[1] == pytest.approx(3 * narrow.shape[1], rel=0.02)
    with pytest.raises(ValueError, match="history is empty"):
        plots.plot_history(History(), tmp_path / "e.png")


def test_confusion_matrix_cells_are_shaded_by_share(tmp_path):
    cm = np.array([[10, 0], [0, 10]])
    image = read_png(plots.plot_confusion_matrix(cm, tmp_path / "cm.png",
                                                 class_names=["cat", "dog"]))
    assert image.ndim == 3 and image.shape[0] > 100
    dark = (image[..., :3].mean(axis=2) < 0.35).sum()  # the two full diagonal cells
    assert dark > 0.05 * image.shape[0] * image.shape[1]
    with pytest.raises(ValueError, match="square matrix"):
        plots.plot_confusion_matrix(np.ones((2, 3)), tmp_path / "x.png")
    with pytest.raises(ValueError, match="3 class names for 2 classes"):
        plots.plot_confusion_matrix(cm, tmp_path / "x.png", class_names=list("abc"))


def test_decision_boundary_colours_each_side_by_the_predicted_class(tmp_path):
    X = np.array([[-1.0, 0.0], [1.0, 0.0], [-1.0, 1.0], [1.0, 1.0]])
    y = np.array([0, 1, 0, 1])

    def predict(points):  # the vertical line x = 0
        return (points[:, 0] > 0).astype(int)

    image = read_png(plots.plot_decision_boundary(predict, X, y, tmp_path / "b.png"))
    rgb = image[..., :3]
    row = rgb[rgb.shape[0] // 2]
    left, right = row[int(0.2 * len(row))], row[int(0.8 * len(row))]
    assert left[2] > left[0]   # C0 (blue) tint on the left
    assert right[0] > right[2]  # C1 (orange) tint on the right
    with pytest.raises(ValueError, match=r"needs 2-D points \(n, 2\)"):
        plots.plot_decision_boundary(predict, np.ones((4, 3)), y, tmp_path / "x.png")


def test_pyplot_is_not_imported(tmp_path):
    before = sys.modules.get("matplotlib.pyplot")  # another test may have imported it
    h = History()
    h.append(1, {"loss": 1.0})
    plots.plot_history(h, tmp_path / "x.png")
    assert sys.modules.get("matplotlib.pyplot") is before


def test_a_missing_matplotlib_gives_the_install_command(monkeypatch, tmp_path):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(ImportError, match=r"pip install deltagrad\[plot\]"):
        plots.require_matplotlib()
    h = History()
    h.append(1, {"loss": 1.0})
    with pytest.raises(ImportError, match=r"pip install deltagrad\[plot\]"):
        plots.plot_history(h, tmp_path / "x.png")
