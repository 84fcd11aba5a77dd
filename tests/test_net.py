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
    kw = {"max_epochs": 1, "batch_size": 8, **kw}
    return VariationalNet(model, optimizer=torch.optim.Adam, **kw)


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


class _FakeClock:
    """A clock that advances by ``tick`` seconds at every reading."""

    def __init__(self, tick):
        self.t, self.tick = 0.0, tick

    def __call__(self):
        self.t += self.tick
        return self.t


def _fit_data(n=64):
    rng = np.random.RandomState(0)
    T = rng.normal(size=(n, 6)).astype(np.float32)
    M = rng.uniform(size=T.shape) < 0.7
    return {"y": np.where(M, T, 0).astype(np.float32), "observed_mask": M}, T


def test_time_budget_stops_mid_epoch_with_a_cosine_to_its_floor():
    from skorch.callbacks import Callback

    from sklvar.net import TimeBudget

    lrs = []

    class Spy(Callback):  # runs after TimeBudget's on_batch_begin
        def on_batch_begin(self, net, training=False, **kwargs):
            if training:
                lrs.append(net.optimizer_.param_groups[0]["lr"])

    # the clock is read once at train begin, at each epoch begin and at every
    # batch (twice when a batch's lr is set): the budget runs out mid-epoch
    budget = TimeBudget(10.0, 1, 3, lr_min_fraction=0.1, clock=_FakeClock(0.3))
    X, T = _fit_data(64)  # 8 batches an epoch
    net = _net(max_epochs=100, lr=1e-2, callbacks=[("budget", budget), ("spy", Spy())])
    net.fit(X, T)
    last = net.history[-1]
    assert last["time_budget_stop"] is True
    assert len(net.history) < 100
    done = [b for b in last["batches"] if "train_loss" in b]
    assert 0 < len(done) < 8  # stopped mid-epoch...
    assert last["train_loss"] == np.mean([b["train_loss"] for b in done])
    assert lrs[0] <= 1e-2 and min(lrs) >= 1e-3 - 1e-12  # ...on the cosine's floor
    assert np.all(np.diff(lrs) <= 1e-15) and lrs[-1] < 2e-3
    assert net.optimizer_.param_groups[0]["lr"] == 1e-2  # restored at the end
    assert net.module_.n_iter == 3
    assert [h["n_solver_iter"] for h in net.history][-1] == 3


def test_bfloat16_training_is_close_to_float32_and_validated():
    import pytest
    from sklearn.utils._param_validation import InvalidParameterError

    X, T = _fit_data(32)
    losses = {}
    for dtype in (None, torch.bfloat16):
        torch.manual_seed(0)
        net = _net(max_epochs=3, lr=1e-2, autocast_dtype=dtype).fit(X, T)
        losses[dtype] = [h["train_loss"] for h in net.history]
        assert all(p.dtype == torch.float32 for p in net.module_.parameters())
    assert losses[None] != losses[torch.bfloat16]  # autocast did run
    np.testing.assert_allclose(losses[torch.bfloat16], losses[None], rtol=0.05)
    with pytest.raises(InvalidParameterError, match="training_dtype"):
        VariationalImputer(training_dtype="float16").fit(np.ones((4, 3)))


def test_prior_lr_scale_sets_the_joint_priors_learning_rate():
    import pytest
    from sklearn.utils._param_validation import InvalidParameterError

    X = np.random.RandomState(0).normal(size=(40, 6))
    X[::3, 1] = np.nan
    for scale in (0.5, 0.25):
        imp = VariationalImputer(prior="ae", solver="lstm", max_epochs=1, lr=1e-2,
                                 prior_lr_scale=scale, random_state=0).fit(X)
        groups = imp.net_.optimizer_.param_groups
        assert sorted(g["lr"] for g in groups) == [scale * 1e-2, 1e-2]
        prior_ids = {id(p) for p in imp.net_.module_.cost.prior.parameters()}
        prior_group = next(g for g in groups if g["lr"] == scale * 1e-2)
        assert {id(p) for p in prior_group["params"]} == prior_ids
    with pytest.raises(InvalidParameterError, match="prior_lr_scale"):
        VariationalImputer(prior_lr_scale=0.0).fit(X)


def test_ema_decay_ends_training_with_the_moving_average_of_the_weights():
    import pytest
    from sklearn.utils._param_validation import InvalidParameterError
    from skorch.callbacks import Callback

    seen = []

    class Record(Callback):  # a user callback: runs after the estimator's own
        def on_train_begin(self, net, **kwargs):
            seen.append([p.detach().clone() for p in net.module_.parameters()])

        def on_batch_end(self, net, training=False, **kwargs):
            if training:
                seen.append([p.detach().clone() for p in net.module_.parameters()])

    X = np.random.RandomState(0).normal(size=(48, 6))
    X[::3, 1] = np.nan
    decay = 0.9
    imp = VariationalImputer(prior="ae", solver="lstm", max_epochs=2, batch_size=8,
                             lr=1e-2, ema_decay=decay, callbacks=[Record()],
                             random_state=0).fit(X)
    assert len(seen) == 1 + 2 * 6  # the start, then 6 batches an epoch
    expected = seen[0]
    for weights in seen[1:]:
        expected = [decay * a + (1 - decay) * w for a, w in zip(expected, weights)]
    final = list(imp.net_.module_.parameters())
    for e, w, last in zip(expected, final, seen[-1]):
        torch.testing.assert_close(w.detach(), e, rtol=1e-5, atol=1e-6)
    assert any(not torch.equal(w.detach(), last) for w, last in zip(final, seen[-1]))
    with pytest.raises(InvalidParameterError, match="ema_decay"):
        VariationalImputer(ema_decay=1.0).fit(X)
