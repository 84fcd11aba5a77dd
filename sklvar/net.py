"""VariationalNet: the skorch training of the end-to-end model (layer 5).

The loss is the paper's eq. 5; the number of solver iterations grows during
training (curriculum); without complete true states the net trains
self-supervised, by hiding a random part of the observed entries of each batch
and learning to reconstruct them.
"""

import contextlib
import math
import re
import signal
import sys
import threading
import time

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from skorch.utils import to_tensor

from .priors import pretrain_by_gradient
from .utils import hide_observed

__all__ = [
    "DivergenceGuard", "IterationCurriculum", "TimeBudget", "VariationalNet",
    "WeightAverage", "catch_sigint", "print_log_sink", "prior_param_groups",
]

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def print_log_sink(text):
    """Print skorch's per-epoch log; without its ANSI colours when piped.

    The sink of skorch's ``PrintLog`` in :class:`VariationalNet`: colour codes
    are kept only when standard output is a terminal, so logs redirected to a
    file or a pipe hold plain text.
    """
    isatty = getattr(sys.stdout, "isatty", None)
    if not (isatty and isatty()):
        text = _ANSI_ESCAPE.sub("", text)
    print(text)


@contextlib.contextmanager
def catch_sigint():
    """Record whether SIGINT (Ctrl-C) arrives during the block.

    skorch ends training quietly on ``KeyboardInterrupt``, which is also how
    callbacks (:class:`TimeBudget`, ``EarlyStopping``) stop it on purpose;
    this handler tells a user's Ctrl-C apart. It yields a dict whose
    ``"interrupted"`` entry becomes True on SIGINT; the previous handler is
    then called (by default it raises ``KeyboardInterrupt``) and restored at
    the end. Outside the main thread signals cannot be caught: nothing is
    recorded there.
    """
    state = {"interrupted": False}
    if threading.current_thread() is not threading.main_thread():
        yield state
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        if previous is signal.SIG_IGN:
            return
        state["interrupted"] = True
        if callable(previous):
            previous(signum, frame)
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous)


class DivergenceGuard(Callback):
    """Stop training with an error when the loss diverges.

    The loss of eq. 5 is computed on standardised data, where predicting the
    mean scores about 1. Training stops with ``FloatingPointError`` when a
    batch loss is not finite, or when an epoch's training loss exceeds
    ``max_loss`` or ``factor`` times the best epoch so far.

    Parameters
    ----------
    max_loss : float, default=1e6
    factor : float, default=1e4
    hint : str, default=""
        Advice appended to the error (what to change).
    """

    def __init__(self, max_loss=1e6, factor=1e4, hint=""):
        self.max_loss = max_loss
        self.factor = factor
        self.hint = hint

    def on_train_begin(self, net, **kwargs):
        self.best_ = math.inf

    def _fail(self, net, loss, where):
        raise FloatingPointError(
            f"training diverged at epoch {len(net.history)} of {net.max_epochs}: "
            f"{where} loss {loss:.3g}.{self.hint}"
        )

    def on_batch_end(self, net, batch=None, training=False, loss=None, **kwargs):
        if training and loss is not None:
            value = float(loss.detach().item() if hasattr(loss, "detach") else loss)
            if not math.isfinite(value):
                self._fail(net, value, "batch")

    def on_epoch_end(self, net, **kwargs):
        loss = net.history[-1].get("train_loss")
        if loss is None:
            return
        if not math.isfinite(loss) or loss > self.max_loss or \
                loss > self.factor * self.best_:
            self._fail(net, loss, "training")
        self.best_ = min(self.best_, loss)


class IterationCurriculum(Callback):
    """Raise the number of solver iterations during training (paper §3.3).

    The count grows linearly from ``start`` to ``stop`` over the first
    ``ramp_fraction`` of the epochs, then stays at ``stop``; after training the
    model is left at ``stop``. The count of each epoch is recorded in the
    history as ``n_solver_iter``.

    Parameters
    ----------
    start, stop : int
        First and final number of iterations.
    ramp_fraction : float, default=0.5
        Fraction of the epochs over which the count grows.
    """

    def __init__(self, start, stop, ramp_fraction=0.5):
        self.start = start
        self.stop = stop
        self.ramp_fraction = ramp_fraction

    def n_iter_at(self, epoch, max_epochs):
        """Number of iterations at a 0-based epoch."""
        start = min(self.start, self.stop)
        n_ramp = max(1, int(round(max_epochs * self.ramp_fraction)))
        frac = min(1.0, epoch / n_ramp)
        return int(round(start + (self.stop - start) * frac))

    def on_epoch_begin(self, net, **kwargs):
        k = self.n_iter_at(len(net.history) - 1, net.max_epochs)
        net.module_.n_iter = k
        net.history.record("n_solver_iter", k)

    def on_train_end(self, net, **kwargs):
        net.module_.n_iter = self.stop


