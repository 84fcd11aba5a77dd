import numpy as np
import pytest
import torch

from sklvar.energy import VariationalCost
from sklvar.priors import AutoEncoderPrior, PCAPrior


def _pca_cost(n_features=6, k=2, lambda_obs=0.7, lambda_prior=1.3, seed=0):
    torch.manual_seed(seed)
    prior = PCAPrior((n_features,), n_components=k).double()
    data = torch.randn(40, k, dtype=torch.float64) @ torch.randn(k, n_features,
                                                                 dtype=torch.float64)
    prior.initialize_from_data(data + 0.1 * torch.randn_like(data))
    cost = VariationalCost(prior, lambda_obs=lambda_obs, lambda_prior=lambda_prior)
    return cost.double()


def _problem(n=5, d=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, dtype=torch.float64, generator=g)
    y = torch.randn(n, d, dtype=torch.float64, generator=g)
    observed = torch.rand(n, d, generator=g) < 0.6
    return x, y, observed


def test_grad_matches_autograd_gradcheck():
    cost = _pca_cost()
    _, y, observed = _problem()
    x = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    # gradcheck of the cost itself (autograd vs finite differences)
    assert torch.autograd.gradcheck(lambda z: cost(z, y, observed), (x,))
    # cost.grad (closed-form observation term + VJP) vs autograd of the cost
    (auto,) = torch.autograd.grad(cost(x, y, observed).sum(), x)
    mine, _ = cost.grad(x, y, observed)
    torch.testing.assert_close(mine, auto, rtol=1e-10, atol=1e-12)
    # and cost.grad is itself differentiable (gradcheck of the gradient map)
    assert torch.autograd.gradcheck(
        lambda z: cost.grad(z, y, observed, create_graph=True)[0], (x,)
    )


def test_grad_equals_analytic_pca_gradient():
    cost = _pca_cost()
    x, y, observed = _problem()
    prior = cost.prior
    We, Wd = prior.encoder.detach(), prior.decoder.detach()
    me, md = prior.mean_encoder.detach(), prior.mean_decoder.detach()
    n_entries = x.shape[1]
    n_obs = observed.sum(1, keepdim=True).clamp_min(1)
    # U = lo * sum_obs (x-y)^2 / n_obs + lp * ||x - (md + Wd^T We (x - me))||^2 / N
    A = torch.eye(n_entries, dtype=torch.float64) - Wd.T @ We
    r = x - md - (x - me) @ We.T @ Wd
    expected = (2 * cost.lambda_obs * observed * (x - y) / n_obs
                + 2 * cost.lambda_prior * r @ A / n_entries).detach()
    got, _ = cost.grad(x, y, observed)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_cost_ignores_y_where_unobserved():
    cost = _pca_cost()
    x, y, observed = _problem()
    y2 = torch.where(observed, y, torch.full_like(y, float("nan")))
    torch.testing.assert_close(cost(x, y, observed), cost(x, y2, observed))
    g1, _ = cost.grad(x, y, observed)
    g2, _ = cost.grad(x, y2, observed)
    torch.testing.assert_close(g1, g2)


def test_per_sample_cost_is_independent_of_the_batch():
    torch.manual_seed(0)
    cost = VariationalCost(AutoEncoderPrior((6,))).double()
    x, y, observed = _problem(n=8)
    g_all, _ = cost.grad(x, y, observed)
    g_one, _ = cost.grad(x[:1], y[:1], observed[:1])
    torch.testing.assert_close(g_all[:1], g_one)


@pytest.mark.parametrize("learn", [True, False])
def test_lambdas_non_negative_and_learnable_flag(learn):
    cost = VariationalCost(PCAPrior((4,)), lambda_obs=2.0, lambda_prior=0.5,
                           learn_lambdas=learn)
    assert float(cost.lambda_obs) == pytest.approx(2.0)
    assert float(cost.lambda_prior) == pytest.approx(0.5)
    names = {n for n, _ in cost.named_parameters()}
    assert ({"a_obs", "a_prior"} <= names) == learn
    with torch.no_grad():
        if learn:
            cost.a_obs.fill_(-3.0)
    assert float(cost.lambda_obs) >= 0


def test_negative_lambda_rejected():
    with pytest.raises(ValueError, match="lambda_prior must be >= 0, got -1"):
        VariationalCost(PCAPrior((4,)), lambda_prior=-1.0)


def test_pca_prior_reproduces_low_rank_data():
    rng = np.random.RandomState(0)
    data = torch.tensor(rng.normal(size=(50, 2)) @ rng.normal(size=(2, 7)))
    prior = PCAPrior((7,), n_components=2).double().initialize_from_data(data)
    torch.testing.assert_close(prior(data), data, rtol=0, atol=1e-10)
