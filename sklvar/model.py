"""VariationalModel: prior + cost + solver, the torch composition root (layer 4)."""

import torch
from torch import nn

from .energy import VariationalCost
from .solvers import Solver

__all__ = ["VariationalModel", "linear_fill_torch"]

_INITS = ("mean", "linear")


def linear_fill_torch(y, observed_mask):
    """Linear interpolation of the observed values along the last axis.

    Values before the first and after the last observation are held constant;
    a row with no observation gets 0 (the mean in standardised units).
    Vectorised, runs on any device.

    Parameters
    ----------
    y : Tensor of shape (..., L)
    observed_mask : Tensor of bool, same shape

    Returns
    -------
    filled : Tensor of the same shape
    """
    observed_mask = observed_mask.to(torch.bool)
    length = y.shape[-1]
    t = torch.arange(length, device=y.device).expand_as(y)
    prev_idx = torch.where(observed_mask, t, -1).cummax(-1).values
    next_idx = torch.where(observed_mask, t, length).flip(-1).cummin(-1).values.flip(-1)
    has_prev = prev_idx >= 0
    has_next = next_idx < length
    prev_c = prev_idx.clamp(0, length - 1)
    next_c = next_idx.clamp(0, length - 1)
    v_prev = torch.gather(y, -1, prev_c)
    v_next = torch.gather(y, -1, next_c)
    span = (next_c - prev_c).clamp_min(1).to(y.dtype)
    w = ((t - prev_c).to(y.dtype) / span).clamp(0, 1)
    both = v_prev + w * (v_next - v_prev)
    out = torch.where(has_prev & has_next, both, torch.where(has_prev, v_prev, v_next))
    return torch.where(has_prev | has_next, out, torch.zeros_like(out))


class VariationalModel(nn.Module):
    r"""End-to-end model :math:`\Psi_{\Phi,\Gamma}(x^{(0)}, y, \Omega)`.

    Computes the initial state from the observations, then runs the solver
    :math:`\Gamma` on the variational cost :math:`U_\Phi`.

    Parameters
    ----------
    cost : VariationalCost
        The variational cost (it holds the prior).
    solver : Solver
        The solver.
    n_iter : int, default=10
        Number of solver iterations; the training curriculum changes it.
    init : {"mean", "linear"}, default="mean"
        Initial state: ``"mean"`` puts 0 (the mean in standardised units) at
        unobserved entries; ``"linear"`` interpolates the observations linearly
        along the last axis (time), as the authors' code does for Lorenz data.
    """

    def __init__(self, cost, solver, *, n_iter=10, init="mean"):
        super().__init__()
        if not isinstance(cost, VariationalCost):
            raise TypeError(
                f"cost must be a VariationalCost, got {type(cost).__name__}."
            )
        if not isinstance(solver, Solver):
            raise TypeError(f"solver must be a Solver, got {type(solver).__name__}.")
        if init not in _INITS:
            raise ValueError(f"init must be one of {_INITS}, got {init!r}.")
        self.cost = cost
        self.solver = solver
        self.n_iter = int(n_iter)
        self.init = init

    @property
    def prior(self):
        """The prior operator :math:`\\Phi` (held by the cost)."""
        return self.cost.prior

    def initial_state(self, y, observed_mask):
        """Initial state :math:`x^{(0)}` from the observations.

        Parameters
        ----------
        y : Tensor of shape (n_batch, *sample_shape)
        observed_mask : Tensor of bool, same shape

        Returns
        -------
        x0 : Tensor of the same shape
        """
        observed_mask = observed_mask.to(torch.bool)
        if self.init == "linear":
            return linear_fill_torch(y, observed_mask)
        return torch.where(observed_mask, y, torch.zeros_like(y))

    def forward(self, y, observed_mask, n_iter=None, callback=None):
        """Reconstruct the states.

        Parameters
        ----------
        y : Tensor of shape (n_batch, *sample_shape)
            Observations; values at unobserved entries are ignored.
        observed_mask : Tensor of bool, same shape
            True where observed.
        n_iter : int or None
            Number of solver iterations; None uses :attr:`n_iter`.
        callback : callable or None
            Passed to the solver, called as ``callback(k, x)``.

        Returns
        -------
        x_hat : Tensor of the same shape
        """
        observed_mask = observed_mask.to(torch.bool)
        y = torch.where(observed_mask, y, torch.zeros_like(y))
        x0 = self.initial_state(y, observed_mask)
        n_iter = self.n_iter if n_iter is None else int(n_iter)
        return self.solver(self.cost, x0, y, observed_mask, n_iter, callback=callback)