class TimeBudget(Callback):
    r"""Train for a time budget: cosine learning rate and curriculum in time.

    The learning rate of every parameter group follows
    :math:`lr_0 \,(f + (1 - f)(1 + \cos(\pi\, t / T)) / 2)` over the budget
    ``T`` (updated at every batch; ``f = lr_min_fraction``), the number of
    solver iterations grows from ``start`` to ``stop`` over the first
    ``ramp_fraction`` of the budget (set at every epoch), and training stops
    at the first batch that would start past the budget, mid-epoch if need
    be: the history's last row records ``time_budget_stop`` and, for a
    partial epoch, the mean ``train_loss`` of its batches. ``max_epochs``
    remains an upper bound.

    Parameters
    ----------
    max_time : float
        Budget in seconds, counted from the start of training by ``clock``.
    start, stop : int
        First and final number of solver iterations.
    ramp_fraction : float, default=0.5
    lr_min_fraction : float, default=0.05
        Floor of the cosine as a fraction of the initial learning rate (the
        Lorenz-63 time-to-accuracy runs decay to lr / 20,
        ``benchmarks/TIME_TO_ACCURACY.md``).
    clock : callable, default=time.perf_counter
        Seconds as a float. A clock that stops while, say, a per-epoch
        evaluation callback runs excludes that time from the budget.
    """

    def __init__(self, max_time, start, stop, ramp_fraction=0.5,
                 lr_min_fraction=0.05, clock=None):
        self.max_time = max_time
        self.start = start
        self.stop = stop
        self.ramp_fraction = ramp_fraction
        self.lr_min_fraction = lr_min_fraction
        self.clock = clock

    def _elapsed(self):
        return self._now() - self.t0_

    def _fraction(self):
        return min(1.0, self._elapsed() / self.max_time)

    def _now(self):
        return (self.clock or time.perf_counter)()

    def on_train_begin(self, net, **kwargs):
        self.t0_ = self._now()
        self.lr0_ = [g["lr"] for g in net.optimizer_.param_groups]

    def on_epoch_begin(self, net, **kwargs):
        frac = min(1.0, self._fraction() / max(self.ramp_fraction, 1e-12))
        start = min(self.start, self.stop)
        k = int(round(start + (self.stop - start) * frac))
        net.module_.n_iter = k
        net.history.record("n_solver_iter", k)

    def on_batch_begin(self, net, training=False, **kwargs):
        if not training:
            return
        if self._elapsed() >= self.max_time:
            losses = [b["train_loss"] for b in net.history[-1]["batches"]
                      if "train_loss" in b]
            if losses:
                net.history.record("train_loss", float(np.mean(losses)))
            self._stop(net)
        f = self.lr_min_fraction
        scale = f + (1.0 - f) * 0.5 * (1.0 + math.cos(math.pi * self._fraction()))
        for group, lr0 in zip(net.optimizer_.param_groups, self.lr0_):
            group["lr"] = lr0 * scale

    def on_epoch_end(self, net, **kwargs):
        if self._elapsed() >= self.max_time:
            self._stop(net)

    @staticmethod
    def _stop(net):
        net.history.record("time_budget_stop", True)
        raise KeyboardInterrupt  # skorch's way to end training early

    def on_train_end(self, net, **kwargs):
        net.module_.n_iter = self.stop
        for group, lr0 in zip(net.optimizer_.param_groups, self.lr0_):
            group["lr"] = lr0


class WeightAverage(Callback):
    r"""Exponential moving average of the trained weights, kept at the end.

    After every training batch, each trainable parameter's average moves as
    :math:`\bar w \leftarrow d\,\bar w + (1 - d)\,w`; when training ends
    (including a stop by :class:`TimeBudget`), the averages replace the
    weights. With ``decay=0.99`` the average spans about the last 100 batches:
    it smooths the noise of the last optimiser steps (Polyak averaging).

    Parameters
    ----------
    decay : float in (0, 1)
    """

    def __init__(self, decay):
        self.decay = decay

    def on_train_begin(self, net, **kwargs):
        self.params_ = [p for p in net.module_.parameters() if p.requires_grad]
        self.averages_ = [p.detach().clone() for p in self.params_]

    @torch.no_grad()
    def on_batch_end(self, net, training=False, **kwargs):
        if not training:
            return
        for avg, p in zip(self.averages_, self.params_):
            avg.lerp_(p.detach(), 1.0 - self.decay)

    @torch.no_grad()
    def on_train_end(self, net, **kwargs):
        for avg, p in zip(self.averages_, self.params_):
            p.copy_(avg)


