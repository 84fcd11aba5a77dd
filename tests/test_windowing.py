"""One long (T, D) series: windows, stitching, bounded memory, pandas in and out."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from sklvar import VariationalImputer
from sklvar.utils import WindowStitcher, cut_windows, window_starts


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Train on one thread: on a busy 2-core machine, 2 torch threads can be
    several times slower than one (benchmarks/SPEED.md)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _series(n_timesteps, n_features=3, missing=0.3, seed=0):
    rng = np.random.RandomState(seed)
    t = np.arange(n_timesteps)[:, None]
    periods = np.array([10.0, 17.0, 29.0, 41.0])[:n_features]
    X = np.sin(t / periods) + 0.1 * rng.randn(n_timesteps, n_features)
    X_missing = X.copy()
    X_missing[rng.rand(*X.shape) < missing] = np.nan
    return X, X_missing


CUTS = [(5, 8, 4), (8, 8, 4), (9, 8, 4), (63, 16, 8), (64, 16, 16), (65, 16, 1),
        (1000, 64, 24), (1001, 64, 32)]


# ----------------------------------------------------------- cut and stitch
@pytest.mark.parametrize(("n_timesteps", "window", "stride"), CUTS)
def test_windows_cover_every_step_and_stitch_exactly(n_timesteps, window, stride):
    starts = window_starts(n_timesteps, window, stride)
    assert starts[0] == 0
    assert np.all(np.diff(starts) <= stride) and np.all(np.diff(starts) > 0)
    assert starts[-1] + window >= n_timesteps
    if n_timesteps >= window:
        assert starts[-1] == n_timesteps - window  # the last window ends at T
    A = np.random.RandomState(0).randn(n_timesteps, 3)
    windows = cut_windows(A, starts, window)
    assert windows.shape == (len(starts), 3, window)
    stitcher = WindowStitcher(n_timesteps, 3, window)
    stitcher.add(starts, windows)
    np.testing.assert_allclose(stitcher.result(), A)


def test_short_series_is_padded():
    A = np.arange(10.0).reshape(5, 2)
    w = cut_windows(A, window_starts(5, 8, 4), 8, fill=-1)
    assert w.shape == (1, 2, 8)
    np.testing.assert_array_equal(w[0, :, :5], A.T)
    assert np.all(w[0, :, 5:] == -1)


def test_stitching_has_no_seams():
    """Windows that disagree by an offset are blended without a jump.

    Each window returns a different constant; hard concatenation would jump
    by the full difference at each boundary, the triangular weights spread
    it over the overlap.
    """
    n_timesteps, window, stride = 400, 40, 20
    starts = window_starts(n_timesteps, window, stride)
    levels = np.random.RandomState(0).uniform(-1, 1, len(starts))
    windows = np.broadcast_to(levels[:, None, None], (len(starts), 1, window))
    stitcher = WindowStitcher(n_timesteps, 1, window)
    stitcher.add(starts, windows)
    out = stitcher.result()[:, 0]
    max_level_jump = np.abs(np.diff(levels)).max()
    assert np.abs(np.diff(out)).max() < 0.15 * max_level_jump


def test_stride_larger_than_window_is_an_error():
    with pytest.raises(ValueError, match="stride=5 must be <= window=4"):
        window_starts(100, 4, 5)


# -------------------------------------------------- windows in the estimator
@pytest.mark.parametrize(("n_timesteps", "window", "stride"), CUTS)
def test_estimator_round_trip_through_windows(n_timesteps, window, stride):
    """Cutting, standardising and stitching in the estimator lose nothing.

    The model is replaced by the identity on each window, so the output must
    be X itself wherever X is observed, for any T (shorter than the window
    too) and any stride.
    """
    X, X_missing = _series(n_timesteps, missing=0.0)
    imp = VariationalImputer(prior="pca", window=window, stride=stride,
                             max_epochs=0, keep_observed=False, random_state=0)
    imp.fit(X)
    imp._impute_samples = lambda Y, M: Y.astype(float)
    X[0, 0] = np.nan  # not fully observed, so the model really runs
    out = imp.transform(X)
    np.testing.assert_allclose(out[1:], X[1:], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n_timesteps", [7, 50, 131])
def test_cnn_prior_on_windows_any_length(n_timesteps):
    X, X_missing = _series(n_timesteps)
    imp = VariationalImputer(
        prior="cnn", prior_params={"n_hidden": 6, "n_channels": 4}, window=16,
        stride=5, max_epochs=1, n_solver_iter=2, n_solver_iter_start=1,
        random_state=0,
    )
    out = imp.fit(X_missing).transform(X_missing)
    assert out.shape == X.shape
    assert np.all(np.isfinite(out))
    observed = ~np.isnan(X_missing)
    np.testing.assert_array_equal(out[observed], X_missing[observed])
    # a series shorter than the window at transform time
    assert imp.transform(X_missing[:5]).shape == (5, 3)


def test_image_layout_windows_with_periodic_components():
    """Lorenz-96 style: (1, D, L) windows, circular along the components."""
    X, X_missing = _series(60, n_features=4)
    imp = VariationalImputer(
        prior="cnn", prior_params={"n_hidden": 4, "n_channels": 3,
                                   "periodic_axes": (0,)},
        window=12, layout="image", max_epochs=1, n_solver_iter=2,
        n_solver_iter_start=1, random_state=0,
    )
    out = imp.fit_transform(X_missing)
    assert imp.layout_.shape == (1, 4, 12)
    assert imp.net_.module_.solver.cell.periodic_axes == (0,)
    assert out.shape == X.shape and np.all(np.isfinite(out))


_MEMORY_SCRIPT = textwrap.dedent("""
    import json, resource, numpy as np, torch
    torch.set_num_threads(1)
    from sklvar import VariationalImputer

    def rss_mb():  # current resident set size
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20

    def peak_mb():  # this process's high-water mark of the resident set size
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent
        # across fork + exec, so a pytest process that once grew larger than
        # this one (issue 17's dask tests run before) made it read its peak
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    rng = np.random.RandomState(0)
    def series(n):
        t = np.arange(n)[:, None]
        X = np.sin(t / np.array([10.0, 17.0, 29.0])) + 0.1 * rng.randn(n, 3)
        X[rng.rand(n, 3) < 0.3] = np.nan
        return X

    imp = VariationalImputer(prior="cnn", window=128, max_epochs=1,
                             n_solver_iter=1, n_solver_iter_start=1,
                             batch_size=64, random_state=0).fit(series(1000))
    X = series(200_000)
    before = rss_mb()
    out = imp.transform(X)
    windowed = peak_mb() - before
    finite = bool(np.isfinite(out).all())
    del out
    # the same model run on the whole series as one sample
    before = rss_mb()
    scaling = imp.codec_.scaling
    Z = np.nan_to_num((X - scaling.mean) / scaling.scale).T[None].astype(np.float32)
    with torch.no_grad():
        imp.net_.module_(torch.from_numpy(Z), torch.from_numpy(~np.isnan(X).T[None]))
    whole = peak_mb() - before
    print(json.dumps({"windowed": windowed, "whole": whole, "finite": finite}))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_transform_memory_is_bounded_for_a_long_series():
    """Impute 200,000 rows x 3 and check the peak memory of transform.

    Measured in a fresh process: peak resident set size during transform
    (``VmHWM``, which includes torch's CPU allocations, unlike
    tracemalloc) minus the resident size just before it. This over-estimates
    the transform's own peak only if an earlier peak (the small fit) was
    higher, so it is an upper bound. The bound (120 MB) leaves room for the
    O(T x D) arrays of transform (input copy, standardised copy, stitching
    sums: 4.8 MB each in float64) but not for the model's activations on the
    whole series, which the same script measures (~480 MB with the default
    2S-CNN) to show that the bound means something. Measured windowed peaks:
    27-29 MB on a quiet machine, once 179 MB in a full run on a loaded one
    (allocator arenas), hence a bound of 250 MB, still half the whole-series
    figure.
    """
    result = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    mem = json.loads(result.stdout.strip().splitlines()[-1])
    assert mem["finite"]
    assert mem["windowed"] < 250, mem
    assert mem["whole"] > 250, mem


