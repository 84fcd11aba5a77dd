"""Tests of sklvar.datasets: Lorenz simulators, missing-data patterns, MNIST reader."""

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.utils._param_validation import InvalidParameterError

from sklvar.datasets import load_mnist, make_lorenz63, make_lorenz96, make_missing

# ---------------------------------------------------------------------------
# helpers


def _rk4(rhs, x, dt, n_substeps=1):
    """Classical RK4 over ``dt`` in ``n_substeps`` steps, vectorised over rows."""
    h = dt / n_substeps
    for _ in range(n_substeps):
        k1 = rhs(x)
        k2 = rhs(x + h / 2 * k1)
        k3 = rhs(x + h / 2 * k2)
        k4 = rhs(x + h * k3)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x


def _lorenz63_rhs(sigma=10.0, rho=28.0, beta=8 / 3):
    def rhs(x):
        return np.stack(
            [
                sigma * (x[:, 1] - x[:, 0]),
                x[:, 0] * (rho - x[:, 2]) - x[:, 1],
                x[:, 0] * x[:, 1] - beta * x[:, 2],
            ],
            axis=1,
        )

    return rhs


def _lorenz96_rhs(forcing=8.0):
    def rhs(x):
        return (
            (np.roll(x, -1, axis=1) - np.roll(x, 2, axis=1)) * np.roll(x, 1, axis=1)
            - x
            + forcing
        )

    return rhs


def _one_step_residual(rhs, trajectory, dt, n_substeps=1):
    """Mean squared residual of one RK4 step along the trajectory."""
    predicted = _rk4(rhs, trajectory[:-1], dt, n_substeps)
    return np.mean((predicted - trajectory[1:]) ** 2)


