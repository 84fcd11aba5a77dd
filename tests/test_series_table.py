"""Series tables: layout="series" without window, the field prior, max_time."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklvar import VariationalImputer
from sklvar.utils._gmrf import (
    _operator,
    _phi_columns,
    _runs,
    _solve_increments_rows,
    em_field,
    fit_field,
    fit_increments,
    increments_phi,
    linear_fill_table,
    near_gaps_hides,
    shifted_gaps_hide,
    solve_field,
    solve_increments,
    split_gap_runs,
)


def _table(n_t=400, n_d=6, seed=0):
    """Smooth correlated series: 2 latent AR(2) factors mixed into n_d series."""
    rng = np.random.RandomState(seed)
    f = np.zeros((n_t, 2))
    for t in range(2, n_t):
        f[t] = 1.6 * f[t - 1] - 0.7 * f[t - 2] + 0.3 * rng.normal(size=2)
    X = f @ rng.normal(size=(2, n_d)) + 0.05 * rng.normal(size=(n_t, n_d))
    return X * rng.uniform(0.5, 3, n_d) + rng.uniform(-5, 5, n_d)


def _gaps(X, seed=0, rate=0.15, length=8):
    rng = np.random.RandomState(seed)
    miss = np.zeros(X.shape, dtype=bool)
    for j in range(X.shape[1]):
        for s in rng.randint(0, X.shape[0] - length, int(rate * X.shape[0] / length)):
            miss[s:s + length, j] = True
    Xg = X.copy()
    Xg[miss] = np.nan
    return Xg, miss


def _rmse(A, B, miss):
    return float(np.sqrt(np.mean((A - B)[miss] ** 2)))


def test_layout_series_is_a_table_and_beats_linear_interpolation():
    X = _table()
    Xg, miss = _gaps(X)
    imp = VariationalImputer(layout="series", random_state=0)
    X_hat = imp.fit_transform(Xg)
    assert imp.layout_.kind == "table"
    assert np.all(np.isfinite(X_hat))
    np.testing.assert_array_equal(X_hat[~miss], X[~miss])  # observed unchanged
    t = np.arange(X.shape[0])
    lin = np.column_stack([np.interp(t, t[~miss[:, j]], X[~miss[:, j], j])
                           for j in range(X.shape[1])])
    # the field uses the other series and the dynamics: far better than linear
    assert _rmse(X_hat, X, miss) < 0.5 * _rmse(lin, X, miss)
    assert len(imp.field_models_) in (1, 2)
    assert abs(sum(w for _, w, _ in imp.field_models_) - 1) < 1e-12


def test_field_is_the_fixed_point_of_the_fixed_point_solver():
    X = _table(200, 4)
    Xg, miss = _gaps(X, 1)
    obs = ~miss
    Z = np.where(obs, (Xg - np.nanmean(Xg, 0)) / np.nanstd(Xg, 0), 0.0)
    X_hat, (B, c) = em_field(Z, obs, order=2, alpha=1e-3)
    phi = (_operator(B, Z.shape[0]) @ X_hat.ravel()).reshape(Z.shape) + c
    fixed = np.where(obs, Z, phi)  # x = Omega y + (1 - Omega) Phi(x)
    np.testing.assert_allclose(X_hat, fixed, atol=1e-8)
    assert np.all(B[np.arange(4), 2, np.arange(4)] == 0)  # centre excluded


def test_field_intercept_makes_it_shift_invariant():
    """Regression: without the intercept, a shifted table was imputed worse."""
    X = _table(300, 5)
    Xg, miss = _gaps(X, 2)
    obs = ~miss
    Z = np.where(obs, Xg, 0.0)
    a, _ = em_field(Z, obs, order=1, alpha=1e-4)
    b, _ = em_field(np.where(obs, Xg + 7.0, 0.0), obs, order=1, alpha=1e-4)
    np.testing.assert_allclose(b - 7.0, a, atol=1e-6)


def test_fit_field_recovers_an_exact_linear_relation():
    rng = np.random.RandomState(0)
    A = rng.normal(size=(500, 3))
    Z = np.column_stack([A, A @ np.array([1.0, -2.0, 0.5])])
    B, c = fit_field(Z, 0, 1e-10)
    np.testing.assert_allclose(B[3, 0, :3], [1.0, -2.0, 0.5], atol=1e-5)


def test_shifted_gaps_hide_keeps_the_pattern_shape():
    obs = np.ones((100, 4), dtype=bool)
    obs[20:60, :2] = False  # aligned block in two series
    h = shifted_gaps_hide(obs, np.random.RandomState(0))
    assert not np.any(h & ~obs)
    assert h[:, 2:].sum() == 0  # same series only
    assert np.array_equal(h[:, 0], h[:, 1])  # alignment kept
    # no gap at all: runs of 10 are hidden instead
    h2 = shifted_gaps_hide(np.ones((200, 3), dtype=bool), np.random.RandomState(0))
    assert h2.sum() >= 0.02 * 600


def test_reproducible_and_does_not_modify_input():
    Xg, _ = _gaps(_table())
    before = Xg.copy()
    a = VariationalImputer(layout="series", random_state=3).fit_transform(Xg)
    b = VariationalImputer(layout="series", random_state=3).fit_transform(Xg)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.isnan(Xg), np.isnan(before))
    np.testing.assert_array_equal(Xg[~np.isnan(Xg)], before[~np.isnan(before)])


def test_single_field_model_and_params_errors():
    Xg, miss = _gaps(_table())
    imp = VariationalImputer(prior="field", layout="series",
                             prior_params={"order": 2, "alpha": 1e-2}).fit(Xg)
    (spec, w, _), = imp.field_models_
    assert (spec["order"], spec["alpha"], w) == (2, 1e-2, 1.0)
    with pytest.raises(ValueError, match="unknown \\['ordre'\\]"):
        VariationalImputer(prior="field", layout="series",
                           prior_params={"ordre": 2}).fit(Xg)
    with pytest.raises(ValueError, match="prior_params\\['order'\\] must be an int"):
        VariationalImputer(prior="field", layout="series",
                           prior_params={"order": -1}).fit(Xg)
    with pytest.raises(ValueError, match="needs windows"):
        VariationalImputer(prior="cnn", layout="series").fit(Xg)
    with pytest.raises(ValueError, match="needs windows"):
        VariationalImputer(solver="lstm", layout="series").fit(Xg)
    with pytest.raises(ValueError, match="imputes whole series tables"):
        VariationalImputer(prior="field").fit(Xg)


def test_label_free_score_and_grid_search_over_the_field():
    Xg, _ = _gaps(_table())
    search = GridSearchCV(
        VariationalImputer(prior="field", layout="series", random_state=0),
        {"prior_params": [{"order": 0}, {"order": 2}]}, cv=[(np.arange(400),
                                                             np.arange(400))],
    ).fit(Xg)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and np.all(scores <= 0)
    # the series are dynamic: using time (order 2) scores better than order 0
    assert search.best_params_ == {"prior_params": {"order": 2}}


def test_pipeline_and_pandas():
    pd = pytest.importorskip("pandas")
    Xg, _ = _gaps(_table())
    df = pd.DataFrame(Xg, columns=[f"s{i}" for i in range(Xg.shape[1])])
    imp = VariationalImputer(layout="series", random_state=0).set_output(
        transform="pandas")
    out = imp.fit_transform(df)
    assert list(out.columns) == list(df.columns) and not out.isna().any().any()
    pipe = make_pipeline(VariationalImputer(layout="series", random_state=0),
                         StandardScaler())
    assert np.all(np.isfinite(pipe.fit_transform(Xg)))


def test_supervised_fit_on_true_table():
    X = _table()
    Xg, miss = _gaps(X)
    sup = VariationalImputer(prior="field", layout="series").fit(Xg, X)
    assert _rmse(sup.transform(Xg), X, miss) < 0.2 * np.std(X)


def test_max_time_stops_neural_training_and_restores_lr():
    X = _table(300, 3)
    Xg, _ = _gaps(X)
    imp = VariationalImputer(prior="pca", window=32, max_epochs=10_000, lr=1e-3,
                             max_time=1.0, random_state=0).fit(Xg)
    assert imp.n_iter_ < 10_000
    assert imp.history_[-1].get("time_budget_stop") is True
    assert imp.net_.module_.n_iter == imp.n_solver_iter
    assert all(g["lr"] > 0 for g in imp.net_.optimizer_.param_groups)
    assert np.all(np.isfinite(imp.transform(Xg)))


def test_max_time_bounds_the_pretraining_of_a_sequential_prior():
    """joint=False: the prior's pre-training gets half the budget at most, the
    solver the rest, so a huge max_epochs does not run away."""
    import time

    X = _table(300, 3)
    Xg, _ = _gaps(X)
    imp = VariationalImputer(prior="ae", solver="lstm", joint=False, window=32,
                             max_epochs=10_000_000, max_time=1.0, random_state=0)
    t0 = time.perf_counter()
    imp.fit(Xg)
    assert time.perf_counter() - t0 < 30  # unbounded pre-training: never ends
    assert imp.history_[-1].get("time_budget_stop") is True
    assert np.all(np.isfinite(imp.transform(Xg)))


def test_max_time_bounds_the_model_choice():
    Xg, _ = _gaps(_table())
    imp = VariationalImputer(layout="series", max_time=1e-6, random_state=0).fit(Xg)
    assert np.isnan(imp.validation_errors_[1:]).all()  # only the first was tried
    assert np.all(np.isfinite(imp.transform(Xg)))


def test_project_and_linear_interpolation_as_a_field():
    from sklvar.utils._gmrf import linear_phi_coefs

    X = _table(200, 3)
    Xg, miss = _gaps(X, 5)
    obs = ~miss
    Z = np.where(obs, Xg, 0.0)
    # linear interpolation is the fixed point of the two-neighbour mean
    lin = solve_field(Z, obs, *linear_phi_coefs(3))
    t = np.arange(200)
    for j in range(3):
        np.testing.assert_allclose(
            lin[:, j], np.interp(t, t[obs[:, j]], Xg[obs[:, j], j]), atol=1e-8)
    imp = VariationalImputer(layout="series", random_state=0).fit(Xg)
    P = imp.project(X)
    assert P.shape == X.shape and np.all(np.isfinite(P))
    # the field predicts each entry from its neighbours far better than the mean
    assert np.mean((P - X) ** 2) < 0.2 * np.mean((X - X.mean(0)) ** 2)


def test_em_rejects_a_fit_that_has_not_settled():
    from sklvar.utils._gmrf import em_field

    X = _table(200, 4)
    Xg, miss = _gaps(X, 6)
    obs = ~miss
    Z = np.where(obs, (Xg - np.nanmean(Xg, 0)) / np.nanstd(Xg, 0), 0.0)
    # one round from the linear fill moves the fill a lot: not settled
    X1, coefs = em_field(Z, obs, order=1, alpha=1e-3, n_rounds=1, max_final_change=1e-6)
    assert X1 is None and coefs is None
    X1, coefs = em_field(Z, obs, order=1, alpha=1e-3, n_rounds=1)
    assert np.all(np.isfinite(X1))
    # rounds to convergence settle well below the estimator's threshold (0.1)
    X8, _ = em_field(Z, obs, order=1, alpha=1e-3, n_rounds=8, tol=1e-4,
                     max_final_change=0.1)
    assert X8 is not None


def _random_walks(n_t=300, n_d=5, seed=0):
    """Random walks with increments correlated across series (one common factor)."""
    rng = np.random.RandomState(seed)
    common = rng.normal(size=(n_t, 1))
    steps = common * rng.uniform(0.5, 1.5, n_d) + 0.3 * rng.normal(size=(n_t, n_d))
    return np.cumsum(steps, axis=0)


@pytest.mark.parametrize("order", [0, 1, 3])
def test_increment_solve_equals_the_full_row_system(order):
    # the system built from the missing columns only equals the one built
    # from every residual row, edges included (gaps at the first/last steps)
    rng = np.random.RandomState(order)
    n_t, n_d = 40, 4
    Z = _random_walks(n_t, n_d, seed=order)
    obs = rng.uniform(size=Z.shape) > 0.3
    obs[0, 0] = obs[-1, 1] = obs[-2, 1] = False
    obs[:, 2] = True
    B = 0.1 * rng.normal(size=(n_d, 2 * order + 1, n_d))
    B[np.arange(n_d), order, np.arange(n_d)] = 0.0
    c, w = 0.1 * rng.normal(size=n_d), rng.uniform(0.5, 1.5, n_d)
    np.testing.assert_allclose(
        _phi_columns(B, n_t, np.arange(n_t * n_d)).toarray(),
        _operator(B, n_t).toarray(), atol=1e-14)
    np.testing.assert_allclose(solve_increments(Z, obs, B, c, w),
                               _solve_increments_rows(Z, obs, B, c, w), atol=1e-10)


def test_increment_field_without_coupling_is_linear_interpolation():
    Z = _random_walks()
    rng = np.random.RandomState(1)
    obs = rng.uniform(size=Z.shape) > 0.2
    obs[0] = obs[-1] = True
    n_d = Z.shape[1]
    B, c, w = np.zeros((n_d, 3, n_d)), np.zeros(n_d), np.ones(n_d)
    X = solve_increments(np.where(obs, Z, 0.0), obs, B, c, w)
    np.testing.assert_allclose(X, linear_fill_table(np.where(obs, Z, 0.0), obs),
                               atol=1e-10)
    # and its Phi is the mean of the two time neighbours
    P = increments_phi(Z, B, c, w)
    np.testing.assert_allclose(P[1:-1], (Z[:-2] + Z[2:]) / 2, atol=1e-12)


def test_increment_solution_is_a_fixed_point_of_its_phi():
    Z = _random_walks()
    obs = np.ones(Z.shape, dtype=bool)
    obs[100:140, 0] = obs[200:230, 3] = False
    coefs = fit_increments(linear_fill_table(Z, obs), 1, 1e-2, obs)
    X = solve_increments(np.where(obs, Z, 0.0), obs, *coefs)
    np.testing.assert_allclose(increments_phi(X, *coefs)[~obs], X[~obs], atol=1e-8)


def test_increment_field_beats_the_level_field_on_correlated_random_walks():
    Z = _random_walks(n_t=600, seed=2)
    obs = np.ones(Z.shape, dtype=bool)
    obs[200:320, :2] = False  # a long aligned gap in two series
    Zg = np.where(obs, Z, 0.0)
    errs = {}
    for kind in ("increments", "field", "linear"):
        X, _ = em_field(Zg, obs, kind=kind, order=0, alpha=1e-3, n_rounds=8, tol=1e-4)
        errs[kind] = np.sqrt(np.mean((X - Z)[~obs] ** 2))
    assert errs["increments"] < 0.6 * min(errs["field"], errs["linear"]), errs
    Xg = Z.copy()
    Xg[~obs] = np.nan
    imp = VariationalImputer(prior="field", layout="series",
                             prior_params={"kind": "increments", "order": 0})
    Xh = imp.fit_transform(Xg)
    assert _rmse(Xh, Z, ~obs) < 0.6 * errs["linear"]
    assert np.isfinite(imp.project(Z)).all()


def test_shifted_gaps_hide_does_not_move_interior_gaps_onto_the_edges():
    obs = np.ones((100, 3), dtype=bool)
    obs[30:70, 0] = False  # a long interior gap: most offsets would wrap it
    for seed in range(20):
        h = shifted_gaps_hide(obs, np.random.RandomState(seed))
        assert not h[0].any() and not h[-1].any()
        assert h[:, 1:].sum() == 0 and h.sum() > 0


def _mean_time_distance(hidden, missing):
    steps = np.flatnonzero(missing.any(axis=1))
    rows = np.flatnonzero(hidden.any(axis=1))
    return np.abs(rows[:, None] - steps[None, :]).min(axis=1).mean()


def test_near_gaps_hides_put_an_aligned_block_beside_itself():
    obs = np.ones((1000, 6), dtype=bool)
    obs[100:300, :2] = False  # one block aligned across two series
    near = near_gaps_hides(obs, np.random.RandomState(0), 3)
    rng = np.random.RandomState(0)
    far = [shifted_gaps_hide(obs, rng) for _ in range(30)]
    d_near = [_mean_time_distance(h, ~obs) for h in near]
    d_far = [_mean_time_distance(h, ~obs) for h in far]
    assert len(near) == 3
    for h in near:
        assert not (h & ~obs).any()  # a subset of the observed entries
        assert h[:, 2:].sum() == 0  # in the gap's series only
        assert h.sum() >= 100
    assert max(d_near) < np.median(d_far) / 2
    assert len({h.tobytes() for h in near}) == 3  # distinct offsets


def test_near_gaps_hides_of_spread_gaps_are_shifted_copies():
    rng = np.random.RandomState(1)
    obs = rng.rand(500, 5) > 0.1  # points: every offset is as near
    for h in near_gaps_hides(obs, np.random.RandomState(2), 3):
        assert not (h & ~obs).any()
        assert 0.6 * (~obs).sum() < h.sum() < 1.2 * (~obs).sum()
    full = np.ones((50, 2), dtype=bool)  # no gap: random runs instead
    hides = near_gaps_hides(full, np.random.RandomState(0), 2)
    assert len(hides) == 2 and all(h.any() for h in hides)


def test_split_gap_runs_partitions_and_keeps_aligned_runs_whole():
    rng = np.random.RandomState(0)
    hidden = np.zeros((400, 5), dtype=bool)
    hidden[50:90, :3] = True  # one block aligned across three series
    for j in range(5):  # and independent short runs
        for s in rng.randint(100, 390, size=6):
            hidden[s:s + 5, j] = True
    parts = split_gap_runs(hidden, 3, np.random.RandomState(1))
    assert len(parts) == 3
    total = np.zeros_like(hidden, dtype=int)
    for p in parts:
        total += p
    np.testing.assert_array_equal(total, hidden.astype(int))  # disjoint, all
    holder = [p for p in parts if p[50:90, :3].any()]
    assert len(holder) == 1 and holder[0][50:90, :3].all()  # the block whole
    # about a third of the runs in each part
    n_runs = [sum(len(_runs(p[:, j])[0]) for j in range(5)) for p in parts]
    assert max(n_runs) - min(n_runs) <= 3
    # one aligned block alone cannot be split
    block = np.zeros((100, 4), dtype=bool)
    block[10:40, :2] = True
    one = split_gap_runs(block, 3, np.random.RandomState(0))
    assert len(one) == 1 and np.array_equal(one[0], block)


def test_near_gaps_hides_at_a_coarse_resolution_are_random_shifts_of_spread_gaps():
    """Gaps spread over the series: exact distances pick the copies that fall
    closest to the real gaps (harder positions); compared at a twentieth of
    the series they are as near as random shifts; an aligned block's copies
    stay beside it."""
    exact, coarse, rand = [], [], []
    for seed in range(3):
        rng = np.random.RandomState(seed)
        obs = np.ones((2000, 6), dtype=bool)
        for j in range(3):
            for s in rng.randint(200, 1990, size=30):
                obs[s:s + 10, j] = False
        exact += [_mean_time_distance(h, ~obs) for h in
                  near_gaps_hides(obs, np.random.RandomState(1), 5)]
        coarse += [_mean_time_distance(h, ~obs) for h in
                   near_gaps_hides(obs, np.random.RandomState(1), 5, resolution=100)]
        rand += [_mean_time_distance(shifted_gaps_hide(obs, np.random.RandomState(k)), ~obs)
                 for k in range(30)]
    assert np.mean(exact) < 0.85 * np.mean(rand)
    assert np.mean(coarse) > 0.9 * np.mean(rand)
    obs = np.ones((1000, 6), dtype=bool)
    obs[100:300, :2] = False
    rng = np.random.RandomState(0)
    far = [shifted_gaps_hide(obs, rng) for _ in range(30)]
    near = near_gaps_hides(obs, np.random.RandomState(0), 3, resolution=50)
    assert max(_mean_time_distance(h, ~obs) for h in near) < \
        np.median([_mean_time_distance(h, ~obs) for h in far]) / 2
