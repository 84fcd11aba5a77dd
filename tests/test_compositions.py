"""Every prior with every solver: shapes, finiteness and gradient flow."""

import numpy as np
import pytest
import torch

from sklvar.energy import VariationalCost
from sklvar.model import VariationalModel
from sklvar.priors import PRIORS
from sklvar.solvers import SOLVERS
from sklvar.utils import SampleLayout, Standardization


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Run torch on one thread: on a busy 2-core machine, 2 torch threads can
    be several times slower than one (benchmarks/SPEED.md)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# Tiny sample shapes of the right layout for each prior, with extra prior
# options; a prior may be listed with several layouts.
CASES = {
    "ae": [((6,), {})],
    "pca": [((6,), {"n_components": 3})],
    "cnn": [
        ((3, 10), {"n_hidden": 6, "n_channels": 4}),
        ((1, 6, 7), {"n_hidden": 4, "n_channels": 3}),
        ((1, 8, 6), {"n_hidden": 4, "n_channels": 3, "periodic_axes": (0,)}),
    ],
    "lorenz63": [((3, 9), {"mean": [0.0, 0.0, 23.0], "scale": [8.0, 9.0, 8.5]}),
                 ((3, 9), {"direction": "both"})],
    "lorenz96": [((8, 6), {"mean": 2.0, "scale": 3.5}), ((1, 8, 6), {})],
    "bilinear_ode": [((3, 9), {}), ((4, 9), {"rank": 2})],
}


def _cases():
    missing = sorted(set(PRIORS) - set(CASES))
    if missing:  # a new prior must say which sample shape it takes
        raise AssertionError(f"add a sample shape for priors {missing} to CASES")
    for name in sorted(PRIORS):
        for shape, params in CASES[name]:
            yield pytest.param(name, shape, params, id=f"{name}-{shape}")


_KINDS = {1: "vector", 2: "series", 3: "image"}
_SCALING = Standardization(np.zeros(1), np.ones(1))


def _model(prior_name, solver_name, shape, params):
    # the build protocol of the estimators (priors/_base.py, solvers/_base.py)
    layout = SampleLayout(_KINDS[len(shape)], shape)
    prior = PRIORS[prior_name].build(layout, _SCALING, **params)
    solver = SOLVERS[solver_name].build(layout, prior)
    # the fixed-point solver never evaluates the cost, so the weights of its
    # two terms would get no gradient: keep them fixed there
    cost = VariationalCost(prior, learn_lambdas=solver_name != "fixed_point")
    init = "linear" if len(shape) >= 2 else "mean"
    return VariationalModel(cost, solver, n_iter=2, init=init)


@pytest.mark.parametrize("solver_name", sorted(SOLVERS))
@pytest.mark.parametrize(("prior_name", "shape", "params"), list(_cases()))
def test_prior_solver_composition(prior_name, shape, params, solver_name):
    torch.manual_seed(0)
    model = _model(prior_name, solver_name, shape, params)
    x_true = torch.randn(4, *shape)
    observed = torch.rand(4, *shape) < 0.6
    observed.view(4, -1)[:, 0] = True
    y = torch.where(observed, x_true + 0.1 * torch.randn_like(x_true), 0.0)
    model.prior.initialize_from_data(x_true)
    model.train()

    x_hat = model(y, observed)

    assert x_hat.shape == x_true.shape
    assert torch.isfinite(x_hat).all()
    loss = ((x_hat - x_true) ** 2).mean()
    loss = loss + 0.05 * ((x_hat - model.prior(x_hat)) ** 2).mean()
    loss.backward()
    no_grad = [name for name, p in model.named_parameters()
               if p.requires_grad and p.grad is None]
    assert not no_grad, f"no gradient reaches {no_grad}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters()
               if p.grad is not None)


@pytest.mark.parametrize(("prior_name", "shape", "params"), list(_cases()))
def test_prior_keeps_shape_in_eval(prior_name, shape, params):
    """The LSTM solver at inference (detached iterations) with every prior."""
    torch.manual_seed(0)
    model = _model(prior_name, "lstm", shape, params).eval()
    y = torch.randn(3, *shape)
    observed = torch.rand(3, *shape) < 0.5
    with torch.no_grad():
        x_hat = model(y, observed)
    assert x_hat.shape == y.shape
    assert torch.isfinite(x_hat).all()
    assert not x_hat.requires_grad
