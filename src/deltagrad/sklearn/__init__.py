"""scikit-learn estimators trained by deltagrad: ``MLPClassifier`` and ``MLPRegressor``.

Drop-in replacements for ``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor``: the
same hyperparameters (names, defaults, meanings), fitted attributes and methods, so they
work in pipelines, grid searches and cross-validation; plus ``dropout``,
``clip_grad_norm`` and ``dtype`` (float32 by default). Importing this module imports
scikit-learn (``import deltagrad`` alone does not); it needs scikit-learn >= 1.6.

>>> from sklearn.datasets import load_iris
>>> from sklearn.model_selection import cross_val_score
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> from deltagrad.sklearn import MLPClassifier
>>> X, y = load_iris(return_X_y=True)
>>> model = make_pipeline(StandardScaler(), MLPClassifier(max_iter=300, random_state=0))
>>> bool(cross_val_score(model, X, y, cv=3).mean() > 0.9)
True
"""

try:
    from sklearn.utils.validation import validate_data  # noqa: F401  (new in 1.6)
except ImportError as error:  # pragma: no cover - depends on the installed version
    import sklearn

    raise ImportError(f"deltagrad.sklearn needs scikit-learn >= 1.6 (validate_data, "
                      f"__sklearn_tags__), found {sklearn.__version__}; upgrade it with "
                      f"pip install -U scikit-learn") from error

from ._classifier import MLPClassifier
from ._params import InvalidParameterError
from ._regressor import MLPRegressor

__all__ = ["InvalidParameterError", "MLPClassifier", "MLPRegressor"]
