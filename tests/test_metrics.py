"""Tests of sklvar.metrics: R, I, P errors and their GridSearchCV scorers."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.impute import SimpleImputer
from sklearn.model_selection import GridSearchCV
from sklearn.utils._param_validation import InvalidParameterError

from sklvar.metrics import (
    SCORERS,
    interpolation_error,
    neg_interpolation_error_scorer,
    neg_reconstruction_error_scorer,
    projection_error,
    reconstruction_error,
)

ERRORS = [reconstruction_error, projection_error]

finite = {
    "min_value": -1e3,
    "max_value": 1e3,
    "allow_nan": False,
    "allow_infinity": False,
}
shapes = st.tuples(st.integers(2, 8), st.integers(2, 8))


@st.composite
def pairs_and_masks(draw):
    """Two arrays of one shape and a mask with at least one missing entry."""
    shape = draw(shapes)
    X_true = draw(arrays(np.float64, shape, elements=finite))
    X_pred = draw(arrays(np.float64, shape, elements=finite))
    observed = draw(arrays(np.bool_, shape))
    observed.flat[draw(st.integers(0, observed.size - 1))] = False
    return X_true, X_pred, observed


# ---------------------------------------------------------------------------
# properties


@settings(max_examples=30, deadline=None)
@given(pairs_and_masks())
def test_errors_are_non_negative_and_zero_on_identical_inputs(data):
    X_true, X_pred, observed = data
    for error in ERRORS:
        assert error(X_true, X_pred, variance=1.0) >= 0
        assert error(X_true, X_true, variance=1.0) == 0
    assert (
        interpolation_error(X_true, X_pred, observed_mask=observed, variance=1.0) >= 0
    )
    assert (
        interpolation_error(X_true, X_true, observed_mask=observed, variance=1.0) == 0
    )


@settings(max_examples=30, deadline=None)
@given(pairs_and_masks(), arrays(np.float64, 64, elements=finite))
def test_interpolation_error_ignores_observed_entries(data, noise):
    X_true, X_pred, observed = data
    changed = X_pred.copy()
    changed[observed] += noise[: observed.sum()] + 1.0
    kw = dict(observed_mask=observed, variance=1.0)
    assert interpolation_error(X_true, changed, **kw) == interpolation_error(
        X_true, X_pred, **kw
    )
    # but it does see the missing entries
    moved = X_pred.copy()
    moved[~observed] += 1.0
    assert interpolation_error(X_true, moved, **kw) != interpolation_error(
        X_true, X_pred, **kw
    )


# ---------------------------------------------------------------------------
# values


def test_values_and_variance_normalisation():
    rng = np.random.RandomState(0)
    X = rng.normal(loc=3.0, scale=2.0, size=(50, 4))
    shifted = X + 0.5
    expected = 0.25 / np.var(X)
    for error in ERRORS:
        assert error(X, shifted) == pytest.approx(expected)
        assert error(X, shifted, variance=2.0) == pytest.approx(0.125)
        # predicting the mean scores 1 with the default normaliser
        assert error(X, np.full_like(X, X.mean())) == pytest.approx(1.0)
    observed = rng.uniform(size=X.shape) < 0.7
    X_pred = np.where(observed, 100.0, X + 2.0)
    assert interpolation_error(X, X_pred, observed_mask=observed) == pytest.approx(
        4.0 / np.var(X)
    )
    assert interpolation_error(
        X, X_pred, observed_mask=observed, variance=4.0
    ) == pytest.approx(1.0)


def test_any_dimensional_inputs_and_array_likes():
    X = np.arange(24.0).reshape(2, 3, 4)
    X_pred = X.copy()
    X_pred[1, 2, 3] += 2.0
    assert reconstruction_error(X, X_pred, variance=1.0) == pytest.approx(4.0 / 24)
    observed = np.ones(X.shape, dtype=int)
    observed[1, 2, :2] = 0
    observed[1, 2, 3] = 0
    assert interpolation_error(
        X, X_pred, observed_mask=observed, variance=1.0
    ) == pytest.approx(4.0 / 3)
    assert projection_error(X.tolist(), X_pred.tolist(), variance=1.0) == pytest.approx(
        4.0 / 24
    )
    assert isinstance(reconstruction_error(X, X_pred), float)


def test_inputs_are_not_modified():
    X = np.arange(12.0).reshape(3, 4)
    X_pred = X + 1.0
    X_pred[0, 0] = np.nan
    observed = np.zeros(X.shape, dtype=bool)
    observed[0, 0] = True
    copies = X.copy(), X_pred.copy(), observed.copy()
    interpolation_error(X, X_pred, observed_mask=observed)
    for original, copy in zip((X, X_pred, observed), copies, strict=True):
        np.testing.assert_array_equal(original, copy)


# ---------------------------------------------------------------------------
# validation


def test_shape_mismatch():
    with pytest.raises(ValueError, match=r"same shape, got \(3, 4\) and \(4, 3\)"):
        reconstruction_error(np.ones((3, 4)), np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"observed_mask must have the same shape"):
        interpolation_error(np.ones((3, 4)), np.ones((3, 4)), observed_mask=np.ones(12))


def test_non_finite_values():
    X = np.arange(12.0).reshape(3, 4)
    bad = X.copy()
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match=r"X_true contains 1 NaN or infinite"):
        reconstruction_error(bad, X)
    with pytest.raises(ValueError, match=r"X_proj contains 1 NaN"):
        projection_error(X, np.where(X > 10, np.inf, X))
    observed = np.zeros(X.shape, dtype=bool)
    with pytest.raises(ValueError, match=r"X_pred contains 1 .*\(missing\) entries"):
        interpolation_error(X, bad, observed_mask=observed)
    # NaN on an observed entry of X_pred is ignored by the I-score
    observed[1, 1] = True
    assert interpolation_error(X, bad, observed_mask=observed) == 0.0


def test_nothing_to_interpolate():
    X = np.arange(6.0)
    with pytest.raises(ValueError, match=r"no missing entry"):
        interpolation_error(X, X, observed_mask=np.ones(6, dtype=bool))


def test_bad_mask_values():
    X = np.arange(6.0)
    with pytest.raises(ValueError, match=r"observed_mask must be boolean"):
        interpolation_error(X, X, observed_mask=np.array([0, 1, 2, 0, 1, 0]))


def test_variance_validation():
    X = np.ones((3, 4))
    with pytest.raises(ValueError, match=r"X_true has zero variance"):
        reconstruction_error(X, X + 1)
    assert reconstruction_error(X, X + 1, variance=2.0) == 0.5
    with pytest.raises(InvalidParameterError, match="variance"):
        projection_error(np.arange(4.0), np.arange(4.0), variance=0.0)
    with pytest.raises(InvalidParameterError, match="variance"):
        projection_error(np.arange(4.0), np.arange(4.0), variance=-1.0)


def test_empty_and_non_numeric_inputs():
    with pytest.raises(ValueError, match="X_true is empty"):
        reconstruction_error(np.ones((0, 3)), np.ones((0, 3)))
    with pytest.raises(ValueError, match="X_pred must be an array of numbers"):
        reconstruction_error(np.ones(2), np.array(["a", "b"]))


# ---------------------------------------------------------------------------
# scorers


@pytest.fixture(scope="module")
def missing_data():
    rng = np.random.RandomState(0)
    latent = rng.normal(size=(60, 2))
    y = latent @ rng.normal(size=(2, 5)) + 0.1 * rng.normal(size=(60, 5))
    X = np.where(rng.uniform(size=y.shape) < 0.25, np.nan, y)
    return X, y


class _ZeroFill(TransformerMixin, BaseEstimator):
    """Fills missing entries with 0."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.where(np.isnan(X), 0.0, X)


