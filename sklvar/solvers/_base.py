"""Base class of the solvers Gamma and the shared gradient normalisation."""

import contextlib

import torch
from torch import nn

_NORMALIZATIONS = ("sample", "batch")
# Floor of the gradient RMS, in units of 2 / (entries per sample): the gradient
# of a residual of about 1e-3 standard deviations. A sample whose initial
# gradient is below it (already at the optimum, e.g. fully observed and well
# explained by the prior) is not blown up by the normalisation.
_RMS_FLOOR = 2e-3


def gradient_scale(grad, normalization="sample"):
    r"""The paper's normalisation scalar :math:`\alpha = 1 / \mathrm{RMS}(\nabla U)`.

    Parameters
    ----------
    grad : Tensor of shape (n_batch, *sample_shape)
        Gradient of the cost at the initial state.
    normalization : {"sample", "batch"}, default="sample"
        ``"sample"``: one scalar per sample, so a sample's result never depends
        on the other samples in its batch. ``"batch"``: one scalar for the whole
        batch, as the authors' code does (REFERENCE.md §3; results then depend
        on the composition of the batch).

    Returns
    -------
    alpha : Tensor broadcastable to ``grad``
        :math:`1/\sqrt{\mathrm{mean}(g^2) + f^2}` with a small floor
        :math:`f = 2\cdot 10^{-3}/N` (``N`` entries per sample) so that a
        sample already at the optimum is not blown up.
    """
    floor2 = (_RMS_FLOOR / grad[0].numel()) ** 2
    if normalization == "sample":
        ms = grad.pow(2).reshape(grad.shape[0], -1).mean(1)
        return torch.rsqrt(ms + floor2).reshape((-1,) + (1,) * (grad.dim() - 1))
    if normalization == "batch":
        return torch.rsqrt(grad.pow(2).mean() + floor2)
    raise ValueError(
        f"solver_params['normalization'] must be one of {_NORMALIZATIONS}, "
        f"got {normalization!r}."
    )


def check_normalization(normalization):
    """Validate a ``normalization`` option; return it."""
    if normalization not in _NORMALIZATIONS:
        raise ValueError(
            f"solver_params['normalization'] must be one of {_NORMALIZATIONS}, "
            f"got {normalization!r}."
        )
    return normalization


class Solver(nn.Module):
    """Base class of the iterative solvers.

    A solver sees the cost only through its interface
    (:meth:`sklvar.energy.VariationalCost.grad`, ``cost.prior``) and never
    names a concrete prior.

    While the module is in training mode and autograd is enabled, the whole
    unrolled loop is kept in the graph (``create_graph=True``), so the solver
    and the prior are trained end to end through it. Otherwise each iteration
    is detached: memory does not grow with the number of iterations, and the
    solver also works when called under ``torch.no_grad()`` (the gradient of
    the cost is computed in a local ``torch.enable_grad()`` block).
    """

    def unrolled(self):
        """Whether the current call keeps the graph through the iterations."""
        return self.training and torch.is_grad_enabled()

    def update_context(self):
        """Context for the state update: no graph at inference."""
        return contextlib.nullcontext() if self.unrolled() else torch.no_grad()

    def forward(self, cost, x0, y, observed_mask, n_iter, callback=None):
        """Run ``n_iter`` iterations from ``x0``.

        Parameters
        ----------
        cost : VariationalCost
            The variational cost.
        x0 : Tensor of shape (n_batch, *sample_shape)
            Initial state.
        y : Tensor of the same shape
            Observations (0 where unobserved).
        observed_mask : Tensor of bool, same shape
            True where observed.
        n_iter : int
            Number of iterations.
        callback : callable or None
            Called as ``callback(k, x)`` after iteration ``k`` (1-based) with the
            current (detached) state; used to record energy pathways.

        Returns
        -------
        x_hat : Tensor of the same shape as ``x0``
        """
        raise NotImplementedError
