import pickle
import re

import numpy as np
import pytest
import torch
from conftest import low_rank
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklvar import VariationalImputer


def _cheap(**kw):
    params = dict(prior="pca", solver="lstm", max_epochs=2, batch_size=32,
                  n_solver_iter=3, random_state=0)
    params.update(kw)
    return VariationalImputer(**params)


def test_fit_transform_shapes_and_observed_kept(gappy):
    _, X_missing = gappy
    X_before = X_missing.copy()
    out = _cheap().fit_transform(X_missing)
    assert out.shape == X_missing.shape
    assert np.isfinite(out).all()
    observed = ~np.isnan(X_missing)
    np.testing.assert_array_equal(out[observed], X_missing[observed])
    np.testing.assert_array_equal(np.isnan(X_missing), np.isnan(X_before))
    np.testing.assert_array_equal(X_missing[observed], X_before[observed])


def test_keep_observed_false_denoises(gappy):
    _, X_missing = gappy
    out = _cheap(keep_observed=False).fit_transform(X_missing)
    observed = ~np.isnan(X_missing)
    assert not np.allclose(out[observed], X_missing[observed])


def test_explicit_mask_equals_nan_mask(gappy):
    _, X_missing = gappy
    observed = ~np.isnan(X_missing)
    X_zero = np.where(observed, X_missing, 0.0)
    a = _cheap().fit(X_missing).transform(X_missing)
    b = _cheap().fit(X_zero, mask=observed).transform(X_zero, mask=observed)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_missing_values_placeholder():
    X, X_missing = low_rank(n_samples=60)
    X_ph = np.where(np.isnan(X_missing), -999.0, X_missing)
    a = _cheap().fit_transform(X_missing)
    b = _cheap(missing_values=-999.0).fit_transform(X_ph)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_same_random_state_same_output(gappy):
    # (e)
    _, X_missing = gappy
    for solver in ("lstm", "gd"):
        a = _cheap(solver=solver, prior="ae").fit_transform(X_missing)
        b = _cheap(solver=solver, prior="ae").fit_transform(X_missing)
        np.testing.assert_array_equal(a, b)
    c = _cheap(prior="ae", random_state=1).fit_transform(X_missing)
    assert not np.array_equal(a, c)


def test_fit_does_not_touch_global_torch_rng(gappy):
    _, X_missing = gappy
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    _cheap().fit(X_missing)
    torch.testing.assert_close(torch.rand(3), expected)


def test_supervised_fit_beats_untrained_and_ignores_1d_y():
    X, X_missing = low_rank(n_samples=200, n_features=10, rank=2, missing_rate=0.3,
                            noise=0.01)
    missing = np.isnan(X_missing)
    imp = _cheap(prior="ae", max_epochs=30, lr=3e-3, batch_size=100)
    err_sup = np.mean((imp.fit(X_missing, X).transform(X_missing) - X)[missing] ** 2)
    err_mean = np.mean((np.nanmean(X_missing, 0) - X)[missing] ** 2)
    assert err_sup < 0.5 * err_mean
    # a 1-D y (a downstream target in a Pipeline) is ignored: self-supervised
    a = _cheap().fit(X_missing, np.arange(len(X))).transform(X_missing)
    b = _cheap().fit(X_missing).transform(X_missing)
    np.testing.assert_array_equal(a, b)


def test_self_supervised_training_reduces_error():
    X, X_missing = low_rank(n_samples=300, n_features=10, rank=2, missing_rate=0.3)
    missing = np.isnan(X_missing)
    errs = []
    for epochs in (0, 25):
        imp = _cheap(prior="ae", max_epochs=epochs, lr=3e-3, batch_size=100)
        errs.append(np.mean((imp.fit_transform(X_missing) - X)[missing] ** 2))
    assert errs[1] < 0.7 * errs[0], errs