def _missing_runs(column):
    """Lengths of the runs of True in a 1-D boolean array."""
    padded = np.concatenate(([False], column, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return edges[1::2] - edges[::2]


L63_KW = dict(n_steps=3000, train_range=(0, 2000), test_range=(2000, 3000))
L96_KW = dict(n_steps=1000, window=100, train_range=(0, 700), test_range=(700, 1000))


@pytest.fixture(scope="module")
def l63():
    return make_lorenz63(200, 50, random_state=0, **L63_KW)


@pytest.fixture(scope="module")
def l96():
    return make_lorenz96(30, 10, random_state=0, **L96_KW)


# ---------------------------------------------------------------------------
# Lorenz-63


def test_lorenz63_shapes_and_dtypes(l63):
    assert l63.X_train.shape == l63.y_train.shape == l63.mask_train.shape
    assert l63.X_train.shape == (200, 3, 200)
    assert l63.X_test.shape == l63.y_test.shape == l63.mask_test.shape == (50, 3, 200)
    assert l63.trajectory.shape == (3000, 3)
    for name in ("X_train", "X_test", "y_train", "y_test", "trajectory"):
        assert l63[name].dtype == np.float64, name
    assert l63.mask_train.dtype == bool and l63.mask_test.dtype == bool
    assert l63.dt == 0.01
    assert "Lorenz-63" in l63.DESCR
    assert np.isfinite(l63.y_train).all() and np.isfinite(l63.trajectory).all()


def test_lorenz63_obeys_the_ode(l63):
    # one RK4 step of the true model reproduces the tight-tolerance run ...
    assert _one_step_residual(_lorenz63_rhs(), l63.trajectory, 0.01) < 1e-6
    # with four RK4 sub-steps the scheme error vanishes (about 1e-16): the data
    # come from the tight-tolerance integration, not the authors' loose one
    assert _one_step_residual(_lorenz63_rhs(), l63.trajectory, 0.01, 4) < 1e-10
    # ... and a slightly wrong model does not (so the check can fail)
    assert _one_step_residual(_lorenz63_rhs(rho=28.1), l63.trajectory, 0.01) > 1e-6


def test_lorenz63_windows_come_from_disjoint_ranges(l63):
    window = 200
    assert ((l63.train_starts >= 0) & (l63.train_starts + window <= 2000)).all()
    assert ((l63.test_starts >= 2000) & (l63.test_starts + window <= 3000)).all()
    for data, starts in (
        (l63.y_train, l63.train_starts),
        (l63.y_test, l63.test_starts),
    ):
        for i in (0, len(starts) // 2, len(starts) - 1):
            s = starts[i]
            np.testing.assert_array_equal(data[i], l63.trajectory[s : s + window].T)
    # random positions, not all the same window
    assert len(np.unique(l63.train_starts)) > 100


def test_lorenz63_observation_mask(l63):
    expected_times = np.arange(0, 200, 8)
    for mask in (l63.mask_train, l63.mask_test):
        observed_times = np.flatnonzero(mask.any(axis=(0, 1)))
        np.testing.assert_array_equal(observed_times, expected_times)
        # all components of all windows observed at those times
        assert mask[:, :, expected_times].all()
    for X, mask in ((l63.X_train, l63.mask_train), (l63.X_test, l63.mask_test)):
        np.testing.assert_array_equal(np.isnan(X), ~mask)


def test_lorenz63_noise_variance(l63):
    noise = (l63.X_train - l63.y_train)[l63.mask_train]
    assert noise.size == 200 * 3 * 25
    assert abs(noise.var() - 2.0) < 0.15
    assert abs(noise.mean()) < 0.1


def test_lorenz63_edge_gap_and_zero_noise():
    data = make_lorenz63(
        5, 3, edge_gap=10, noise_variance=0.0, n_steps=600,
        train_range=(0, 300), test_range=(300, 600), random_state=1,
    )  # fmt: skip
    # the authors' protocol: observations at t = 16, 24, ..., 184 only
    observed_times = np.flatnonzero(data.mask_train.all(axis=(0, 1)))
    np.testing.assert_array_equal(observed_times, np.arange(16, 185, 8))
    assert (
        not data.mask_train[:, :, :10].any() and not data.mask_train[:, :, 190:].any()
    )
    np.testing.assert_array_equal(
        data.X_test[data.mask_test], data.y_test[data.mask_test]
    )


def test_lorenz63_seed_reproducibility():
    kw = dict(
        window=20, n_steps=300, spinup=1.0, train_range=(0, 200), test_range=(200, 300)
    )
    a = make_lorenz63(6, 4, random_state=3, **kw)
    b = make_lorenz63(6, 4, random_state=3, **kw)
    c = make_lorenz63(6, 4, random_state=4, **kw)
    for key in ("X_train", "X_test", "y_train", "y_test", "trajectory"):
        np.testing.assert_array_equal(a[key], b[key])
        assert not np.allclose(a[key], c[key], equal_nan=True), key


def test_lorenz63_does_not_share_state_with_global_numpy_seed():
    kw = dict(
        window=20, n_steps=300, spinup=1.0, train_range=(0, 200), test_range=(200, 300)
    )
    np.random.seed(0)
    a = make_lorenz63(3, 2, random_state=7, **kw)
    np.random.seed(1)
    b = make_lorenz63(3, 2, random_state=7, **kw)
    np.testing.assert_array_equal(a.X_train, b.X_train, strict=True)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(train_range=(0, 200), test_range=(150, 300)), r"overlap"),
        (
            dict(train_range=(0, 10), test_range=(200, 300)),
            r"train_range=\(0, 10\) spans 10",
        ),
        (
            dict(train_range=(0, 200), test_range=(200, 400)),
            r"test_range=\(200, 400\).*n_steps=300",
        ),
        (
            dict(train_range=(0, 200.5), test_range=(200, 300)),
            r"train_range must be a pair",
        ),
        (
            dict(train_range=(0, 200), test_range=(200, 300), edge_gap=10),
            r"No observation",
        ),
    ],
)
def test_lorenz63_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_lorenz63(2, 2, window=20, n_steps=300, **kwargs)


def test_lorenz63_default_ranges_need_enough_steps():
    with pytest.raises(ValueError, match=r"train_range=\(0, 15000\).*n_steps=3000"):
        make_lorenz63(2, 2, n_steps=3000)


def test_lorenz63_parameter_validation():
    with pytest.raises(InvalidParameterError, match="dt"):
        make_lorenz63(2, 2, dt=-0.01)


# ---------------------------------------------------------------------------
# Lorenz-96


def test_lorenz96_shapes(l96):
    assert (
        l96.X_train.shape == l96.y_train.shape == l96.mask_train.shape == (30, 40, 100)
    )
    assert l96.X_test.shape == (10, 40, 100)
    assert l96.trajectory.shape == (1000, 40)
    assert l96.dt == 0.05
    np.testing.assert_array_equal(np.isnan(l96.X_train), ~l96.mask_train)
    s = l96.test_starts[0]
    np.testing.assert_array_equal(l96.y_test[0], l96.trajectory[s : s + 100].T)
    assert (l96.train_starts + 100 <= 700).all() and (l96.test_starts >= 700).all()


