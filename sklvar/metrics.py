r"""The paper's scores: reconstruction (R), interpolation (I), projection (P) errors.

All three are mean squared errors divided by a variance :math:`\sigma^2`
(by default the variance of the true states passed in), so 1 is the error of
predicting a constant equal to the mean, and lower is better:

- R: :func:`reconstruction_error`, over all entries;
- I: :func:`interpolation_error`, over the missing entries only;
- P: :func:`projection_error`, the error :math:`x - \Phi(x)` of the prior
  :math:`\Phi` on complete, noise-free states.

:func:`neg_reconstruction_error_scorer` and
:func:`neg_interpolation_error_scorer` (also in :data:`SCORERS`) are scorers
for ``GridSearchCV(scoring=...)``: higher is better.

Notes
-----
Table 2 of the paper divides the Lorenz MSEs by the uncentred second moment of
the observed training states (about 257 for Lorenz-63 and 18.7 for Lorenz-96)
rather than by a variance: pass ``variance=np.mean(y_train[mask_train] ** 2)``
to put a number beside the paper's, and say which normalisation is used.
The MNIST scores of Table 1 are normalised by the variance of the training
pixels. This module imports neither torch nor any other part of sklvar.
"""

from numbers import Real

import numpy as np
from sklearn.utils._param_validation import HasMethods, Interval, validate_params

__all__ = [
    "SCORERS",
    "interpolation_error",
    "neg_interpolation_error_scorer",
    "neg_reconstruction_error_scorer",
    "projection_error",
    "reconstruction_error",
]


def _as_float_array(X, name):
    """``X`` as a non-empty float64 ndarray, with a clear error otherwise."""
    try:
        array = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must be an array of numbers, got {type(X).__name__} that "
            f"cannot be converted to float ({exc})."
        ) from exc
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}); expected values.")
    return array


def _check_same_shape(X_true, X_other, name_true, name_other):
    """Validate and convert a pair of arrays of the same shape."""
    X_true = _as_float_array(X_true, name_true)
    X_other = _as_float_array(X_other, name_other)
    if X_true.shape != X_other.shape:
        raise ValueError(
            f"{name_true} and {name_other} must have the same shape, got "
            f"{X_true.shape} and {X_other.shape}."
        )
    return X_true, X_other


def _check_finite(X, name, where=None):
    """Raise if ``X`` (or ``X[where]``) holds NaN or infinite values."""
    values = X if where is None else X[where]
    if not np.isfinite(values).all():
        n_bad = int(np.size(values) - np.isfinite(values).sum())
        place = "" if where is None else " on the scored (missing) entries"
        raise ValueError(
            f"{name} contains {n_bad} NaN or infinite value(s){place}; expected "
            "finite values (impute them first)."
        )


def _resolve_variance(variance, X_true, name_true):
    """The normaliser: ``variance`` if given, else ``np.var(X_true)`` (must be > 0)."""
    if variance is not None:
        return float(variance)
    variance = float(np.var(X_true))
    if not variance > 0:
        raise ValueError(
            f"{name_true} has zero variance, so the error cannot be normalised by "
            "it; pass variance= explicitly (e.g. the variance of the training "
            "states)."
        )
    return variance


def _normalised_mse(X_true, X_pred, variance, where=None):
    """Mean squared difference (over ``where`` when given) divided by ``variance``."""
    diff = X_true - X_pred
    if where is not None:
        diff = diff[where]
    return float(np.mean(diff**2) / variance)


_VARIANCE_CONSTRAINT = [Interval(Real, 0, None, closed="neither"), None]


@validate_params(
    {
        "X_true": ["array-like"],
        "X_pred": ["array-like"],
        "variance": _VARIANCE_CONSTRAINT,
    },
    prefer_skip_nested_validation=True,
)
def reconstruction_error(X_true, X_pred, *, variance=None):
    r"""Normalised mean squared error over all entries (the paper's R-score).

    .. math:: R = \frac{1}{\sigma^2 n} \sum_i (x_i - \hat x_i)^2

    Parameters
    ----------
    X_true : array-like of any shape
        True, complete states (finite).

    X_pred : array-like of the same shape as ``X_true``
        Reconstruction, e.g. the output of an imputer (finite).

    variance : float > 0, default=None
        Normaliser :math:`\sigma^2`. None uses ``np.var(X_true)``. To compare
        test scores across methods, pass the variance of the training states.

    Returns
    -------
    error : float
        Non-negative; 0 for a perfect reconstruction.

    See Also
    --------
    interpolation_error : The same error over the missing entries only.

    Examples
    --------
    >>> import numpy as np
    >>> from sklvar.metrics import reconstruction_error
    >>> X = np.arange(12.0).reshape(3, 4)
    >>> reconstruction_error(X, X)
    0.0
    >>> reconstruction_error(X, np.full_like(X, X.mean()))
    1.0
    """
    X_true, X_pred = _check_same_shape(X_true, X_pred, "X_true", "X_pred")
    _check_finite(X_true, "X_true")
    _check_finite(X_pred, "X_pred")
    variance = _resolve_variance(variance, X_true, "X_true")
    return _normalised_mse(X_true, X_pred, variance)


