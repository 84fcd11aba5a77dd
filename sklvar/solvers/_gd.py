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
    take steps far beyond :math:`2/L` and diverge. The
    authors' FSGD module used an unnormalised gradient and trained to a no-op
    (REFERENCE.md §4a, B7); this follows the paper instead.

    Parameters
    ----------
    shape : tuple of int
        Shape of one sample (unused; kept for a uniform constructor).
    step : float, default=0.1
        Initial step :math:`\eta`.
    learn_step : bool, default=True
        Whether :math:`\eta` is learned.
    normalization : {"sample", "batch"}, default="sample"
        See :func:`gradient_scale`.
    """

    def __init__(self, shape=None, *, step=0.1, learn_step=True,
                 normalization="sample"):
        super().__init__()
        if not step > 0:
            raise ValueError(f"solver_params['step'] must be > 0, got {step!r}.")
        self.normalization = check_normalization(normalization)
        step = torch.tensor(float(step))
        if learn_step:
            self.step = nn.Parameter(step)
        else:
            self.register_buffer("step", step)

    def forward(self, cost, x0, y, observed_mask, n_iter, callback=None):
        create_graph = self.unrolled()
        x = x0
        alpha = None
        with torch.enable_grad():
            for k in range(n_iter):
                grad, _ = cost.grad(x, y, observed_mask, create_graph=create_graph)
                with self.update_context():
                    if alpha is None:
                        alpha = torch.minimum(
                            gradient_scale(grad, self.normalization),
                            1.0 / cost.curvature(observed_mask),
                        )
                    x = x - self.step * alpha * grad
                if not create_graph:
                    x = x.detach()
                if callback is not None:
                    callback(k + 1, x.detach())
        return x
