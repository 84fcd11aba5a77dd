"""Bad-input and fault matrix (issue 15): no silent wrong answers.

Each class of fault gets a clear error naming what was received and what was
expected, or a correct result; a failed or interrupted fit leaves the
estimator as it was before the call.
"""

import os
import signal
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError
from skorch.callbacks import Callback

from sklvar import DictionaryImputer, VariationalImputer
from sklvar.impute import TrainingInterruptedWarning
from sklvar.priors import PRIORS
from sklvar.utils import SampleCodec, resolve_layout

FAST = dict(max_epochs=3, batch_size=32, n_solver_iter=2, n_solver_iter_start=2,
            random_state=0)


def _gappy(n=64, d=6, seed=0, rate=0.2):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 2)) @ rng.normal(size=(2, d))
    X_missing = X.copy()
    X_missing[rng.uniform(size=X.shape) < rate] = np.nan
    return X, X_missing


class _CtrlC(Callback):
    """Send SIGINT to this process at the end of an epoch (a user's Ctrl-C)."""

    def __init__(self, at_epoch=2):
        self.at_epoch = at_epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.at_epoch:
            os.kill(os.getpid(), signal.SIGINT)


def _fitted_attributes(est):
    return sorted(k for k in vars(est) if k.endswith("_") and not k.startswith("_"))


# ------------------------------------------------------------ interruption
def test_interrupted_fit_raises_and_leaves_unfitted():
    _, X = _gappy()
    imp = VariationalImputer(prior="pca", callbacks=[_CtrlC(2)], **{
        **FAST, "max_epochs": 5})
    with pytest.warns(TrainingInterruptedWarning, match="epoch 2 of max_epochs=5"):
        with pytest.raises(KeyboardInterrupt):
            imp.fit(X)
    assert _fitted_attributes(imp) == []
    with pytest.raises(NotFittedError):
        imp.transform(X)


def test_interrupted_fit_keeps_model_when_asked():
    _, X = _gappy()
    imp = VariationalImputer(prior="pca", callbacks=[_CtrlC(2)],
                             keep_interrupted=True, **{**FAST, "max_epochs": 5})
    with pytest.warns(TrainingInterruptedWarning, match="keep_interrupted=True"):
        imp.fit(X)
    assert imp.interrupted_ and imp.n_iter_ == 2
    assert np.isfinite(imp.transform(X)).all()


def test_interrupted_refit_keeps_previous_model():
    _, X = _gappy()
    imp = VariationalImputer(prior="pca", **FAST).fit(X)
    before = imp.transform(X)
    net = imp.net_
    imp.set_params(callbacks=[_CtrlC(1)])
    with pytest.warns(TrainingInterruptedWarning):
        with pytest.raises(KeyboardInterrupt):
            imp.fit(X)
    assert imp.net_ is net and not imp.interrupted_
    np.testing.assert_array_equal(imp.transform(X), before)


def test_time_budget_stop_is_not_an_interrupt():
    _, X = _gappy()
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainingInterruptedWarning)
        imp = VariationalImputer(prior="pca", max_time=1e-6, **FAST).fit(X)
    assert not imp.interrupted_ and imp.n_iter_ == 1


# ------------------------------------------------------------ atomic refit
@pytest.mark.parametrize("make", [
    lambda: VariationalImputer(prior="pca", **FAST),
    lambda: DictionaryImputer(n_components=2, max_iter=5, random_state=0),
], ids=["VariationalImputer", "DictionaryImputer"])
def test_failed_refit_leaves_estimator_as_before(make):
    _, X = _gappy(d=6)
    imp = make().fit(X)
    before = imp.transform(X)
    state = dict(vars(imp))
    X_bad = np.full((10, 4), np.nan)  # other width, nothing observed
    with pytest.raises(ValueError, match="no observed entry"):
        imp.fit(X_bad)
    assert vars(imp).keys() == state.keys()
    assert all(vars(imp)[k] is v for k, v in state.items())
    np.testing.assert_array_equal(imp.transform(X), before)


def test_failed_first_fit_leaves_unfitted():
    _, X = _gappy()
    imp = VariationalImputer(prior="pca", prior_params={"bogus": 1}, **FAST)
    with pytest.raises(ValueError, match="bogus"):
        imp.fit(X)
    assert _fitted_attributes(imp) == []
    with pytest.raises(NotFittedError):
        imp.transform(X)


# --------------------------------------------------------------- divergence
def _data_for(prior):
    rng = np.random.RandomState(0)
    d = 3 if prior == "lorenz63" else 6
    X = np.cumsum(rng.normal(size=(96, d)), axis=0)
    X[rng.uniform(size=X.shape) < 0.2] = np.nan
    window = None if prior in ("pca", "ae") else 16
    return X, window


