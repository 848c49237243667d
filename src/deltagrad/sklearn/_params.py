"""The hyperparameters' table: what each may be, checked once at the start of every fit.

The constraints are scikit-learn's own (``MLPClassifier._parameter_constraints``), plus
the deltagrad extras ``dropout``, ``clip_grad_norm`` and ``dtype``. A bad value raises
:class:`InvalidParameterError` (both a ``ValueError`` and a ``TypeError``, as in
scikit-learn) naming the estimator, the parameter, what is allowed and what was given.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..optim._validation import Interval

STOCHASTIC_SOLVERS = ("sgd", "adam")
_ABSENT = object()


class InvalidParameterError(ValueError, TypeError):
    """A hyperparameter outside its allowed values (catch it as ValueError or TypeError)."""


def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not _is_bool(value)


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not _is_bool(value)


def _number(interval: Interval, integer: bool = False):
    def check(value):
        ok = _is_int(value) if integer else _is_real(value)
        return ok and value in interval
    check.describe = f"{'an int' if integer else 'a float'} {interval}"
    return check


def _options(*options):
    def check(value):
        return isinstance(value, str) and value in options
    check.describe = "one of " + ", ".join(repr(o) for o in options)
    return check


def _either(*checks):
    def check(value):
        return any(c(value) for c in checks)
    check.describe = " or ".join(c.describe for c in checks)
    return check


def _boolean(value):
    return _is_bool(value)


_boolean.describe = "True or False"


def _verbose(value):
    return _is_bool(value) or _is_int(value)


_verbose.describe = "a bool or an int"


def _infinity(value):
    return _is_real(value) and value == math.inf


_infinity.describe = "np.inf"


def _none(value):
    return value is None


_none.describe = "None"


def _float_dtype(value):
    if value is None:
        return True
    try:
        return np.dtype(value) in (np.float32, np.float64)
    except TypeError:
        return False


_float_dtype.describe = "np.float32, np.float64 or None (the input's dtype, as scikit-learn)"

CONSTRAINTS = {
    "activation": _options("identity", "logistic", "tanh", "relu"),
    "solver": _options("lbfgs", "sgd", "adam"),
    "alpha": _number(Interval(0, None)),
    "batch_size": _either(_options("auto"), _number(Interval(1, None), integer=True)),
    "learning_rate": _options("constant", "invscaling", "adaptive"),
    "learning_rate_init": _number(Interval(0, None, closed="neither")),
    "power_t": _number(Interval(0, None)),
    "max_iter": _number(Interval(1, None), integer=True),
    "shuffle": _boolean,
    "tol": _number(Interval(0, None)),
    "verbose": _verbose,
    "warm_start": _boolean,
    "momentum": _number(Interval(0, 1)),
    "nesterovs_momentum": _boolean,
    "early_stopping": _boolean,
    "validation_fraction": _number(Interval(0, 1, closed="left")),
    "beta_1": _number(Interval(0, 1, closed="left")),
    "beta_2": _number(Interval(0, 1, closed="left")),
    "epsilon": _number(Interval(0, None, closed="neither")),
    "n_iter_no_change": _either(_number(Interval(1, None), integer=True), _infinity),
    "max_fun": _number(Interval(1, None), integer=True),
    "loss": _options("squared_error", "poisson"),
    "dropout": _number(Interval(0, 1, closed="left")),
    "clip_grad_norm": _either(_none, _number(Interval(0, None, closed="neither"))),
    "dtype": _float_dtype,
}


def check_hidden_layer_sizes(name: str, value) -> tuple[int, ...]:
    """``hidden_layer_sizes`` as a tuple of widths: an int, or an array-like of positive ints
    (empty for a linear model)."""
    sizes = [value] if _is_int(value) else value
    try:
        sizes = [s.item() if isinstance(s, np.generic) else s for s in sizes]
    except TypeError:
        sizes = None
    if sizes is None or not all(_is_int(s) and s >= 1 for s in sizes):
        raise InvalidParameterError(
            f"{name}: hidden_layer_sizes must be a positive int or an array-like of positive "
            f"ints, got {value!r}")
    return tuple(int(s) for s in sizes)


def validate_params(estimator) -> None:
    """Check every hyperparameter of ``estimator`` against ``CONSTRAINTS``; raise
    :class:`InvalidParameterError` for the first that does not fit."""
    name = type(estimator).__name__
    check_hidden_layer_sizes(name, estimator.hidden_layer_sizes)
    # getattr, not get_params(): that inspects the signature, a millisecond per partial_fit
    for param, check in CONSTRAINTS.items():
        value = getattr(estimator, param, _ABSENT)
        if value is not _ABSENT and not check(value):
            raise InvalidParameterError(f"{name}: {param} must be {check.describe}, got "
                                        f"{value!r}")