class VariationalNet(NeuralNet):
    """skorch net training a :class:`~sklvar.model.VariationalModel`.

    ``X`` is a dict ``{"y": observations, "observed_mask": bool mask}`` of
    arrays of shape (n_samples, *sample_shape); the target is the array of
    complete true states (supervised) or None (self-supervised).

    Parameters
    ----------
    module : VariationalModel
        The model (an instance).
    loss_weights : tuple of 3 floats, default=(1.0, 0.05, 0.05)
        :math:`(\\nu_1, \\nu_2, \\nu_3)` of eq. 5: reconstruction error, projection
        error of the true states, projection error of the reconstruction.
    self_supervised : bool, default=False
        Train on observations only: hide ``hide_fraction`` of the observed
        entries of each batch (blocks of ``hide_block``) and use the
        reconstruction error there as :math:`\\nu_1` term. The :math:`\\nu_2`
        term needs true states and is dropped.
    hide_fraction : float, default=0.2
    hide_block : tuple of int, default=(1,)
    random_state : int, default=0
        Seed of the hiding masks.
    autocast_dtype : torch.dtype or None, default=None
        Run each training step's forward pass and loss under
        ``torch.autocast`` in this dtype (e.g. ``torch.bfloat16``); the
        weights, their gradients and the optimiser stay float32, and the loss
        is computed in float32 from the autocast output. None trains in
        float32.
    **kwargs
        Passed to :class:`skorch.NeuralNet` (``optimizer``, ``lr``,
        ``max_epochs``, ``batch_size``, ``device``, ``callbacks``...).
        There is no validation split (``train_split=None``) and no skorch
        criterion: the loss is :meth:`training_loss`, which needs the prior of
        the model.
    """

    def __init__(self, module, *args, loss_weights=(1.0, 0.05, 0.05),
                 self_supervised=False, hide_fraction=0.2, hide_block=(1,),
                 random_state=0, autocast_dtype=None, **kwargs):
        kwargs.setdefault("train_split", None)
        if kwargs.get("verbose", 1):  # verbose=0: skorch's silent sink
            kwargs.setdefault("callbacks__print_log__sink", print_log_sink)
        super().__init__(module, None, *args, **kwargs)
        self.loss_weights = loss_weights
        self.self_supervised = self_supervised
        self.hide_fraction = hide_fraction
        self.hide_block = hide_block
        self.random_state = random_state
        self.autocast_dtype = autocast_dtype

    def initialize(self):
        super().initialize()
        self.hide_rng_ = np.random.RandomState(self.random_state)
        return self

    def initialize_criterion(self):
        """No skorch criterion: the loss of eq. 5 is :meth:`get_loss`."""
        self.criterion_ = None
        return self

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """The loss of eq. 5 on complete true states (:meth:`training_loss`)."""
        return self.training_loss(y_pred, y_true)

    def _split_batch(self, batch, rng):
        """Return (module inputs, target, target mask) of a batch."""
        Xi, yi = unpack_data(batch)
        if not self.self_supervised:
            return Xi, yi, None
        observed = Xi["observed_mask"].to(torch.bool)
        hidden = torch.from_numpy(
            hide_observed(observed.cpu().numpy(), self.hide_fraction, rng,
                          self.hide_block)
        )
        inputs = {"y": Xi["y"], "observed_mask": observed & ~hidden}
        return inputs, Xi["y"], hidden

    def training_loss(self, x_hat, target, target_mask=None):
        """Loss of eq. 5 (masked reconstruction term when self-supervised).

        Parameters
        ----------
        x_hat : Tensor of shape (n_batch, *sample_shape)
            Solver output.
        target : Tensor of the same shape
            True states (supervised) or observations (self-supervised).
        target_mask : Tensor of bool or None
            Where the reconstruction error is measured (the hidden entries);
            None means everywhere.
        """
        nu1, nu2, nu3 = self.loss_weights
        prior = self.module_.prior
        target = to_tensor(target, device=self.device).to(x_hat.dtype)
        if target_mask is None:
            loss = nu1 * torch.mean((x_hat - target) ** 2)
            if nu2:
                loss = loss + nu2 * torch.mean((target - prior(target)) ** 2)
        else:
            m = to_tensor(target_mask, device=self.device)
            sq = torch.where(m, (x_hat - target) ** 2, torch.zeros_like(x_hat))
            loss = nu1 * sq.sum() / m.sum().clamp_min(1)
        if nu3:
            loss = loss + nu3 * torch.mean((x_hat - prior(x_hat)) ** 2)
        return loss

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        inputs, target, target_mask = self._split_batch(batch, self.hide_rng_)
        autocast = self.autocast_dtype is not None
        with torch.autocast(torch.device(self.device).type,
                            dtype=self.autocast_dtype or torch.bfloat16,
                            enabled=autocast):
            x_hat = self.infer(inputs, **fit_params)
            if autocast:
                x_hat = x_hat.float()
            loss = self.training_loss(x_hat, target, target_mask)
        loss.backward()
        return {"loss": loss, "y_pred": x_hat}


# TODO(0.2): remove this alias; the loop is sklvar.priors.pretrain_by_gradient, the
# default of Prior.pretrain, which the estimators call
pretrain_prior = pretrain_by_gradient


def prior_param_groups(joint, lr, scale=0.5):
    """skorch ``optimizer__param_groups``: Phi at ``scale`` x lr when joint.

    The paper (§3.3) halves the learning rate of Phi (``scale=0.5``).
    """
    if not joint:
        return []
    return [("cost.prior.*", {"lr": scale * lr})]

