"""Calibrated uncertainty: transform(return_std=True), predict_quantiles,
predict_interval and sample (sklvar/impute/_uncertainty.py)."""

import numpy as np
import pytest

from sklvar import DictionaryImputer, VariationalImputer
from sklvar.impute._uncertainty import _others_missing, gap_bridge, gap_distance
from sklvar.priors import PRIORS
from sklvar.solvers import SOLVERS


def _ar_table(n_t=1200, n_d=4, seed=0):
    """A smooth stationary multivariate series (AR(2) mixed across series)."""
    rng = np.random.RandomState(seed)
    E = rng.normal(size=(n_t + 100, n_d))
    Z = np.zeros_like(E)
    for t in range(2, len(E)):
        Z[t] = 1.6 * Z[t - 1] - 0.7 * Z[t - 2] + E[t]
    Z = Z[100:] @ (np.eye(n_d) + 0.2 * rng.normal(size=(n_d, n_d)))
    return (Z - Z.mean(0)) / Z.std(0)


def _gappy(Z, seed=0, n_gaps=12, length=20):
    rng = np.random.RandomState(seed)
    X = Z.copy()
    for j in range(Z.shape[1]):
        for s in rng.randint(0, len(Z) - length, size=n_gaps):
            X[s:s + length, j] = np.nan
    return X


@pytest.fixture(scope="module")
def table():
    Z = _ar_table()
    X = _gappy(Z)
    imp = VariationalImputer(layout="series", random_state=0).fit(X)
    return Z, X, imp


def test_shapes_and_observed_entries_exact(table):
    _, X, imp = table
    obs = ~np.isnan(X)
    X_hat, std = imp.transform(X, return_std=True)
    np.testing.assert_array_equal(X_hat, imp.transform(X))
    assert std.shape == X.shape and np.all(std[obs] == 0) and np.all(std[~obs] > 0)
    lo, up = imp.predict_interval(X, 0.9)
    assert lo.shape == up.shape == X.shape
    np.testing.assert_array_equal(lo[obs], X[obs])
    np.testing.assert_array_equal(up[obs], X[obs])
    Q = imp.predict_quantiles(X, [0.1, 0.5, 0.9])
    assert Q.shape == (3,) + X.shape
    D = imp.sample(X, n_samples=4, random_state=0)
    assert D.shape == (4,) + X.shape
    for d in D:
        np.testing.assert_array_equal(d[obs], X[obs])
        assert np.isfinite(d).all()
    assert not np.allclose(D[0][~obs], D[1][~obs])


def test_input_not_modified(table):
    _, X, imp = table
    X0 = X.copy()
    imp.sample(X, 2)
    imp.predict_interval(X)
    imp.transform(X, return_std=True)
    np.testing.assert_array_equal(X, X0)


def test_seeded_reproducibility(table):
    Z, X, imp = table
    a = imp.sample(X, 3, random_state=1)
    np.testing.assert_array_equal(a, imp.sample(X, 3, random_state=1))
    assert not np.array_equal(a, imp.sample(X, 3, random_state=2))
    # the estimator's random_state seeds sample(random_state=None) and the fit
    np.testing.assert_array_equal(imp.sample(X, 2), imp.sample(X, 2))
    other = VariationalImputer(layout="series", random_state=0).fit(X)
    np.testing.assert_array_equal(other.predict_interval(X)[0],
                                  imp.predict_interval(X)[0])


def test_intervals_nested_and_wider_mid_gap(table):
    _, X, imp = table
    obs = ~np.isnan(X)
    miss = ~obs
    lo50, up50 = imp.predict_interval(X, 0.5)
    lo90, up90 = imp.predict_interval(X, 0.9)
    assert np.all(lo90 <= lo50) and np.all(up50 <= up90)
    assert np.all((up90 - lo90)[miss] > (up50 - lo50)[miss])
    _, std = imp.transform(X, return_std=True)
    d = gap_distance(obs)
    assert std[miss & (d == 1)].mean() < 0.8 * std[miss & (d >= 8)].mean()
    # within one column: the middle of a gap is wider than its first step
    j = 0
    col_d, col_s = d[:, j], std[:, j]
    mid = col_s[(col_d >= 8) & miss[:, j]]
    edge = col_s[(col_d == 1) & miss[:, j]]
    assert mid.min() > 0.99 * edge.max()