@pytest.mark.parametrize("prior", sorted(PRIORS))
def test_divergence_stops_training_for_every_prior(prior):
    X, window = _data_for(prior)
    imp = VariationalImputer(prior=prior, window=window, lr=1e3,
                             **{**FAST, "max_epochs": 6})
    with pytest.raises(FloatingPointError, match=r"diverged at epoch \d+ .*Lower lr"):
        imp.fit(X)
    assert _fitted_attributes(imp) == []


def test_divergence_of_field_prior_is_an_error(monkeypatch):
    rng = np.random.RandomState(0)
    X = np.cumsum(rng.normal(size=(80, 3)), axis=0)
    X[rng.uniform(size=X.shape) < 0.2] = np.nan
    imp = VariationalImputer(prior="field", layout="series")
    monkeypatch.setattr(VariationalImputer, "_fit_field_model",
                        lambda self, *a: None)
    with pytest.raises(FloatingPointError, match="diverged.*alpha"):
        imp.fit(X)
    assert _fitted_attributes(imp) == []


# ------------------------------------------------------------- magnitudes
@pytest.mark.parametrize("factor", [1e-13, 1e-200, 1e13, 1e300])
def test_imputation_is_scale_invariant(factor):
    _, X = _gappy()
    X[:, 3] = 1e-4  # a constant column
    X[::5, 3] = np.nan
    ref = VariationalImputer(prior="pca", **FAST).fit_transform(X)
    out = VariationalImputer(prior="pca", **FAST).fit_transform(X * factor)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out / factor, ref, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(out[:, 3] / factor, 1e-4, rtol=1e-12)


def test_constant_column_is_imputed_with_its_value():
    _, X = _gappy()
    X[:, 0] = 0.5
    X[::4, 0] = np.nan
    out = VariationalImputer(prior="pca", **FAST).fit_transform(X)
    np.testing.assert_allclose(out[:, 0], 0.5, rtol=1e-6)


def test_values_near_the_float_limit_never_report_divergence():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(40, 3)) * 1.7e308
    X[::3, 1] = np.nan
    imp = VariationalImputer(prior="pca", keep_observed=False, **FAST)
    try:
        out = imp.fit_transform(X)
    except ValueError as exc:
        assert "overflow float64" in str(exc) and "rescale X" in str(exc)
    else:
        assert np.isfinite(out).all()


@settings(max_examples=50, deadline=None)
@given(exponent=st.integers(-250, 250), seed=st.integers(0, 2**16))
def test_codec_standardisation_is_scale_free(exponent, seed):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(12, 3))
    X[:, 2] = 3.0
    observed = rng.uniform(size=X.shape) > 0.3
    observed[0] = True
    layout = resolve_layout(3, layout="vector")
    factor = 10.0**exponent
    ref = SampleCodec.fit(X, observed, layout, dtype=np.float64)
    codec = SampleCodec.fit(X * factor, observed, layout, dtype=np.float64)
    np.testing.assert_allclose(codec.standardize(X * factor, observed),
                               ref.standardize(X, observed), atol=1e-9)
    assert np.all(codec.scaling.scale > 0) and np.isfinite(codec.scaling.scale).all()


# ------------------------------------------------------------- bad inputs
def test_nan_with_other_missing_values_names_missing_values():
    _, X = _gappy()
    X = np.where(np.isnan(X), -999.0, X)
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN, but missing_values=-999"):
        VariationalImputer(prior="pca", missing_values=-999, **FAST).fit(X)


def test_object_array_with_strings_names_the_column():
    X = np.array([[1.0, "a"], [2.0, "b"], [np.nan, "c"]], dtype=object)
    with pytest.raises(ValueError, match=r"X has non-numeric entries \(columns \[1\]"):
        VariationalImputer(prior="pca", **FAST).fit(X)


# -------------------------------------------------------------- persistence
def _persist_cases():
    rng = np.random.RandomState(0)
    S = np.cumsum(rng.normal(size=(80, 3)), axis=0)
    S[rng.uniform(size=S.shape) < 0.2] = np.nan
    _, X = _gappy()
    return [
        (VariationalImputer(prior="pca", add_indicator=True, **FAST), X),
        (VariationalImputer(prior="cnn", window=16, **FAST), S),
        (VariationalImputer(prior="lorenz63", window=16, **FAST), S),
        (DictionaryImputer(n_components=2, max_iter=5, random_state=0), X),
        (VariationalImputer(layout="series"), S),
    ]


@pytest.mark.parametrize("case", range(5), ids=["pca", "cnn", "lorenz63",
                                                 "dictionary", "field"])
def test_save_load_round_trip(case, tmp_path):
    est, X = _persist_cases()[case]
    est.fit(X)
    path = tmp_path / "model.npz"
    est.save(path)
    loaded = type(est).load(path)
    assert repr(loaded) == repr(est)
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
    # the file holds no pickle: numpy refuses object arrays without allow_pickle
    with np.load(path, allow_pickle=False) as archive:
        assert all(archive[k].dtype != object for k in archive.files)