# ------------------------------------------------------------------ pandas
def test_dataframe_with_datetime_index_round_trip():
    pd = pytest.importorskip("pandas")
    X, X_missing = _series(90)
    index = pd.date_range("2021-03-01", periods=90, freq="h")
    df = pd.DataFrame(X_missing, index=index, columns=["temp", "wind", "rain"])
    imp = VariationalImputer(
        prior="cnn", prior_params={"n_hidden": 6, "n_channels": 4}, window=24,
        max_epochs=1, n_solver_iter=2, n_solver_iter_start=1, random_state=0,
    ).set_output(transform="pandas")
    out = imp.fit_transform(df)
    assert isinstance(out, pd.DataFrame)
    assert out.index.equals(df.index)
    assert list(out.columns) == ["temp", "wind", "rain"]
    assert not out.isna().any().any()
    assert list(imp.get_feature_names_out()) == ["temp", "wind", "rain"]
    # rows shifted in time: the index travels with them
    later = imp.transform(df.iloc[30:])
    assert later.index.equals(df.index[30:])


def test_dataframe_with_string_column_is_an_error():
    pd = pytest.importorskip("pandas")
    X, X_missing = _series(40)
    df = pd.DataFrame(X_missing, columns=["a", "b", "c"])
    df["station"] = "north"
    imp = VariationalImputer(prior="pca", window=8, max_epochs=1)
    with pytest.raises(ValueError, match="(?i)string|object|numeric"):
        imp.fit(df)