@validate_params(
    {
        "X_true": ["array-like"],
        "X_pred": ["array-like"],
        "observed_mask": ["array-like"],
        "variance": _VARIANCE_CONSTRAINT,
    },
    prefer_skip_nested_validation=True,
)
def interpolation_error(X_true, X_pred, *, observed_mask, variance=None):
    r"""Normalised mean squared error over the missing entries (the paper's I-score).

    .. math::

        I = \frac{1}{\sigma^2 |\bar\Omega|} \sum_{i \notin \Omega} (x_i - \hat x_i)^2

    Parameters
    ----------
    X_true : array-like of any shape
        True, complete states (finite).

    X_pred : array-like of the same shape as ``X_true``
        Reconstruction. Only its values at missing entries are used (they must
        be finite); observed entries may hold anything, NaN included.

    observed_mask : array-like of bool of the same shape as ``X_true``
        True where the entry was observed (Omega), False where it was missing.
        0/1 integers are accepted.

    variance : float > 0, default=None
        Normaliser :math:`\sigma^2`. None uses ``np.var(X_true)`` over all
        entries.

    Returns
    -------
    error : float
        Non-negative; 0 when every missing entry is recovered exactly.

    Raises
    ------
    ValueError
        If ``observed_mask`` marks every entry as observed (nothing to score).

    Examples
    --------
    >>> import numpy as np
    >>> from sklvar.metrics import interpolation_error
    >>> X = np.arange(6.0).reshape(2, 3)
    >>> observed = np.array([[True, False, True], [True, True, False]])
    >>> X_pred = X + np.where(observed, 100.0, 0.0)  # wrong only where observed
    >>> interpolation_error(X, X_pred, observed_mask=observed)
    0.0
    """
    X_true, X_pred = _check_same_shape(X_true, X_pred, "X_true", "X_pred")
    observed_mask = np.asarray(observed_mask)
    if observed_mask.shape != X_true.shape:
        raise ValueError(
            "observed_mask must have the same shape as X_true, got "
            f"{observed_mask.shape} and {X_true.shape}."
        )
    if observed_mask.dtype != bool:
        if not (
            np.issubdtype(observed_mask.dtype, np.number)
            and np.isin(observed_mask, (0, 1)).all()
        ):
            raise ValueError(
                "observed_mask must be boolean (True where observed) or hold only "
                f"0/1, got dtype {observed_mask.dtype}."
            )
        observed_mask = observed_mask.astype(bool)
    missing = ~observed_mask
    if not missing.any():
        raise ValueError(
            "observed_mask is True everywhere: there is no missing entry on which "
            "to compute the interpolation error. Use reconstruction_error instead."
        )
    _check_finite(X_true, "X_true")
    _check_finite(X_pred, "X_pred", where=missing)
    variance = _resolve_variance(variance, X_true, "X_true")
    return _normalised_mse(X_true, X_pred, variance, where=missing)


@validate_params(
    {
        "X_true": ["array-like"],
        "X_proj": ["array-like"],
        "variance": _VARIANCE_CONSTRAINT,
    },
    prefer_skip_nested_validation=True,
)
def projection_error(X_true, X_proj, *, variance=None):
    r"""Normalised error of the prior on complete states (the paper's P-score).

    .. math:: P = \frac{1}{\sigma^2 n} \sum_i (x_i - \Phi(x)_i)^2

    The caller computes ``X_proj = Phi(X_true)`` with its prior :math:`\Phi`
    on complete, noise-free states; this function only compares the two.

    Parameters
    ----------
    X_true : array-like of any shape
        True, complete states (finite).

    X_proj : array-like of the same shape as ``X_true``
        The prior applied to ``X_true`` (finite).

    variance : float > 0, default=None
        Normaliser :math:`\sigma^2`. None uses ``np.var(X_true)``.

    Returns
    -------
    error : float
        Non-negative; 0 when ``X_true`` is a fixed point of the prior.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from sklvar.metrics import projection_error
    >>> X = np.random.RandomState(0).normal(size=(50, 4))
    >>> pca = PCA(n_components=2).fit(X)
    >>> error = projection_error(X, pca.inverse_transform(pca.transform(X)))
    >>> 0.0 < error < 1.0
    True
    """
    X_true, X_proj = _check_same_shape(X_true, X_proj, "X_true", "X_proj")
    _check_finite(X_true, "X_true")
    _check_finite(X_proj, "X_proj")
    variance = _resolve_variance(variance, X_true, "X_true")
    return _normalised_mse(X_true, X_proj, variance)