def test_scorers_match_the_errors(missing_data):
    X, y = missing_data
    imputer = SimpleImputer().fit(X)
    X_pred = imputer.transform(X)
    variance = np.var(y)
    assert neg_interpolation_error_scorer(imputer, X, y) == pytest.approx(
        -interpolation_error(y, X_pred, observed_mask=~np.isnan(X), variance=variance)
    )
    assert neg_reconstruction_error_scorer(imputer, X, y) == pytest.approx(
        -reconstruction_error(y, X_pred, variance=variance)
    )
    assert neg_interpolation_error_scorer(imputer, X, y) < 0
    assert set(SCORERS) == {"neg_reconstruction_error", "neg_interpolation_error"}
    assert SCORERS["neg_interpolation_error"] is neg_interpolation_error_scorer


def test_scorers_rank_imputers(missing_data):
    X, y = missing_data
    # zero-filling is worse than mean-filling on data with a non-zero mean
    y_shifted, X_shifted = y + 5.0, X + 5.0
    mean = SimpleImputer().fit(X_shifted)
    zero = _ZeroFill().fit(X_shifted)
    for scorer in SCORERS.values():
        assert scorer(mean, X_shifted, y_shifted) > scorer(zero, X_shifted, y_shifted)


def test_grid_search_with_interpolation_scorer(missing_data):
    X, y = missing_data
    search = GridSearchCV(
        SimpleImputer(),
        {"strategy": ["mean", "median", "constant"]},
        scoring=neg_interpolation_error_scorer,
        cv=3,
        error_score="raise",
    ).fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and (scores < 0).all()
    assert search.best_params_["strategy"] in ("mean", "median", "constant")
    assert search.best_score_ == pytest.approx(scores.max())


def test_grid_search_with_all_scorers(missing_data):
    X, y = missing_data
    search = GridSearchCV(
        SimpleImputer(),
        {"strategy": ["mean", "median"]},
        scoring=SCORERS,
        refit="neg_interpolation_error",
        cv=2,
        error_score="raise",
    ).fit(X, y)
    for name in SCORERS:
        assert np.isfinite(search.cv_results_[f"mean_test_{name}"]).all()


def test_scorers_need_y(missing_data):
    X, _ = missing_data
    imputer = SimpleImputer().fit(X)
    for scorer in SCORERS.values():
        with pytest.raises(ValueError, match=r"needs the complete true states as y"):
            scorer(imputer, X, None)
    with pytest.raises(ValueError, match=r"needs the complete true states"):
        GridSearchCV(
            SimpleImputer(), {"strategy": ["mean"]}, cv=2,
            scoring=neg_interpolation_error_scorer, error_score="raise",
        ).fit(X)  # fmt: skip


def test_scorers_check_y_shape(missing_data):
    X, y = missing_data
    imputer = SimpleImputer().fit(X)
    with pytest.raises(ValueError, match=r"y of the same shape as X"):
        neg_reconstruction_error_scorer(imputer, X, y[:, :3])
    with pytest.raises(InvalidParameterError, match="estimator"):
        neg_reconstruction_error_scorer(object(), X, y)
