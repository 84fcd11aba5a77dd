"""VariationalNet and pretrain_prior (sklvar/net.py)."""

import numpy as np
import torch

from sklvar import VariationalImputer
from sklvar.energy import VariationalCost
from sklvar.model import VariationalModel
from sklvar.net import VariationalNet
from sklvar.priors import AutoEncoderPrior, PCAPrior, pretrain_by_gradient
from sklvar.solvers import LSTMSolver


def _net(**kw):
    model = VariationalModel(VariationalCost(AutoEncoderPrior((6,))), LSTMSolver((6,)),
                             n_iter=2)
    return VariationalNet(model, optimizer=torch.optim.Adam, max_epochs=1,
                          batch_size=8, **kw)


def test_net_has_no_criterion_and_no_validation_split():
    net = _net().initialize()
    assert net.criterion_ is None and net.train_split is None
    x = torch.randn(4, 6)
    with torch.no_grad():
        x_hat = net.module_(x, torch.ones(4, 6, dtype=torch.bool))
        assert torch.equal(net.get_loss(x_hat, x), net.training_loss(x_hat, x))


def test_net_fits_supervised():
    rng = np.random.RandomState(0)
    T = rng.normal(size=(16, 6)).astype(np.float32)
    M = rng.uniform(size=T.shape) < 0.7
    net = _net().fit({"y": np.where(M, T, 0).astype(np.float32), "observed_mask": M}, T)
    assert len(net.history) == 1 and np.isfinite(net.history[-1, "train_loss"])


def test_pretrain_prior_reports_through_its_callback(capsys):
    prior = AutoEncoderPrior((6,))
    seen = []
    losses = prior.pretrain(torch.randn(20, 6), max_epochs=3, batch_size=8,
                            callback=lambda epoch, loss: seen.append((epoch, loss)))
    assert [e for e, _ in seen] == [1, 2, 3]
    assert [loss for _, loss in seen] == losses
    assert capsys.readouterr().out == ""  # the lower layer prints nothing


def test_pca_pretrain_is_a_no_op_but_gradient_pretraining_still_runs():
    prior = PCAPrior((6,), n_components=2)
    before = [p.detach().clone() for p in prior.parameters()]
    assert prior.pretrain(torch.randn(20, 6), max_epochs=2) == []
    assert all(torch.equal(a, b) for a, b in zip(before, prior.parameters()))
    assert len(pretrain_by_gradient(prior, torch.randn(20, 6), max_epochs=2)) == 2


def test_estimator_prints_the_pretraining_with_its_prefix(capsys):
    X = np.random.RandomState(0).normal(size=(32, 6))
    VariationalImputer(prior="ae", joint=False, max_epochs=2, n_solver_iter=2,
                       random_state=0, verbose=1).fit(X, X)
    out = capsys.readouterr().out
    assert "[VariationalImputer] prior pre-training epoch 2: loss" in out