def test_coverage_on_a_synthetic_series():
    """Honest check: intervals calibrated on observed entries cover the gaps."""
    Z = _ar_table(n_t=2000, n_d=5, seed=3)
    X = _gappy(Z, seed=4, n_gaps=15, length=15)
    miss = np.isnan(X)
    imp = VariationalImputer(layout="series", random_state=0).fit(X)
    for level in (0.5, 0.9):
        lo, up = imp.predict_interval(X, level)
        cover = np.mean((Z[miss] >= lo[miss]) & (Z[miss] <= up[miss]))
        assert abs(cover - level) < 0.06, (level, cover)
    # the draws have the same marginals as the intervals
    D = imp.sample(X, 200, random_state=0)
    lo, up = np.quantile(D, [0.05, 0.95], axis=0)
    cover = np.mean((Z[miss] >= lo[miss]) & (Z[miss] <= up[miss]))
    assert abs(cover - 0.9) < 0.06, cover
    # errors along a gap are correlated in the draws (trajectories, not noise)
    assert np.all(imp.calibration_.rho > 0.5)


def test_point_estimate_does_not_depend_on_calibration(table, monkeypatch):
    _, X, imp = table
    monkeypatch.setattr(VariationalImputer, "_calibration_draws", 0)
    plain = VariationalImputer(layout="series", random_state=0).fit(X)
    np.testing.assert_array_equal(plain.transform(X), imp.transform(X))


def _prior_case(prior):
    """(X, estimator params) of a tiny windowed series for each prior."""
    rng = np.random.RandomState(0)
    n_d = {"lorenz63": 3, "lorenz96": 8}.get(prior, 3)
    t = np.arange(120)[:, None]
    X = np.sin(t / 5 + np.arange(n_d)) + 0.1 * rng.normal(size=(120, n_d))
    X[rng.uniform(size=X.shape) < 0.2] = np.nan
    params = {"pca": {"n_components": 2}, "cnn": {"n_hidden": 4, "n_channels": 3}}
    return X, params.get(prior)


@pytest.mark.parametrize("solver", sorted(SOLVERS))
@pytest.mark.parametrize("prior", sorted(PRIORS))
def test_return_std_every_prior_and_solver(prior, solver):
    X, prior_params = _prior_case(prior)
    imp = VariationalImputer(prior=prior, solver=solver, prior_params=prior_params,
                             window=16, max_epochs=1, n_solver_iter=2,
                             n_solver_iter_start=1, batch_size=64, random_state=0)
    X_hat, std = imp.fit(X).transform(X, return_std=True)
    miss = np.isnan(X)
    assert np.isfinite(std).all() and np.all(std[~miss] == 0) and np.all(std[miss] > 0)
    lo, up = imp.predict_interval(X, 0.8)
    assert np.all(lo <= up)
    D = imp.sample(X, 2)
    for d in D:
        np.testing.assert_array_equal(d[~miss], X[~miss])


@pytest.mark.parametrize("make", [
    lambda: VariationalImputer(prior="pca", solver="gd", max_epochs=1,
                               n_solver_iter=2, random_state=0),
    lambda: VariationalImputer(prior="cnn", solver="lstm", sample_shape=(2, 12),
                               layout="series", max_epochs=1, n_solver_iter=2,
                               prior_params={"n_hidden": 4, "n_channels": 3},
                               random_state=0),
    lambda: DictionaryImputer(n_components=3, max_iter=5, random_state=0),
], ids=["vector", "sample_series", "dictionary"])
def test_rows_layouts_and_dictionary(make):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3)) @ rng.normal(size=(3, 24))
    X[rng.uniform(size=X.shape) < 0.25] = np.nan
    miss = np.isnan(X)
    imp = make().fit(X)
    X_hat, std = imp.transform(X, return_std=True)
    assert np.all(std[~miss] == 0) and np.all(std[miss] > 0)
    lo50, up50 = imp.predict_interval(X, 0.5)
    lo90, up90 = imp.predict_interval(X, 0.9)
    assert np.all(lo90 <= lo50) and np.all(up50 <= up90)
    D = imp.sample(X, 3, random_state=0)
    assert D.shape == (3,) + X.shape
    np.testing.assert_array_equal(D[1][~miss], X[~miss])


