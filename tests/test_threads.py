"""Thread counts of the estimators (``n_threads``, issue 19).

The autouse seed fixture sets one torch thread; each test here sets the
"caller's" count to 2 first, so that setting and restoring are both visible.
"""

import re

import numpy as np
import pytest
import torch
from sklearn.utils._param_validation import InvalidParameterError
from skorch.callbacks import Callback

from sklvar import DictionaryImputer, VariationalImputer
from sklvar.utils import blas_threads, check_n_threads
from sklvar.utils._torch import torch_threads

CALLER = 2  # the caller's torch thread count in these tests


@pytest.fixture(autouse=True)
def _caller_threads():
    torch.set_num_threads(CALLER)
    yield
    torch.set_num_threads(1)


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 2)) @ rng.normal(size=(2, 6))
    X[rng.uniform(size=X.shape) < 0.2] = np.nan
    return X


def _cheap(**kw):
    params = dict(prior="pca", solver="gd", max_epochs=1, batch_size=16,
                  n_solver_iter=2, n_solver_iter_start=1, random_state=0)
    params.update(kw)
    return VariationalImputer(**params)


def _spy_threads(imp, seen, fail=False):
    """Record torch's thread count whenever imp runs torch (after fit)."""
    run_batches = imp._run_batches

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        if fail:
            raise RuntimeError("boom")
        return run_batches(*args, **kwargs)

    imp._run_batches = spy


# ---------------------------------------------------------------- torch_threads
def test_torch_threads_sets_then_restores():
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == CALLER


def test_torch_threads_restores_after_an_exception():
    with pytest.raises(RuntimeError, match="boom"):
        with torch_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError("boom")
    assert torch.get_num_threads() == CALLER


def test_torch_threads_none_leaves_the_count_and_undoes_changes_inside():
    with torch_threads(None):
        assert torch.get_num_threads() == CALLER
        torch.set_num_threads(1)
    assert torch.get_num_threads() == CALLER


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_n_threads_raise_value_error(bad):
    message = ("n_threads must be None (leave the thread count as it is) or an "
               f"int >= 1, got {bad!r}.")
    with pytest.raises(ValueError, match=re.escape(message)):
        check_n_threads(bad)
    with pytest.raises(ValueError, match=re.escape(message)):
        with torch_threads(bad):
            pass  # pragma: no cover
    assert torch.get_num_threads() == CALLER


# ------------------------------------------------------------ VariationalImputer
class _RecordThreads(Callback):
    """A skorch callback recording torch's thread count during training."""

    def __init__(self, seen):
        self.seen = seen

    def on_epoch_end(self, net, **kwargs):
        self.seen.append(torch.get_num_threads())

    def __deepcopy__(self, memo):  # the estimator deep-copies its callbacks
        return self


@pytest.mark.parametrize("n_threads, inside", [(1, 1), (None, CALLER)])
def test_variational_applies_n_threads_in_every_call_and_restores(
    data, n_threads, inside
):
    fit_seen, seen = [], []
    imp = _cheap(n_threads=n_threads, callbacks=[("record", _RecordThreads(fit_seen))])
    imp.fit(data)
    assert fit_seen == [inside]
    assert torch.get_num_threads() == CALLER
    _spy_threads(imp, seen)
    imp.transform(data)
    imp.score(data)
    imp.project(np.nan_to_num(data))
    assert seen and set(seen) == {inside}
    assert torch.get_num_threads() == CALLER


def test_variational_fit_transform_applies_n_threads(data):
    fit_seen = []
    imp = _cheap(n_threads=1, callbacks=[("record", _RecordThreads(fit_seen))])
    imp.fit_transform(data)
    assert fit_seen == [1]
    assert torch.get_num_threads() == CALLER


def test_variational_restores_threads_when_fit_raises(data):
    # the error is raised inside fit, after the thread count was set
    imp = _cheap(n_threads=1, prior_params={"bogus": 1})
    with pytest.raises(ValueError, match="are not accepted by PCAPrior"):
        imp.fit(data)
    assert torch.get_num_threads() == CALLER


def test_variational_restores_threads_when_transform_raises(data):
    imp = _cheap(n_threads=1).fit(data)
    seen = []
    _spy_threads(imp, seen, fail=True)
    for call in (lambda: imp.transform(data), lambda: imp.score(data),
                 lambda: imp.project(np.nan_to_num(data))):
        with pytest.raises(RuntimeError, match="boom"):
            call()
        assert torch.get_num_threads() == CALLER
    assert seen == [1, 1, 1]


