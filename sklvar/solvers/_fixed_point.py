"""Fixed-point iterations of the prior, observations put back at each step."""

import torch

from ._base import Solver


class FixedPointSolver(Solver):
    r"""Fixed-point iterations :math:`x \leftarrow \Omega y + (1-\Omega)\Phi(x)`.

    With one iteration this is FP(1) of the paper: the prior applied to the
    filled observation, a direct learned interpolator. Observed entries keep
    the (possibly noisy) observations. No parameters of its own.

    Parameters
    ----------
    shape : tuple of int
        Shape of one sample (unused; kept for a uniform constructor).
    """

    def __init__(self, shape=None):
        super().__init__()

    def forward(self, cost, x0, y, observed_mask, n_iter, callback=None):
        observed_mask = observed_mask.to(torch.bool)
        x = x0
        with self.update_context():
            for k in range(n_iter):
                x = torch.where(observed_mask, y, cost.prior(x))
                if callback is not None:
                    callback(k + 1, x.detach())
        return x