def test_windowed_series_draws_follow_gaps():
    X, _ = _prior_case("pca")
    imp = VariationalImputer(prior="pca", solver="fixed_point", window=16,
                             max_epochs=1, random_state=0).fit(X)
    assert imp.calibration_.kind == "series"
    D = imp.sample(X, 2, random_state=0)
    assert np.isfinite(D).all()


@pytest.mark.parametrize("call, message", [
    (lambda imp, X: imp.sample(X, n_samples=0), "n_samples must be an int >= 1"),
    (lambda imp, X: imp.sample(X, n_samples=2.5), "n_samples must be an int >= 1"),
    (lambda imp, X: imp.predict_interval(X, 1.5), r"level must be a float in \(0, 1\)"),
    (lambda imp, X: imp.predict_interval(X, 0), r"level must be a float in \(0, 1\)"),
    (lambda imp, X: imp.predict_quantiles(X, [0.5, 1.0]), r"quantiles must be"),
    (lambda imp, X: imp.predict_quantiles(X, []), r"quantiles must be"),
])
def test_input_errors_name_the_parameter(table, call, message):
    _, X, imp = table
    with pytest.raises(ValueError, match=message):
        call(imp, X)


def test_not_fitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        VariationalImputer().sample(np.zeros((3, 2)))


def test_save_load_keeps_calibration(table, tmp_path):
    _, X, imp = table
    imp.save(tmp_path / "m.npz")
    back = VariationalImputer.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.predict_interval(X)[1],
                                  imp.predict_interval(X)[1])
    np.testing.assert_array_equal(back.sample(X, 2), imp.sample(X, 2))


def test_pandas_output_and_indicator(table):
    pd = pytest.importorskip("pandas")
    _, X, _ = table
    imp = VariationalImputer(layout="series", random_state=0, add_indicator=True)
    imp.set_output(transform="pandas").fit(X)
    out, std = imp.transform(X, return_std=True)
    assert isinstance(out, pd.DataFrame) and out.shape[1] == 2 * X.shape[1]
    assert std.shape == X.shape


