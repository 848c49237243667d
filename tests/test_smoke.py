import numpy as np

import deltagrad as dg


def test_square_sum_gradient_is_twice_x():
    x = dg.tensor([1.0, -2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, -4.0, 6.0])
    assert x.grad.dtype == np.float32


def test_quickstart_example_learns_xor():
    import runpy
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "examples" / "quickstart.py"
    runpy.run_path(str(script), run_name="__main__")
