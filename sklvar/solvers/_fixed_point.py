"""Fixed-point iterations of the prior, observations put back at each step."""

import torch

from ._base import Solver


class FixedPointSolver(Solver):
    r"""Fixed-point iterations :math:`x \leftarrow \Omega y + (1-\Omega)\Phi(x)`.

    With one iteration this is FP(1) of the paper: the prior applied to the
    filled observation, a direct learned interpolator. Observed entries keep
    the (possibly noisy) observations. No parameters of its own.
    """

    def update(self, cost, x, y, observed_mask, state):
        return torch.where(observed_mask, y, cost.prior(x)), state
