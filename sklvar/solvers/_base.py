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
        batch, as the authors' public code does (results then depend on the
        composition of the batch).

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
    r"""Base class of the iterative solvers :math:`\Gamma`.

    A solver sees the cost only through its interface
    (:meth:`sklvar.energy.VariationalCost.grad`, ``cost.prior``) and never
    names a concrete prior.

    The iteration loop is written once, in :meth:`forward`; a subclass writes
    only its update, :meth:`update` (and, when it carries state from one
    iteration to the next, such as the normalisation or the LSTM's hidden
    state, :meth:`init_state`). The loop decides whether the graph is kept:
    while the module is in training mode and autograd is enabled, the whole
    unrolled loop is kept in the graph (``create_graph=True`` in
    :meth:`gradient`), so the solver and the prior are trained end to end
    through it. Otherwise each iteration runs under ``torch.no_grad()`` and is
    detached: memory does not grow with the number of iterations, and the
    solver also works when called under ``torch.no_grad()`` (the gradient of
    the cost is computed in a local ``torch.enable_grad()`` block).

    **Build protocol.** The estimators construct a solver given by name or by
    class with :meth:`build` and adapt one given as an instance (a copy) with
    :meth:`bind`; :meth:`build` ends with :meth:`bind`, so a solver that needs
    the fitted layout or prior (for example the periodic axes of the prior)
    reads them in :meth:`bind` and behaves the same in all three cases.

    Examples
    --------
    A solver that relaxes towards the prior's output on the missing entries,
    with a fixed relaxation weight (no state, no gradient):

    >>> import torch
    >>> from sklvar.solvers import Solver
    >>> class RelaxedFixedPoint(Solver):
    ...     def __init__(self, *, weight=0.5):
    ...         super().__init__()
    ...         self.weight = weight
    ...
    ...     def update(self, cost, x, y, observed_mask, state):
    ...         x = (1 - self.weight) * x + self.weight * cost.prior(x)
    ...         return torch.where(observed_mask, y, x), state
    """

    @classmethod
    def build(cls, layout, prior, **params):
        """Construct the solver for a fitted sample layout and prior.

        This is the hook through which the estimators create every solver
        given by name (``solver="lstm"``) or by class; the default calls
        ``cls(**params)`` and then :meth:`bind`. Subclasses whose constructor
        needs the sample shape override it (see
        :class:`~sklvar.solvers.LSTMSolver`).

        Parameters
        ----------
        layout : SampleLayout
            Layout of one sample (``layout.shape``, channels first).
        prior : Prior
            The prior the solver will run with (already built).
        **params
            The estimator's ``solver_params``.

        Returns
        -------
        solver : Solver
        """
        return cls(**params).bind(layout, prior)

    def bind(self, layout, prior):
        """Adapt the solver to a fitted sample layout and prior; return it.

        Called by :meth:`build` on a new solver and by the estimators on a
        copy of a solver passed as an instance. The default does nothing.

        Parameters
        ----------
        layout : SampleLayout
        prior : Prior

        Returns
        -------
        self : Solver
        """
        return self

    def unrolled(self):
        """Whether the current call keeps the graph through the iterations."""
        return self.training and torch.is_grad_enabled()

    def update_context(self):
        """Context of one iteration: no graph unless :meth:`unrolled`."""
        return contextlib.nullcontext() if self.unrolled() else torch.no_grad()

    def gradient(self, cost, x, y, observed_mask):
        """Gradient of the cost at ``x``, kept in the graph when unrolled.

        Computed in a local ``torch.enable_grad()`` block, so it also works
        inside the no-graph iterations of inference.

        Returns
        -------
        grad : Tensor of the shape of ``x``
        """
        with torch.enable_grad():
            grad, _ = cost.grad(x, y, observed_mask, create_graph=self.unrolled())
        return grad

    def init_state(self, cost, x0, y, observed_mask):
        """State carried across the iterations, before the first one.

        The default is None (a stateless solver).
        """
        return None

    def update(self, cost, x, y, observed_mask, state):
        """One iteration: the new state ``x`` and the new solver state.

        Parameters
        ----------
        cost : VariationalCost
        x : Tensor of shape (n_batch, *sample_shape)
            Current state.
        y : Tensor of the same shape
            Observations (0 where unobserved).
        observed_mask : Tensor of bool, same shape
            True where observed.
        state : object
            What the previous update returned (:meth:`init_state` at the first
            iteration).

        Returns
        -------
        x : Tensor of the same shape
        state : object
        """
        raise NotImplementedError

    def forward(self, cost, x0, y, observed_mask, n_iter, callback=None):
        """Run ``n_iter`` iterations of :meth:`update` from ``x0``.

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
            current (detached) state; used to record energy pathways
            (:func:`sklvar.diagnostics.energy_path`).

        Returns
        -------
        x_hat : Tensor of the same shape as ``x0``
        """
        observed_mask = observed_mask.to(torch.bool)
        keep_graph = self.unrolled()
        x = x0
        state = self.init_state(cost, x0, y, observed_mask)
        for k in range(n_iter):
            with self.update_context():
                x, state = self.update(cost, x, y, observed_mask, state)
            if not keep_graph:
                x = x.detach()
            if callback is not None:
                callback(k + 1, x.detach())
        return x