def test_lorenz96_obeys_the_ode(l96):
    # four RK4 sub-steps per dt=0.05 make the scheme error negligible
    assert _one_step_residual(_lorenz96_rhs(), l96.trajectory, 0.05, 4) < 1e-8
    assert _one_step_residual(_lorenz96_rhs(8.1), l96.trajectory, 0.05, 4) > 1e-6
    # the run is chaotic, not a fixed point
    assert l96.trajectory[-100:].std(axis=0).min() > 1.0


def test_lorenz96_mask_has_n_observed_components_per_observed_time(l96):
    times = np.arange(0, 100, 4)
    for mask in (l96.mask_train, l96.mask_test):
        counts = mask.sum(axis=1)  # (n_windows, window)
        assert (counts[:, times] == 20).all()
        other = np.setdiff1d(np.arange(100), times)
        assert (counts[:, other] == 0).all()
    # drawn per window and per time: windows (and times) do not share subsets
    m = l96.mask_train
    assert not (m[:, :, 0] == m[0, :, 0]).all()
    assert not (m[0, :, times] == m[0, :, 0]).all()


def test_lorenz96_shared_subset_and_noise():
    kw = dict(
        n_components=12, n_observed=5, window=40, n_steps=300, spinup=2.0,
        train_range=(0, 200), test_range=(200, 300),
    )  # fmt: skip
    data = make_lorenz96(40, 40, shared_subset=True, random_state=2, **kw)
    times = np.arange(0, 40, 4)
    for mask in (data.mask_train, data.mask_test):
        assert (mask.sum(axis=1)[:, times] == 5).all()
        # one subset per time index, shared by every window of the set
        assert (mask == mask[:1]).all()
    assert not (data.mask_train[0] == data.mask_test[0]).all()
    noise = (data.X_train - data.y_train)[data.mask_train]
    assert abs(noise.var() - 2.0) < 0.25


def test_lorenz96_seed_reproducibility():
    kw = dict(
        n_components=8, n_observed=3, window=20, n_steps=200, spinup=1.0,
        train_range=(0, 120), test_range=(120, 200),
    )  # fmt: skip
    a = make_lorenz96(4, 3, random_state=5, **kw)
    b = make_lorenz96(4, 3, random_state=5, **kw)
    c = make_lorenz96(4, 3, random_state=6, **kw)
    for key in ("X_train", "X_test", "mask_train", "trajectory"):
        np.testing.assert_array_equal(a[key], b[key])
        assert not np.array_equal(a[key], c[key]), key


def test_lorenz96_invalid_arguments():
    with pytest.raises(
        ValueError, match=r"n_observed=41 must be at most n_components=40"
    ):
        make_lorenz96(2, 2, n_observed=41)
    with pytest.raises(ValueError, match="overlap"):
        make_lorenz96(2, 2, train_range=(0, 7500), test_range=(7000, 10000))
    with pytest.raises(InvalidParameterError, match="n_components"):
        make_lorenz96(2, 2, n_components=3)


# ---------------------------------------------------------------------------
# make_missing

seeds = st.integers(min_value=0, max_value=2**31 - 1)


@settings(max_examples=30, deadline=None)
@given(
    n_rows=st.integers(20, 200),
    n_cols=st.integers(1, 10),
    missing_rate=st.floats(0.0, 0.9),
    seed=seeds,
)
def test_make_missing_random_properties(n_rows, n_cols, missing_rate, seed):
    X = np.arange(n_rows * n_cols, dtype=float).reshape(n_rows, n_cols)
    X_missing, observed = make_missing(X, missing_rate=missing_rate, random_state=seed)
    X_again, observed_again = make_missing(
        X, missing_rate=missing_rate, random_state=seed
    )
    np.testing.assert_array_equal(observed, observed_again)
    np.testing.assert_array_equal(X_missing, X_again)
    np.testing.assert_array_equal(np.isnan(X_missing), ~observed)
    np.testing.assert_array_equal(X_missing[observed], X[observed])
    n = X.size
    tolerance = 5 * np.sqrt(missing_rate * (1 - missing_rate) / n) + 1 / n
    assert abs((~observed).mean() - missing_rate) <= tolerance