def test_cli_interval_columns(tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    from sklvar.cli import main

    Z = _ar_table(n_t=300, n_d=3)
    X = _gappy(Z, n_gaps=4, length=10)
    X[:, 2] = Z[:, 2]  # one complete column
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    df.to_csv(src, index=False)
    assert main(["impute", str(src), "-o", str(dst), "--interval", "0.9",
                 "--threads", "1"]) == 0
    out = pd.read_csv(dst)
    assert list(out.columns) == ["a", "b", "c", "a_lower", "a_upper", "b_lower",
                                 "b_upper", "c_lower", "c_upper"]
    miss = np.isnan(X)
    for j, c in enumerate("abc"):
        lo, up, v = out[f"{c}_lower"], out[f"{c}_upper"], out[c]
        assert np.all(lo <= v + 1e-12) and np.all(v <= up + 1e-12)
        np.testing.assert_allclose(lo[~miss[:, j]], v[~miss[:, j]])
        assert np.all((up - lo)[miss[:, j]] > 0)
    assert main(["impute", str(src), "-o", str(tmp_path / "x.csv"),
                 "--interval", "1.5"]) == 2
    assert "--interval must be a coverage level in (0, 1)" in capsys.readouterr().err


def test_benchmark_crps_and_report(tmp_path):
    """benchmarks/uncertainty.py: the quantile CRPS and the report writer."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "uncertainty.py"
    spec = importlib.util.spec_from_file_location("unc_bench", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    t = np.linspace(-1, 1, 50)
    Q = np.broadcast_to(t, (len(bench.LEVELS), 50))
    assert bench.crps_quantiles(t, Q) == 0.0
    # every quantile 1 above the truth: 2 x mean of (1 - level) = 1
    assert np.isclose(bench.crps_quantiles(t, Q + 1.0), 1.0)
    run = {"seed": 0, "rmse": 0.1, "crps": 0.05, "cov50": 0.5, "cov80": 0.8,
           "cov90": 0.9, "times": {"total": 1.0, "draws": 20}}
    results = [{"method": "IterativeImputer posterior", "dataset": "etth1",
                "protocol": "mcar@0.2", "runs": [run]},
               {"method": "CSDI", "dataset": "etth1", "protocol": "mcar@0.2",
                "error": ["RuntimeError: CSDI failed"]}]
    out = tmp_path / "U.md"
    bench.write_report(results, out, "python benchmarks/uncertainty.py")
    text = out.read_text()
    assert "| etth1 | mcar@0.2 | 50.0 / 80.0 / 90.0 |" in text
    assert "CSDI failed" in text


def test_calibration_of_an_aligned_block_is_local():
    """A block aligned across series, in a quiet stretch of a series whose
    other stretches are loud: the intervals are calibrated on the hidden gaps
    beside the block (near_gaps_hides), not on the loud stretches."""
    Z = _ar_table(n_t=2000, n_d=5, seed=5)
    loud = np.ones(len(Z))
    loud[1000:] = 4.0  # the second half moves four times as much
    Z = Z * loud[:, None]
    X = Z.copy()
    X[200:500, :2] = np.nan
    miss = np.isnan(X)
    imp = VariationalImputer(layout="series", random_state=0).fit(X)
    lo, up = imp.predict_interval(X, 0.8)
    cover = np.mean((Z[miss] >= lo[miss]) & (Z[miss] <= up[miss]))
    assert abs(cover - 0.8) < 0.1, cover


def test_gap_bridge_is_the_distance_to_both_sides():
    obs = np.ones((12, 2), dtype=bool)
    obs[1:6, 0] = False  # interior gap of 5: a = 1..5, b = 5..1
    obs[9:, 1] = False  # a gap that runs to the end: no far side
    d = gap_bridge(obs)
    np.testing.assert_array_equal(d[1:6, 0], [2, 3, 3, 3, 2])  # rint(2ab/(a+b))
    assert np.all(d[obs] == 0)
    # no observation after: about twice the distance to the one before
    np.testing.assert_array_equal(d[9:, 1], [2, 4, 6])
    # never below the distance to the nearest observation, at most twice it
    near = gap_distance(obs)
    assert np.all(d >= near) and np.all(d <= 2 * near)


def test_calibration_factor_of_missing_neighbours():
    obs = np.ones((6, 3), dtype=bool)
    obs[2, :2] = False
    np.testing.assert_allclose(_others_missing(obs)[2], [0.5, 0.5, 1.0])
    np.testing.assert_allclose(_others_missing(obs)[0], 0.0)
    # three coupled series: an entry is harder to fill when the other series
    # are missing at the same step; the factor is non-decreasing and used
    Z = _ar_table(n_t=1500, n_d=3, seed=7)
    X = _gappy(Z, seed=8, n_gaps=15, length=10)
    imp = VariationalImputer(layout="series", random_state=0).fit(X)
    cal = imp.calibration_
    assert len(cal.mix_edges) == len(cal.mix_scale) >= 2
    assert cal.mix_scale[0] == 1.0 and np.all(np.diff(cal.mix_scale) >= 0)
    obs = ~np.isnan(X)
    sigma = cal.scale(obs)
    alone = obs.copy()
    alone[~obs] = False
    # the same entries, with the other series made observed: not wider
    for j in range(3):
        o = obs.copy()
        o[:, [k for k in range(3) if k != j]] = True
        s_alone = cal.scale(o)[:, j]
        assert np.all(s_alone[~obs[:, j]] <= sigma[~obs[:, j], j] + 1e-12)


def test_calibrate_false_skips_the_calibration_and_says_so():
    from sklvar import DictionaryImputer, VariationalImputer

    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 2)) @ rng.normal(size=(2, 6))
    X[rng.uniform(size=X.shape) < 0.2] = np.nan
    for imp in (VariationalImputer(prior="pca", max_epochs=1, calibrate=False,
                                   random_state=0),
                DictionaryImputer(n_components=3, calibrate=False, random_state=0)):
        imp.fit(X)
        assert not hasattr(imp, "calibration_")
        assert np.all(np.isfinite(imp.transform(X)))
        with pytest.raises(ValueError, match="calibrate=False"):
            imp.transform(X, return_std=True)
        imp.set_params(calibrate=True).fit(X)  # and back
        assert hasattr(imp, "calibration_")
        assert imp.transform(X, return_std=True)[1].shape == X.shape


def test_calibration_of_many_samples_imputes_a_bounded_subset(monkeypatch):
    """Independent samples: the calibration imputes at most
    ``_calibration_max_samples`` of them (the cost of fit stays bounded)."""
    from sklvar import VariationalImputer
    from sklvar.impute import _base

    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 2)) @ rng.normal(size=(2, 6))
    X[rng.uniform(size=X.shape) < 0.2] = np.nan
    seen = []
    fit = _base.ResidualCalibration.fit

    def spy(X_cal, observed, *args, **kwargs):
        seen.append(X_cal.shape)
        return fit(X_cal, observed, *args, **kwargs)

    monkeypatch.setattr(_base.ResidualCalibration, "fit", staticmethod(spy))
    monkeypatch.setattr(VariationalImputer, "_calibration_max_samples", 100)
    imp = VariationalImputer(prior="pca", max_epochs=1, random_state=0).fit(X)
    assert seen == [(100, 6)]
    lo, hi = imp.predict_interval(X, 0.8)
    assert lo.shape == X.shape and np.all(lo <= hi)


def test_calibration_hides_a_part_of_each_shifted_copy_at_a_time():
    """Independent gaps: each calibration imputation hides about a third of a
    shifted copy of the gaps, so the entries beside a hidden one are missing
    about as often as beside a real gap (not twice as often, as with the
    whole copy hidden on top of the real gaps)."""
    from sklvar.impute._uncertainty import calibration_hides

    Z = _ar_table(n_t=1200, n_d=4, seed=3)
    X = _gappy(Z, seed=4, n_gaps=15, length=10)
    obs = ~np.isnan(X)
    imp = VariationalImputer(layout="series", random_state=0,
                             calibrate=False).fit(X)

    def around(hidden, seen):
        """Share of the other series missing within 10 steps of hidden entries."""
        M = np.cumsum(np.vstack([np.zeros((1, 4)), ~seen]), axis=0)
        t = np.arange(len(seen))
        lo, hi = np.clip(t - 10, 0, len(t)), np.clip(t + 11, 0, len(t))
        W = M[hi] - M[lo]  # missing entries of each series in the window
        others = (W.sum(axis=1, keepdims=True) - W) / ((hi - lo)[:, None] * 3)
        return others[hidden].mean()

    whole = calibration_hides(imp, obs, np.random.RandomState(0), 5, split=1)
    parts = calibration_hides(imp, obs, np.random.RandomState(0), 5)
    assert len(whole) == 5 and len(parts) == 15
    for h in parts:
        assert not (h & ~obs).any()
        assert 0.15 * (~obs).sum() < h.sum() < 0.5 * (~obs).sum()
    real = around(~obs, obs)
    r_whole = np.mean([around(h, obs & ~h) for h in whole])
    r_parts = np.mean([around(h, obs & ~h) for h in parts])
    assert r_whole > 1.6 * real  # the whole copy doubles the missing around
    assert r_parts < 1.4 * real, (real, r_parts)