def test_score_without_and_with_labels(gappy):
    X, X_missing = gappy
    imp = _cheap(prior="ae", max_epochs=5, lr=3e-3, batch_size=60).fit(X_missing)
    s1, s2 = imp.score(X_missing), imp.score(X_missing)
    assert s1 == s2 and np.isfinite(s1) and s1 < 0
    s_true = imp.score(X_missing, X)
    assert np.isfinite(s_true) and s_true < 0
    with pytest.raises(ValueError, match="no missing entry"):
        imp.score(X, X)


def test_project_applies_prior(gappy):
    X, X_missing = gappy
    imp = _cheap(prior="pca", prior_params={"n_components": 2}, joint=False).fit(X, X)
    np.testing.assert_allclose(imp.project(X), X, atol=1e-4)
    with pytest.raises(ValueError, match="complete states"):
        imp.project(X_missing)


def test_clone_get_set_params_and_pickle(fitted_lstm, gappy):
    _, X_missing = gappy
    params = fitted_lstm.get_params()
    assert params["prior"] == "pca" and params["n_solver_iter"] == 3
    c = clone(fitted_lstm).set_params(lambda_prior=0.3, n_solver_iter=4)
    assert c.lambda_prior == 0.3 and not hasattr(c, "net_")
    before = fitted_lstm.transform(X_missing)
    loaded = pickle.loads(pickle.dumps(fitted_lstm))
    np.testing.assert_array_equal(loaded.transform(X_missing), before)


def test_transform_under_no_grad(fitted_lstm, gappy):
    _, X_missing = gappy
    a = fitted_lstm.transform(X_missing)
    with torch.no_grad():
        b = fitted_lstm.transform(X_missing)
    np.testing.assert_array_equal(a, b)


def test_transform_of_one_row_equals_batch(fitted_lstm, gappy):
    # per-sample normalisation: a sample's result does not depend on its batch
    _, X_missing = gappy
    full = fitted_lstm.transform(X_missing)
    for i in (0, 5, 17):
        np.testing.assert_allclose(fitted_lstm.transform(X_missing[i:i + 1]),
                                   full[i:i + 1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layout, shape", [("series", (3, 24)), ("image", (12, 12))])
def test_cnn_transform_of_one_sample_equals_batch(layout, shape):
    # the optimised 2S-CNN path (hand-written VJP, channels-last convolutions,
    # no graph at inference) keeps every sample independent of its batch
    rng = np.random.RandomState(0)
    X = rng.normal(size=(20, int(np.prod(shape))))
    X[rng.uniform(size=X.shape) < 0.4] = np.nan
    imp = VariationalImputer(prior="cnn", solver="lstm", sample_shape=shape,
                             layout=layout, max_epochs=1, batch_size=8,
                             n_solver_iter=3, random_state=0,
                             prior_params={"n_hidden": 6, "n_channels": 4}).fit(X)
    full = imp.transform(X)
    for i in (0, 13):
        np.testing.assert_allclose(imp.transform(X[i:i + 1]), full[i:i + 1],
                                   rtol=1e-4, atol=1e-5)


def test_user_callbacks_run_and_are_copied(gappy):
    from skorch.callbacks import Callback, LRScheduler

    class Count(Callback):
        def initialize(self):
            self.epochs = 0
            return self

        def on_epoch_end(self, net, **kwargs):
            self.epochs += 1

    _, X_missing = gappy
    counter = Count()
    sched = ("lr", LRScheduler("StepLR", step_size=1, gamma=0.5))
    imp = _cheap(max_epochs=3, callbacks=[counter, sched]).fit(X_missing)
    user = [cb for name, cb in imp.net_.callbacks_ if isinstance(cb, Count)]
    assert len(user) == 1 and user[0].epochs == 3
    assert not hasattr(counter, "epochs")  # the parameter itself is not touched
    for group in imp.net_.optimizer_.param_groups:  # halved after each epoch
        assert np.isclose(group["lr"], group["initial_lr"] * 0.5**3)
    with pytest.raises(ValueError, match="callbacks must hold skorch callbacks"):
        _cheap(callbacks=["print"]).fit(X_missing)


@pytest.mark.parametrize("kind", ["variational", "dictionary"])
def test_add_indicator_appends_missing_only_columns(kind):
    from sklvar import DictionaryImputer

    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 4))
    X[rng.uniform(size=X.shape) < 0.2] = np.nan
    X[:, 2] = rng.normal(size=30)  # never missing: no indicator column
    mask = ~np.isnan(X)
    mask[0, 2] = False  # a mask can mark an entry of a number as missing
    if kind == "variational":
        imp = _cheap(max_epochs=1, add_indicator=True)
    else:
        imp = DictionaryImputer(n_components=3, add_indicator=True, random_state=0)
    out = imp.fit(X, mask=mask).transform(X, mask=mask)
    assert out.shape == (30, 8)
    np.testing.assert_array_equal(out[:, 4:], (~mask).astype(float))
    assert not np.isnan(out).any()
    assert list(imp.get_feature_names_out()) == [
        "x0", "x1", "x2", "x3", "missingindicator_x0", "missingindicator_x1",
        "missingindicator_x2", "missingindicator_x3"]
    # the columns are those with a missing entry at fit time
    imp.fit(X)
    assert imp.transform(X).shape == (30, 7)
    assert "missingindicator_x2" not in imp.get_feature_names_out()
    # without add_indicator, nothing is appended
    assert imp.set_params(add_indicator=False).fit(X).transform(X).shape == (30, 4)


