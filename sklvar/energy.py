r"""The variational cost of the paper (eq. 2) and its gradient (layer 2).

.. math::

    U_\Phi(x; y, \Omega) = \lambda_{obs} \, \frac{\|x - y\|^2_\Omega}{|\Omega|}
        + \lambda_{prior} \, \frac{\|x - \Phi(x)\|^2}{N}

Both terms are means **per sample** (``|Omega|`` observed entries and ``N``
entries of that sample), so that the cost of a batch is the sum of independent
per-sample costs and a sample's gradient never depends on the other samples of
its batch. The authors' public code pools both means over the whole
mini-batch; per-sample means give the same minimiser per sample.
"""

import contextlib
import math

import torch
from torch import nn

from .priors import Prior

__all__ = ["VariationalCost"]


class VariationalCost(nn.Module):
    r"""Weighted sum of the observation cost and the prior cost.

    :math:`\lambda = a^2` with learnable scalars ``a`` (so both weights stay
    non-negative), as in the authors' code.

    Parameters
    ----------
    prior : Prior
        The operator :math:`\Phi`.
    lambda_obs, lambda_prior : float, default=1.0
        Initial weights of the two terms (non-negative).
    learn_lambdas : bool, default=True
        Whether the weights are learned with the solver.
    """

    def __init__(self, prior, *, lambda_obs=1.0, lambda_prior=1.0, learn_lambdas=True):
        super().__init__()
        if not isinstance(prior, Prior):
            raise TypeError(
                f"prior must be a sklvar.priors.Prior, got {type(prior).__name__}."
            )
        for name, value in (("lambda_obs", lambda_obs), ("lambda_prior", lambda_prior)):
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}.")
        self.prior = prior
        a_obs = torch.tensor(math.sqrt(lambda_obs), dtype=torch.float32)
        a_prior = torch.tensor(math.sqrt(lambda_prior), dtype=torch.float32)
        if learn_lambdas:
            self.a_obs = nn.Parameter(a_obs)
            self.a_prior = nn.Parameter(a_prior)
        else:
            self.register_buffer("a_obs", a_obs)
            self.register_buffer("a_prior", a_prior)

    @property
    def lambda_obs(self):
        """Current weight of the observation term (a Tensor)."""
        return self.a_obs**2

    @property
    def lambda_prior(self):
        """Current weight of the prior term (a Tensor)."""
        return self.a_prior**2

    @staticmethod
    def _per_sample(t):
        return t.reshape(t.shape[0], -1)

    def forward(self, x, y, observed_mask):
        """Per-sample cost.

        Parameters
        ----------
        x : Tensor of shape (n_batch, *sample_shape)
            State.
        y : Tensor of the same shape
            Observations (values at unobserved entries are ignored).
        observed_mask : Tensor of bool, same shape
            True where ``y`` is observed.

        Returns
        -------
        cost : Tensor of shape (n_batch,)
        """
        observed_mask = observed_mask.to(torch.bool)
        n_obs = self._per_sample(observed_mask).sum(1).clamp_min(1).to(x.dtype)
        diff = self._per_sample(torch.where(observed_mask, x - y, 0.0))
        residual = self._per_sample(x - self.prior(x))
        return (
            self.lambda_obs * (diff**2).sum(1) / n_obs
            + self.lambda_prior * (residual**2).mean(1)
        )

    def curvature(self, observed_mask):
        r"""Per-sample curvature scale of the cost.

        :math:`2\lambda_{obs}/|\Omega| + 2\lambda_{prior}/N`: the Lipschitz
        constant of :math:`\nabla U` when :math:`x - \Phi(x)` is 1-Lipschitz
        (a projection such as PCA). Fixed-step solvers use it to bound their
        step.

        Parameters
        ----------
        observed_mask : Tensor of bool of shape (n_batch, *sample_shape)

        Returns
        -------
        curvature : Tensor of shape (n_batch, 1, ..., 1)
        """
        observed_mask = observed_mask.to(torch.bool)
        n_entries = observed_mask[0].numel()
        n_obs = self._per_sample(observed_mask).sum(1).clamp_min(1)
        lam_obs = self.lambda_obs.to(observed_mask.device)
        lam_prior = self.lambda_prior.to(observed_mask.device)
        curv = 2.0 * lam_obs / n_obs + 2.0 * lam_prior / n_entries
        return curv.reshape((-1,) + (1,) * (observed_mask.dim() - 1))

    def grad(self, x, y, observed_mask, *, create_graph=False):
        r"""Gradient of the per-sample cost with respect to ``x``.

        The observation term's gradient is written in closed form; the prior
        term's is :math:`2 \lambda_{prior} (r - J_\Phi(x)^\top r) / N` with
        :math:`r = x - \Phi(x)`, one vector-Jacobian product through
        :math:`\Phi` (:meth:`Prior.forward_vjp`: written by hand for the
        PCA and 2S-CNN priors, by automatic differentiation otherwise).

        Parameters
        ----------
        x : Tensor of shape (n_batch, *sample_shape)
            State.
        y, observed_mask : Tensor
            As in :meth:`forward`.
        create_graph : bool, default=False
            Keep the graph of the gradient, so that a loss on the solver output
            can be differentiated through it (training).

        Returns
        -------
        grad : Tensor of the same shape as ``x``
        phi : Tensor of the same shape, :math:`\Phi(x)`
        """
        shape = x.shape
        n_entries = x[0].numel()
        observed_mask = observed_mask.to(torch.bool)
        n_obs = self._per_sample(observed_mask).sum(1).clamp_min(1).to(x.dtype)
        n_obs = n_obs.reshape((-1,) + (1,) * (x.dim() - 1))
        # A hand-written VJP needs no graph at all when none is to be kept.
        no_graph = self.prior.explicit_vjp and not create_graph
        with torch.no_grad() if no_graph else contextlib.nullcontext():
            phi, vjp_fn = self.prior.forward_vjp(x, create_graph=create_graph)
            residual = x - phi
            vjp = vjp_fn(residual)
        obs_residual = torch.where(observed_mask, x - y, 0.0)
        grad_obs = (2.0 * self.lambda_obs) * obs_residual / n_obs
        grad_prior = (2.0 * self.lambda_prior / n_entries) * (residual - vjp)
        return (grad_obs + grad_prior).reshape(shape), phi