def test_save_keeps_feature_names_and_history(tmp_path):
    pd = pytest.importorskip("pandas")
    _, X = _gappy()
    df = pd.DataFrame(X, columns=[f"c{i}" for i in range(X.shape[1])])
    est = VariationalImputer(prior="pca", **FAST).fit(df)
    est.save(tmp_path / "m.npz")
    loaded = VariationalImputer.load(tmp_path / "m.npz")
    assert list(loaded.feature_names_in_) == list(df.columns)
    assert len(loaded.history_) == est.n_iter_


def test_save_refuses_unsafe_parameters(tmp_path):
    from sklvar.priors import PCAPrior

    _, X = _gappy()
    est = VariationalImputer(prior=PCAPrior, **FAST).fit(X)
    with pytest.raises(TypeError, match="parameter prior = .* cannot be saved safely"):
        est.save(tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


def test_load_checks_class_and_version(tmp_path, monkeypatch):
    import sklvar

    _, X = _gappy()
    path = tmp_path / "m.npz"
    DictionaryImputer(n_components=2, max_iter=5, random_state=0).fit(X).save(path)
    with pytest.raises(ValueError, match="holds a DictionaryImputer"):
        VariationalImputer.load(path)
    monkeypatch.setattr(sklvar, "__version__", "99.0")
    with pytest.warns(UserWarning, match="saved by sklvar .*this is sklvar 99.0"):
        DictionaryImputer.load(path)
    np.savez(tmp_path / "other.npz", x=np.zeros(2))
    with pytest.raises(ValueError, match="not a sklvar estimator file"):
        DictionaryImputer.load(tmp_path / "other.npz")


def test_pickle_still_works():
    import pickle

    _, X = _gappy()
    est = VariationalImputer(prior="pca", **FAST).fit(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).transform(X),
                                  est.transform(X))


def test_device_change_after_fit_is_honoured_or_refused():
    import torch

    _, X = _gappy()
    est = VariationalImputer(prior="pca", **FAST).fit(X)
    ref = est.transform(X)
    if torch.cuda.is_available():
        est.set_params(device="cuda")
        np.testing.assert_allclose(est.transform(X), ref, rtol=1e-4, atol=1e-5)
        assert next(est.net_.module_.parameters()).device.type == "cuda"
    else:
        est.set_params(device="cuda")
        with pytest.raises(ValueError, match="device"):
            est.transform(X)
        est.set_params(device="cpu")
        np.testing.assert_array_equal(est.transform(X), ref)


def test_interrupted_field_fit_warns_and_leaves_unfitted(monkeypatch):
    rng = np.random.RandomState(0)
    X = np.cumsum(rng.normal(size=(80, 3)), axis=0)
    X[rng.uniform(size=X.shape) < 0.2] = np.nan

    def ctrl_c(self, *args):
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(VariationalImputer, "_fit_field_model", ctrl_c)
    imp = VariationalImputer(prior="field", layout="series")
    with pytest.warns(TrainingInterruptedWarning, match="field-model fit"):
        with pytest.raises(KeyboardInterrupt):
            imp.fit(X)
    assert _fitted_attributes(imp) == []


@settings(max_examples=50, deadline=None)
@given(shape=st.tuples(st.integers(2, 6), st.integers(2, 6)),
       data=st.data())
def test_string_entries_are_named_by_column(shape, data):
    # validation only: DictionaryImputer.fit raises before any training
    n, d = shape
    col = data.draw(st.integers(0, d - 1))
    row = data.draw(st.integers(0, n - 1))
    X = np.arange(n * d, dtype=float).reshape(n, d).astype(object)
    X[row, col] = data.draw(st.text("abcxyz", min_size=1, max_size=3))
    with pytest.raises(ValueError, match=rf"columns \[{col}\]"):
        DictionaryImputer().fit(X)


@settings(max_examples=30, deadline=None)
@given(placeholder=st.sampled_from([-999.0, 0.0, -1.0, 1e9]),
       n_nan=st.integers(1, 4))
def test_nan_beside_another_placeholder_is_named(placeholder, n_nan):
    X = np.arange(24, dtype=float).reshape(6, 4) + 1.5
    X[0, 0] = placeholder
    X.flat[-n_nan:] = np.nan
    with pytest.raises(ValueError, match="X contains NaN, but missing_values="):
        DictionaryImputer(missing_values=placeholder).fit(X)


@pytest.mark.parametrize("factor", [1e-13, 1e250])
def test_series_table_is_scale_invariant(factor):
    # the field path standardises with the same codec as the neural path
    rng = np.random.RandomState(0)
    X = np.cumsum(rng.normal(size=(80, 3)), axis=0)
    X[:, 2] = 7.0  # a constant series
    X[rng.uniform(size=X.shape) < 0.2] = np.nan
    ref = VariationalImputer(layout="series", random_state=0).fit_transform(X)
    out = VariationalImputer(layout="series", random_state=0).fit_transform(
        X * factor)
    np.testing.assert_allclose(out / factor, ref, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(out[:, 2] / factor, 7.0, rtol=1e-12)
