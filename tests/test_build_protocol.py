"""The build protocol: every prior and solver, by name, by class or as an instance.

``Prior.build(layout, scaling, **params)`` / ``Solver.build(layout, prior,
**params)`` construct; ``bind`` adapts a copy of an instance. A prior written
by a user (the subclass below, as in the user guide) works with every solver
and layout without touching sklvar.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sklvar import VariationalImputer
from sklvar.datasets import make_lorenz63
from sklvar.priors import Lorenz63Prior, PCAPrior, Prior
from sklvar.solvers import SOLVERS, LSTMSolver, Solver


class SmoothingPrior(Prior):
    """Phi(x): a learnable filter along the last axis of the sample (time)."""

    def __init__(self, shape, *, width=3):
        super().__init__()
        self.shape = tuple(shape)
        self.width = int(width)
        self.weight = nn.Parameter(torch.full((self.width,), 1.0 / self.width))
        self.scaling = None

    def bind(self, layout, scaling):
        self.scaling = scaling  # the estimator's standardisation, if needed
        return self

    def forward(self, x):
        rows = x.reshape(-1, 1, x.shape[-1])
        pad = self.width // 2
        rows = F.pad(rows, (pad, pad), mode="replicate")
        return F.conv1d(rows, self.weight.view(1, 1, -1)).reshape(x.shape)


class DampedFixedPoint(Solver):
    """A user solver: relax towards Phi(x) on the missing entries."""

    def __init__(self, *, weight=0.5):
        super().__init__()
        self.weight = weight

    def update(self, cost, x, y, observed_mask, state):
        x = (1 - self.weight) * x + self.weight * cost.prior(x)
        return torch.where(observed_mask, y, x), state


def _data(layout):
    """(X with NaN, estimator keywords) of a small data set for a layout."""
    rng = np.random.RandomState(0)
    t = np.arange(16 * 24)
    series = np.stack([np.sin(t / 7.0), np.cos(t / 11.0), np.sin(t / 5.0)], 1)
    series = series + 0.05 * rng.randn(*series.shape)
    if layout == "vector":
        X, kw = series.reshape(-1, 6), {}
    elif layout == "windows":
        X, kw = series, {"window": 16}
    elif layout == "series":  # 24 samples (3, 16), one per row
        X = series.reshape(24, 16, 3).transpose(0, 2, 1).reshape(24, -1)
        kw = {"sample_shape": (3, 16), "layout": "series"}
    else:  # images (6, 8)
        X, kw = series.reshape(-1, 48), {"sample_shape": (6, 8), "layout": "image"}
    X = X.copy()
    X[rng.uniform(size=X.shape) < 0.25] = np.nan
    return X, kw


LAYOUTS = ["vector", "windows", "series", "image"]
SOLVER_CHOICES = sorted(SOLVERS) + [DampedFixedPoint]


def _fast(**kw):
    return VariationalImputer(max_epochs=1, batch_size=16, n_solver_iter=2,
                              n_solver_iter_start=1, random_state=0, **kw)


@pytest.mark.parametrize("solver", SOLVER_CHOICES,
                         ids=lambda s: s if isinstance(s, str) else s.__name__)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_user_prior_class_works_with_every_solver_and_layout(layout, solver):
    X, kw = _data(layout)
    imp = _fast(prior=SmoothingPrior, solver=solver, prior_params={"width": 5}, **kw)
    X_hat = imp.fit_transform(X)
    assert np.isfinite(X_hat).all()
    observed = ~np.isnan(X)
    np.testing.assert_array_equal(X_hat[observed], X[observed])
    prior = imp.net_.module_.prior
    assert isinstance(prior, SmoothingPrior) and prior.width == 5
    assert prior.shape == imp.layout_.shape
    np.testing.assert_array_equal(prior.scaling.mean, imp.codec_.scaling.mean)
    assert imp.project(np.nan_to_num(X)).shape == X.shape


@pytest.mark.parametrize("layout", LAYOUTS)
def test_user_prior_instance_is_copied_and_bound(layout):
    X, kw = _data(layout)
    shape = _fast(**kw).fit(X).layout_.shape
    given = SmoothingPrior(shape)
    imp = _fast(prior=given, solver="lstm", **kw).fit(X)
    used = imp.net_.module_.prior
    assert used is not given and given.scaling is None  # the user's is untouched
    assert used.scaling is not None
    # the same model as the class given by name-free construction
    by_class = _fast(prior=SmoothingPrior, solver="lstm", **kw).fit(X)
    np.testing.assert_allclose(imp.transform(X), by_class.transform(X), rtol=1e-6)


def _lorenz63():
    data = make_lorenz63(n_train=24, n_test=4, window=50, n_steps=3000,
                         train_range=(0, 2000), test_range=(2000, 3000), sampling=4,
                         random_state=0)
    return data.y_train.reshape(24, -1), data.X_train.reshape(24, -1)


L63 = dict(sample_shape=(3, 50), layout="series", solver="gd", max_epochs=0,
           random_state=0)


def test_prior_instance_gets_the_physical_scaling():
    """Non-regression test for issue 13: a Lorenz63Prior instance ran its RK4
    step on standardised values as if they were physical (the estimator gave
    the standardisation only to priors given by name)."""
    X_true, X = _lorenz63()
    kw = dict(L63, joint=False, keep_observed=False)
    by_name = VariationalImputer(prior="lorenz63", **kw).fit(X, X_true)
    instance = VariationalImputer(prior=Lorenz63Prior((3, 50)), **kw).fit(X, X_true)
    scaling = instance.codec_.scaling
    prior = instance.net_.module_.prior
    np.testing.assert_allclose(prior.mean.numpy().ravel(), scaling.mean, rtol=1e-6)
    np.testing.assert_allclose(prior.scale.numpy().ravel(), scaling.scale, rtol=1e-6)
    np.testing.assert_allclose(instance.transform(X), by_name.transform(X), rtol=1e-6)
    np.testing.assert_allclose(instance.project(X_true), by_name.project(X_true),
                               rtol=1e-6)
    # Phi of the true states is one RK4 step: far closer to them than before
    residual = np.mean((instance.project(X_true) - X_true) ** 2)
    assert residual < 1e-3 * X_true.var()


def test_explicit_scaling_of_an_instance_is_kept():
    X_true, X = _lorenz63()
    prior = Lorenz63Prior((3, 50), mean=[0.0, 0.0, 0.0], scale=1.0)
    imp = VariationalImputer(prior=prior, **L63).fit(X, X_true)
    assert float(imp.net_.module_.prior.scale.max()) == 1.0


def test_lstm_takes_the_periodic_axes_of_the_prior_by_name_and_as_instance():
    X = np.random.RandomState(0).randn(12, 48)
    kw = dict(prior="cnn", prior_params={"periodic_axes": (0,), "n_hidden": 4,
                                         "n_channels": 3},
              sample_shape=(6, 8), layout="image", max_epochs=0, random_state=0)
    by_name = VariationalImputer(solver="lstm", **kw).fit(X)
    instance = VariationalImputer(solver=LSTMSolver((1, 6, 8)), **kw).fit(X)
    fixed = VariationalImputer(solver=LSTMSolver((1, 6, 8), periodic_axes=()),
                               **kw).fit(X)
    assert by_name.net_.module_.solver.cell.periodic_axes == (0,)
    assert instance.net_.module_.solver.cell.periodic_axes == (0,)
    assert fixed.net_.module_.solver.cell.periodic_axes == ()


def test_params_of_an_instance_and_foreign_classes_are_rejected():
    X = np.random.RandomState(0).randn(20, 4)
    with pytest.raises(ValueError, match="only apply to a prior given by name"):
        VariationalImputer(prior=PCAPrior((4,)), prior_params={"n_components": 2},
                           max_epochs=0).fit(X)
    with pytest.raises(ValueError, match="not a subclass of sklvar.solvers.Solver"):
        VariationalImputer(prior="pca", solver=PCAPrior, max_epochs=0).fit(X)
    with pytest.raises(ValueError, match="are not accepted by SmoothingPrior"):
        VariationalImputer(prior=SmoothingPrior, prior_params={"size": 2},
                           max_epochs=0).fit(X)


def test_builtin_solvers_are_built_without_a_shape():
    # GD and fixed point take no sample shape; the LSTM reads it in build
    from sklvar.utils import SampleLayout, Standardization

    layout = SampleLayout("series", (3, 10))
    prior = SmoothingPrior.build(layout, Standardization(np.zeros(3), np.ones(3)))
    for name, cls in SOLVERS.items():
        solver = cls.build(layout, prior)
        assert isinstance(solver, cls), name


def test_classes_as_parameters_clone_and_pickle():
    import pickle

    from sklearn.base import clone

    X, kw = _data("windows")
    imp = _fast(prior=SmoothingPrior, solver=DampedFixedPoint, **kw)
    twin = clone(imp)
    assert twin.prior is SmoothingPrior and twin.solver is DampedFixedPoint
    fitted = twin.fit(X)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(again.transform(X), fitted.transform(X))