def _small_cnn_lstm():
    """A gappy random walk and a small 2S-CNN + LSTM fitted on it (one epoch;
    19 windows, so the last batch of 8 is short)."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 3)).cumsum(0)
    X[rng.uniform(size=X.shape) < 0.3] = np.nan
    imp = VariationalImputer(prior="cnn", solver="lstm", window=40, max_epochs=1,
                             batch_size=8, n_solver_iter=3, random_state=0).fit(X)
    return X, np.isnan(X), imp


def test_bfloat16_inference_is_close_to_float32_and_keeps_observed():
    """inference_dtype="bfloat16" runs the neural inference under autocast:
    close to the float32 result, observed entries exact, training unchanged."""
    from sklearn.utils._param_validation import InvalidParameterError

    X, miss, imp = _small_cnn_lstm()
    ref = imp.transform(X)
    low = imp.set_params(inference_dtype="bfloat16").transform(X)
    assert low.dtype == ref.dtype and np.isfinite(low).all()
    np.testing.assert_array_equal(low[~miss], X[~miss])
    spread = ref[miss].std()
    diff = np.abs(low - ref)[miss]
    assert diff.max() > 0  # it did run in lower precision
    assert diff.max() < 0.05 * spread
    with pytest.raises(InvalidParameterError, match="inference_dtype"):
        VariationalImputer(inference_dtype="float16").fit(X)


def test_compiled_inference_equals_eager_and_pickles():
    """inference_compile=True runs the inference through torch.compile: the
    same values as eager to float tolerance (a last batch shorter than
    batch_size is padded, then cut), observed entries exact, nothing added to
    the estimator's attributes (pickle and save keep working)."""
    import pickle

    from sklearn.utils._param_validation import InvalidParameterError

    X, miss, imp = _small_cnn_lstm()
    ref = imp.transform(X)
    attrs = set(vars(imp))
    out = imp.set_params(inference_compile=True).transform(X)
    assert set(vars(imp)) == attrs
    np.testing.assert_array_equal(out[~miss], X[~miss])
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-5 * ref[miss].std())
    np.testing.assert_array_equal(imp.transform(X), out)  # the compiled model, again
    again = pickle.loads(pickle.dumps(imp))
    np.testing.assert_allclose(again.transform(X), out, rtol=0, atol=1e-12)
    with pytest.raises(InvalidParameterError, match="inference_compile"):
        VariationalImputer(inference_compile="yes").fit(X)
