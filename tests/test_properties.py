"""Property-based tests (hypothesis) of transform on a fitted estimator."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

N_FEATURES = 8


@st.composite
def gappy_rows(draw):
    n_rows = draw(st.integers(1, 8))
    X = draw(arrays(np.float64, (n_rows, N_FEATURES),
                    elements=st.floats(-1e3, 1e3, allow_nan=False)))
    missing = draw(arrays(np.bool_, (n_rows, N_FEATURES)))
    X = X.copy()
    X[missing] = np.nan
    return X


@settings(max_examples=50, deadline=None)
@given(X=gappy_rows())
def test_transform_keeps_observed_and_is_finite(fitted_lstm, X):
    # (d) observed entries exact, never NaN/inf, input untouched
    X_before = X.copy()
    out = fitted_lstm.transform(X)
    observed = ~np.isnan(X)
    assert out.shape == X.shape
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[observed], X[observed])
    np.testing.assert_array_equal(X, X_before)
