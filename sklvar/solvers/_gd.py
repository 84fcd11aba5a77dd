"""Fixed-step gradient descent on the normalised gradient ("FSGD")."""

import torch
from torch import nn

from ._base import Solver, check_normalization, gradient_scale


class GradientDescentSolver(Solver):
    r"""Fixed-step gradient descent :math:`x \leftarrow x - \eta\,\alpha\,\nabla U(x)`.

    :math:`\alpha = 1/\mathrm{RMS}(\nabla U(x^{(0)}))` is computed once at the
    initial state (the paper's normalisation), so :math:`\eta` is a step in
    units of the initial gradient. :math:`\eta` is a learnable scalar. For
    stability :math:`\alpha` is capped at :math:`1/L`, with :math:`L` the
    curvature scale of the cost (:meth:`VariationalCost.curvature`): a sample
    whose initial gradient is tiny (already near its optimum) would otherwise
    take steps far beyond :math:`2/L` and diverge. The FSGD module of the
    authors' public code uses an unnormalised gradient; this follows the
    paper instead.

    Parameters
    ----------
    step : float, default=0.1
        Initial step :math:`\eta`.
    learn_step : bool, default=True
        Whether :math:`\eta` is learned.
    normalization : {"sample", "batch"}, default="sample"
        See :func:`gradient_scale`.
    """

    def __init__(self, *, step=0.1, learn_step=True, normalization="sample"):
        super().__init__()
        if not step > 0:
            raise ValueError(f"solver_params['step'] must be > 0, got {step!r}.")
        self.normalization = check_normalization(normalization)
        step = torch.tensor(float(step))
        if learn_step:
            self.step = nn.Parameter(step)
        else:
            self.register_buffer("step", step)

    def update(self, cost, x, y, observed_mask, alpha):
        grad = self.gradient(cost, x, y, observed_mask)
        if alpha is None:  # first iteration: the normalisation, capped at 1/L
            alpha = torch.minimum(
                gradient_scale(grad, self.normalization),
                1.0 / cost.curvature(observed_mask),
            )
        return x - self.step * alpha * grad, alpha