@settings(max_examples=30, deadline=None)
@given(
    n_rows=st.integers(1, 300),
    n_cols=st.integers(1, 5),
    missing_rate=st.floats(0.0, 0.95),
    block_length=st.integers(1, 30),
    seed=seeds,
)
def test_make_missing_blocks_properties(
    n_rows, n_cols, missing_rate, block_length, seed
):
    X = np.ones((n_rows, n_cols))
    _, observed = make_missing(
        X, pattern="blocks", missing_rate=missing_rate, block_length=block_length,
        random_state=seed,
    )  # fmt: skip
    _, observed_again = make_missing(
        X, pattern="blocks", missing_rate=missing_rate, block_length=block_length,
        random_state=seed,
    )  # fmt: skip
    np.testing.assert_array_equal(observed, observed_again)
    # the rate is exact per column, up to rounding
    rates = (~observed).mean(axis=0)
    assert np.all(np.abs(rates - missing_rate) <= 0.5 / n_rows + 1e-12)
    for j in range(n_cols):
        runs = _missing_runs(~observed[:, j])
        # contiguous gaps: at most one of them shorter than block_length
        assert (runs < min(block_length, n_rows)).sum() <= 1


def test_make_missing_blocks_are_long_gaps():
    X = np.zeros((1000, 3))
    _, observed = make_missing(
        X, pattern="blocks", missing_rate=0.2, block_length=10, random_state=0
    )
    assert ((~observed).sum(axis=0) == 200).all()
    runs = np.concatenate([_missing_runs(~observed[:, j]) for j in range(3)])
    assert (runs % 10 == 0).all() and runs.min() == 10
    # columns get different gaps
    assert not (observed[:, 0] == observed[:, 1]).all()


def test_make_missing_holes_paper_setting():
    images = np.random.RandomState(0).uniform(size=(500, 28 * 28))
    X_missing, observed = make_missing(
        images, pattern="holes", sample_shape=(28, 28), random_state=0
    )
    n_missing = (~observed).sum(axis=1)
    assert ((n_missing >= 81) & (n_missing <= 3 * 81)).all()
    # squares may overlap (as in the authors' code): both cases occur
    assert (n_missing == 3 * 81).any() and (n_missing < 3 * 81).any()
    np.testing.assert_array_equal(X_missing[observed], images[observed])


def test_make_missing_one_hole_is_a_square_inside_the_image():
    images = np.zeros((400, 12 * 10))
    _, observed = make_missing(
        images, pattern="holes", n_holes=1, hole_size=5, sample_shape=(12, 10),
        random_state=0,
    )  # fmt: skip
    missing = ~observed.reshape(400, 12, 10)
    tops, lefts = [], []
    for hole in missing:
        rows = np.flatnonzero(hole.any(axis=1))
        cols = np.flatnonzero(hole.any(axis=0))
        assert hole.sum() == 25 and len(rows) == len(cols) == 5
        assert hole[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].all()
        tops.append(rows[0])
        lefts.append(cols[0])
    # uniform positions: every admissible corner is reached, none outside
    assert sorted(set(tops)) == list(range(12 - 5 + 1))
    assert sorted(set(lefts)) == list(range(10 - 5 + 1))


def test_make_missing_keeps_existing_nan_and_does_not_modify_input():
    X = np.arange(40.0).reshape(10, 4)
    X[2, 1] = np.nan
    X_before = X.copy()
    X_missing, observed = make_missing(X, missing_rate=0.0, random_state=0)
    assert X_missing is not X
    np.testing.assert_array_equal(X, X_before)
    assert not observed[2, 1] and observed.sum() == 39
    X_missing, observed = make_missing(X, missing_rate=0.5, random_state=0)
    np.testing.assert_array_equal(X, X_before)
    assert not observed[2, 1]