def _check_scorer_inputs(scorer_name, X, y):
    """Arrays ``X`` (NaN = missing) and ``y`` (true states) for a scorer."""
    if y is None:
        raise ValueError(
            f"{scorer_name} needs the complete true states as y (same shape as X), "
            "got y=None. Pass them to the search, e.g. GridSearchCV(...).fit(X, y), "
            "or use the estimator's label-free score."
        )
    X_array = _as_float_array(X, "X")
    y_array = _as_float_array(y, "y")
    if X_array.shape != y_array.shape:
        raise ValueError(
            f"{scorer_name} expects y of the same shape as X, got y of shape "
            f"{y_array.shape} and X of shape {X_array.shape}."
        )
    return X_array, y_array


_SCORER_CONSTRAINTS = {
    "estimator": [HasMethods(["transform"])],
    "X": ["array-like"],
    "y": ["array-like", None],
}


@validate_params(_SCORER_CONSTRAINTS, prefer_skip_nested_validation=True)
def neg_reconstruction_error_scorer(estimator, X, y=None):
    """Scorer: minus :func:`reconstruction_error` of ``estimator.transform(X)``.

    Usable as ``GridSearchCV(..., scoring=neg_reconstruction_error_scorer)``.

    Parameters
    ----------
    estimator : object with a ``transform`` method
        A fitted imputer.

    X : array-like of shape (n_samples, n_features)
        Observations, NaN at missing entries.

    y : array-like of shape (n_samples, n_features), default=None
        Complete true states. Required: the default None only exists because
        scikit-learn calls ``scorer(estimator, X)`` when a search is fitted
        without ``y``, and it raises a ValueError saying so.

    Returns
    -------
    score : float
        ``-reconstruction_error(y, estimator.transform(X), variance=np.var(y))``;
        higher is better, 0 is perfect.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.impute import SimpleImputer
    >>> from sklvar.metrics import neg_reconstruction_error_scorer
    >>> y = np.random.RandomState(0).normal(size=(20, 3))
    >>> X = y.copy()
    >>> X[::4, 1] = np.nan
    >>> imputer = SimpleImputer().fit(X)
    >>> neg_reconstruction_error_scorer(imputer, X, y) < 0
    True
    """
    _, y = _check_scorer_inputs("neg_reconstruction_error_scorer", X, y)
    # transform the original X (a DataFrame keeps its feature names)
    X_pred = np.asarray(estimator.transform(X), dtype=np.float64)
    return -reconstruction_error(y, X_pred, variance=_resolve_variance(None, y, "y"))


@validate_params(_SCORER_CONSTRAINTS, prefer_skip_nested_validation=True)
def neg_interpolation_error_scorer(estimator, X, y=None):
    """Scorer: minus :func:`interpolation_error` of ``estimator.transform(X)``.

    The missing entries are those that are NaN in ``X``. Usable as
    ``GridSearchCV(..., scoring=neg_interpolation_error_scorer)``.

    Parameters
    ----------
    estimator : object with a ``transform`` method
        A fitted imputer.

    X : array-like of shape (n_samples, n_features)
        Observations, NaN at missing entries.

    y : array-like of shape (n_samples, n_features), default=None
        Complete true states. Required: the default None only exists because
        scikit-learn calls ``scorer(estimator, X)`` when a search is fitted
        without ``y``, and it raises a ValueError saying so.

    Returns
    -------
    score : float
        ``-interpolation_error(y, estimator.transform(X),
        observed_mask=~np.isnan(X), variance=np.var(y))``; higher is better.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.impute import SimpleImputer
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklvar.metrics import neg_interpolation_error_scorer
    >>> rng = np.random.RandomState(0)
    >>> y = rng.normal(size=(40, 3))
    >>> X = np.where(rng.random_sample(y.shape) < 0.2, np.nan, y)
    >>> search = GridSearchCV(SimpleImputer(), {"strategy": ["mean", "median"]},
    ...                       scoring=neg_interpolation_error_scorer, cv=2)
    >>> search.fit(X, y).best_params_["strategy"] in ("mean", "median")
    True
    """
    X_array, y = _check_scorer_inputs("neg_interpolation_error_scorer", X, y)
    X_pred = np.asarray(estimator.transform(X), dtype=np.float64)
    return -interpolation_error(
        y,
        X_pred,
        observed_mask=~np.isnan(X_array),
        variance=_resolve_variance(None, y, "y"),
    )


SCORERS = {
    "neg_reconstruction_error": neg_reconstruction_error_scorer,
    "neg_interpolation_error": neg_interpolation_error_scorer,
}
"""Scorers by name, for ``GridSearchCV(scoring=SCORERS)`` (multi-metric) or lookup."""