def test_pipeline_and_grid_search_without_labels(gappy):
    _, X_missing = gappy
    pipe = Pipeline([("scale", StandardScaler()), ("impute", _cheap())])
    out = pipe.fit_transform(X_missing)
    assert np.isfinite(out).all()
    search = GridSearchCV(
        _cheap(max_epochs=1),
        {"lambda_prior": [0.1, 1.0], "n_solver_iter": [2, 4]}, cv=2,
    ).fit(X_missing)
    assert set(search.best_params_) == {"lambda_prior", "n_solver_iter"}
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_pandas_output_keeps_columns_and_index(gappy):
    pd = pytest.importorskip("pandas")
    _, X_missing = gappy
    df = pd.DataFrame(X_missing, columns=[f"c{i}" for i in range(X_missing.shape[1])],
                      index=pd.date_range("2024-01-01", periods=len(X_missing),
                                          freq="h"))
    imp = _cheap().set_output(transform="pandas")
    out = imp.fit_transform(df)
    assert list(out.columns) == list(df.columns)
    assert out.index.equals(df.index)
    assert not out.isna().any().any()
    np.testing.assert_array_equal(imp.get_feature_names_out(), df.columns)


def test_mask_routed_through_pipeline(gappy):
    import sklearn

    _, X_missing = gappy
    observed = ~np.isnan(X_missing)
    X_zero = np.where(observed, X_missing, 0.0)
    with sklearn.config_context(enable_metadata_routing=True):
        imp = _cheap().set_fit_request(mask=True).set_transform_request(mask=True)
        pipe = Pipeline([("impute", imp)])
        out = pipe.fit(X_zero, mask=observed).transform(X_zero, mask=observed)
    ref = _cheap().fit(X_missing).transform(X_missing)
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)


def test_float32_preserved(gappy):
    _, X_missing = gappy
    out = _cheap().fit_transform(X_missing.astype(np.float32))
    assert out.dtype == np.float32


def test_image_layout_uses_2d_lstm():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(20, 36))
    X[rng.uniform(size=X.shape) < 0.2] = np.nan
    imp = _cheap(sample_shape=(6, 6), layout="image").fit(X)
    assert imp.layout_.kind == "image" and imp.layout_.shape == (1, 6, 6)
    assert isinstance(imp.net_.module_.solver.cell.gates, torch.nn.Conv2d)
    assert np.isfinite(imp.transform(X)).all()