def test_make_missing_dtypes():
    X_int = np.arange(20).reshape(5, 4)
    X_missing, observed = make_missing(X_int, missing_rate=0.5, random_state=0)
    assert X_missing.dtype == np.float64 and observed.dtype == bool
    X32 = X_int.astype(np.float32)
    assert make_missing(X32, random_state=0)[0].dtype == np.float32
    X_list, _ = make_missing(X_int.tolist(), missing_rate=0.0)
    np.testing.assert_array_equal(X_list, X_int)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(pattern="holes"), r"needs sample_shape"),
        (dict(pattern="holes", sample_shape=(5, 5)), r"holds 25 values but X has 24"),
        (
            dict(pattern="holes", sample_shape=(4, 6), hole_size=5),
            r"hole_size=5 does not fit",
        ),
        (dict(pattern="holes", sample_shape=(4, -6)), r"pair of positive integers"),
    ],
)
def test_make_missing_invalid_holes(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_missing(np.zeros((3, 24)), **kwargs)


def test_make_missing_parameter_validation():
    with pytest.raises(InvalidParameterError, match="pattern"):
        make_missing(np.zeros((3, 4)), pattern="stripes")
    with pytest.raises(InvalidParameterError, match="missing_rate"):
        make_missing(np.zeros((3, 4)), missing_rate=1.0)
    with pytest.raises(ValueError, match="2D"):
        make_missing(np.zeros(4))


# ---------------------------------------------------------------------------
# load_mnist


def _write_idx(
    folder, kind, images, labels, *, compress, image_magic=2051, label_magic=2049
):
    n, rows, cols = images.shape
    image_bytes = np.array([image_magic, n, rows, cols], dtype=">u4").tobytes()
    image_bytes += images.astype(np.uint8).tobytes()
    label_bytes = np.array([label_magic, len(labels)], dtype=">u4").tobytes()
    label_bytes += np.asarray(labels, dtype=np.uint8).tobytes()
    for name, content in (
        (f"{kind}-images-idx3-ubyte", image_bytes),
        (f"{kind}-labels-idx1-ubyte", label_bytes),
    ):
        if compress:
            with gzip.open(folder / f"{name}.gz", "wb") as f:
                f.write(content)
        else:
            (folder / name).write_bytes(content)


@pytest.fixture
def tiny_digits():
    rng = np.random.RandomState(0)
    return rng.randint(0, 256, size=(5, 28, 28)).astype(np.uint8), np.array(
        [0, 9, 3, 3, 7]
    )


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("kind", ["t10k", "train"])
def test_load_mnist_round_trip(tmp_path, tiny_digits, compress, kind):
    images, labels = tiny_digits
    _write_idx(tmp_path, kind, images, labels, compress=compress)
    data = load_mnist(str(tmp_path), kind=kind)
    assert data.data.shape == (5, 784) and data.data.dtype == np.float64
    assert data.images.shape == (5, 28, 28) and data.images.dtype == np.uint8
    assert data.target.dtype == np.int64
    np.testing.assert_array_equal(data.images, images)
    np.testing.assert_array_equal(data.data, images.reshape(5, -1).astype(float))
    np.testing.assert_array_equal(data.target, labels)
    assert data.data.min() >= 0 and data.data.max() <= 255


def test_load_mnist_bad_magic(tmp_path, tiny_digits):
    _write_idx(tmp_path, "t10k", *tiny_digits, compress=True, image_magic=2049)
    with pytest.raises(ValueError, match=r"magic number 2049, expected 2051"):
        load_mnist(tmp_path)


def test_load_mnist_bad_label_magic(tmp_path, tiny_digits):
    _write_idx(tmp_path, "t10k", *tiny_digits, compress=False, label_magic=2051)
    with pytest.raises(ValueError, match=r"magic number 2051, expected 2049"):
        load_mnist(tmp_path)


def test_load_mnist_truncated_file(tmp_path, tiny_digits):
    _write_idx(tmp_path, "t10k", *tiny_digits, compress=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match=r"announces 3936; the file is truncated"):
        load_mnist(tmp_path)


def test_load_mnist_count_mismatch(tmp_path, tiny_digits):
    images, labels = tiny_digits
    _write_idx(tmp_path, "t10k", images, labels[:4], compress=False)
    with pytest.raises(ValueError, match=r"5 images but .* 4 labels"):
        load_mnist(tmp_path)


def test_load_mnist_missing_files(tmp_path, tiny_digits):
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        load_mnist(tmp_path / "does-not-exist")
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        load_mnist(tmp_path)
    _write_idx(tmp_path, "t10k", *tiny_digits, compress=True)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path, kind="train")
    with pytest.raises(InvalidParameterError, match="kind"):
        load_mnist(tmp_path, kind="test")


SHARED_MNIST = Path("/work/shared/data/mnist")


def test_load_mnist_shared_files():
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("the shared MNIST files are not available")
    data = load_mnist(SHARED_MNIST)
    assert data.data.shape == (10000, 784) and data.images.shape == (10000, 28, 28)
    assert sorted(np.unique(data.target)) == list(range(10))
    assert data.data.max() == 255


# ---------------------------------------------------------------------------
# dependency contract


def test_datasets_and_metrics_do_not_import_torch():
    code = (
        "import sys, sklvar.datasets, sklvar.metrics; assert 'torch' not in sys.modules"
    )
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