def test_n_threads_is_validated_at_fit(data):
    with pytest.raises(InvalidParameterError, match=re.escape(
        "The 'n_threads' parameter of VariationalImputer must be an int in the "
        "range [1, inf) or None. Got 0 instead."
    )):
        _cheap(n_threads=0).fit(data)
    assert torch.get_num_threads() == CALLER


def test_n_threads_changed_after_fit_is_validated_at_transform(data):
    imp = _cheap().fit(data).set_params(n_threads=-1)
    with pytest.raises(ValueError, match=re.escape(
        "n_threads must be None (leave the thread count as it is) or an int "
        ">= 1, got -1."
    )):
        imp.transform(data)
    assert torch.get_num_threads() == CALLER


def test_default_is_one_thread():
    assert VariationalImputer().n_threads == 1
    assert DictionaryImputer().n_threads == 1


# ------------------------------------------------------------- DictionaryImputer
def _blas_counts():
    from threadpoolctl import threadpool_info

    return [lib["num_threads"] for lib in threadpool_info()
            if lib["user_api"] == "blas"]


def test_blas_threads_sets_then_restores_also_after_an_exception():
    if not _blas_counts():
        pytest.skip("no BLAS library found by threadpoolctl")
    with blas_threads(2):
        before = _blas_counts()
        with pytest.raises(RuntimeError, match="boom"):
            with blas_threads(1):
                assert set(_blas_counts()) == {1}
                raise RuntimeError("boom")
        assert _blas_counts() == before
        with blas_threads(None):
            assert _blas_counts() == before


def test_dictionary_limits_blas_threads_in_fit_and_transform(data, monkeypatch):
    if not _blas_counts():
        pytest.skip("no BLAS library found by threadpoolctl")
    seen = []
    code_decode = DictionaryImputer._code_decode

    def spy(self, *args, **kwargs):
        seen.append(set(_blas_counts()))
        return code_decode(self, *args, **kwargs)

    monkeypatch.setattr(DictionaryImputer, "_code_decode", spy)
    with blas_threads(2):
        before = _blas_counts()
        imp = DictionaryImputer(n_components=3, max_iter=1, n_refine_iter=1,
                                random_state=0, n_threads=1)
        imp.fit(data)  # one refinement: a coding inside fit
        assert _blas_counts() == before
        imp.transform(data)
        imp.score(data)
        assert _blas_counts() == before
    # one refinement in fit, the calibration's imputations of hidden entries
    # (also in fit), transform, score
    n_calls = 3 + DictionaryImputer._calibration_draws
    assert len(seen) == n_calls and all(s == {1} for s in seen)


def test_energy_path_of_an_imputer_uses_its_n_threads(data):
    from sklvar.diagnostics import energy_path

    imp = _cheap(n_threads=1).fit(data)
    module, seen = imp.net_.module_, []
    forward = module.forward

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return forward(*args, **kwargs)

    module.forward = spy
    energy_path(imp, data, n_iter=2)
    assert seen == [1]
    assert torch.get_num_threads() == CALLER


def test_batches_spread_over_threads_give_the_serial_result():
    """With n_threads >= 2 on the CPU the batches of a transform run in that
    many Python threads of one torch thread each: the same numbers as one
    thread, and the caller's thread count afterwards."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(600, 3)).cumsum(0)
    X[rng.uniform(size=X.shape) < 0.3] = np.nan
    imp = VariationalImputer(prior="cnn", solver="lstm", window=40, max_epochs=1,
                             batch_size=4, n_solver_iter=3, random_state=0,
                             n_threads=1).fit(X)
    ref = imp.transform(X)
    seen = []
    inner = imp._run_batches.__func__

    def spy(self, fn, *arrays):
        def recording(*batch):
            seen.append(torch.get_num_threads())
            return fn(*batch)
        return inner(self, recording, *arrays)

    imp._run_batches = spy.__get__(imp)
    imp.set_params(n_threads=2)
    out = imp.transform(X)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-6)
    assert len(seen) > 2 and set(seen) == {1}  # one torch thread per batch
    assert torch.get_num_threads() == CALLER