# ---------------------------------------------------------------- bad input
BAD_PARAMS = [
    ({"prior": "nope"}, "'prior' parameter of VariationalImputer must be"),
    ({"solver": "adam"}, "'solver' parameter of VariationalImputer must be"),
    ({"lambda_prior": -1.0}, "'lambda_prior' parameter of VariationalImputer must be"
                             " a float in the range [0.0, inf). Got -1.0"),
    ({"lambda_obs": -0.5}, "'lambda_obs' parameter"),
    ({"n_solver_iter": 0}, "'n_solver_iter' parameter of VariationalImputer must be"
                           " an int in the range [1, inf). Got 0"),
    ({"loss_weights": (1.0, -1.0, 0.0)}, "loss_weights must be 3 finite"),
    ({"prior_params": {"n_layers": 3}},
     "prior_params={'n_layers': 3} are not accepted"),
    ({"sample_shape": (3, 3)}, "sample_shape=(3, 3) holds 9 entries but X has 8"),
    ({"device": "cuda:0"} if not torch.cuda.is_available() else {"device": "bogus"},
     "device="),
]


@pytest.mark.parametrize("params, message", BAD_PARAMS,
                         ids=[next(iter(p)) for p, _ in BAD_PARAMS])
def test_bad_parameters_raise_value_error(gappy, params, message):
    _, X_missing = gappy
    with pytest.raises(ValueError, match=re.escape(message)):
        _cheap(**params).fit(X_missing)


def test_bad_inputs_raise_value_error(gappy, fitted_lstm):
    _, X_missing = gappy
    observed = ~np.isnan(X_missing)
    with pytest.raises(ValueError, match=re.escape("mask must have the shape of X")):
        _cheap().fit(X_missing, mask=observed[:, :3])
    with pytest.raises(ValueError, match="mask must be a boolean array.*float64"):
        _cheap().fit(X_missing, mask=observed.astype(float))
    X_inf = X_missing.copy()
    X_inf[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        _cheap().fit(X_inf)
    with pytest.raises(ValueError, match="X has 5 features, but VariationalImputer is "
                                         "expecting 8 features"):
        fitted_lstm.transform(X_missing[:, :5])
    with pytest.raises(ValueError, match="X has no observed entry"):
        _cheap().fit(np.full((4, 3), np.nan))
    with pytest.raises(ValueError, match="mask marks entries as observed where X"):
        _cheap().fit(X_missing, mask=np.ones_like(observed))
    with pytest.raises(ValueError, match=re.escape("y must be None, a 1-D target")):
        _cheap().fit(X_missing, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="y .* must be finite"):
        _cheap().fit(X_missing, X_missing)


def test_cuda_device_rejected_without_cuda(gappy):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available")
    _, X_missing = gappy
    with pytest.raises(ValueError, match="device='cuda' was requested but CUDA is not"):
        _cheap(device="cuda").fit(X_missing)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("solver", ["lstm", "gd", "fixed_point"])
def test_cuda_matches_cpu(gappy, solver):
    _, X_missing = gappy
    cpu = _cheap(solver=solver).fit(X_missing)
    gpu = _cheap(solver=solver, device="cuda").fit(X_missing)
    assert next(gpu.net_.module_.parameters()).device.type == "cuda"
    out = gpu.transform(X_missing)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, cpu.transform(X_missing), rtol=1e-2, atol=1e-2)


def test_verbose_prints_epoch_log_and_progress(gappy, capsys):
    _, X_missing = gappy
    _cheap(max_epochs=2, verbose=1).fit(X_missing)
    captured = capsys.readouterr()
    assert "n_solver_iter" in captured.out and "train_loss" in captured.out
    assert "it/s" in captured.err  # the progress bar
    _cheap(max_epochs=1, verbose=0).fit(X_missing)
    captured = capsys.readouterr()
    assert captured.out == "" and "it/s" not in captured.err


def test_non_numeric_columns_and_bad_stride_named():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": [1.0, np.nan, 2.0], "site": ["x", "y", "z"]})
    with pytest.raises(ValueError, match=re.escape("non-numeric columns ['site']")):
        _cheap().fit(df)
    X = np.random.RandomState(0).normal(size=(50, 2))
    with pytest.raises(ValueError, match="stride=30 is larger than window=10"):
        _cheap(window=10, stride=30).fit(X)
