"""Base class of the prior operators Phi."""

import time

import torch
from torch import nn


class Prior(nn.Module):
    r"""Base class of a prior operator :math:`\Phi`, same shape in and out.

    The variational cost uses :meth:`forward` and :meth:`forward_vjp`
    (:math:`\Phi(x)` and the vector-Jacobian product
    :math:`v \mapsto J_\Phi(x)^\top v` that the gradient of
    :math:`\|x - \Phi(x)\|^2` needs). The default :meth:`forward_vjp`
    differentiates :meth:`forward` by autograd, so a new prior only has to
    implement ``forward``; a prior that writes its vector-Jacobian product by
    hand (``explicit_vjp = True``) makes training first-order (no double
    backward) and lets inference run without any graph.

    **Build protocol.** Subclasses take the sample shape (channels first, see
    :class:`sklvar.utils.SampleLayout`) as first argument, then keyword-only
    options (the estimator's ``prior_params``). The estimators construct a
    prior given by name (``prior="pca"``) or by class with :meth:`build` and
    adapt a prior given as an instance (a copy of it) with :meth:`bind`;
    :meth:`build` ends with :meth:`bind`. A prior that depends on the fitted
    data, such as the per-channel standardisation that the ODE priors need to
    run in physical units, reads it in :meth:`bind`, so it behaves the same by
    name, by class and as an instance.

    Attributes
    ----------
    periodic_axes : tuple of int
        Spatial axes (0-based among the spatial axes of the sample) on which the
        prior is periodic (circular padding); the LSTM solver pads the same
        axes circularly unless ``solver_params`` says otherwise.
    explicit_vjp : bool
        Whether :meth:`forward_vjp` is written with plain tensor operations
        (no ``torch.autograd.grad``), so that it also runs under
        ``torch.no_grad()``.
    """

    periodic_axes = ()
    explicit_vjp = False

    @classmethod
    def build(cls, layout, scaling, **params):
        """Construct the prior for a fitted sample layout and standardisation.

        This is the hook through which the estimators create every prior given
        by name or by class; the default calls ``cls(layout.shape, **params)``
        and then :meth:`bind`. Override it when the constructor needs more
        than the sample shape.

        Parameters
        ----------
        layout : SampleLayout
            Layout of one sample: ``layout.kind`` ("vector", "series" or
            "image") and ``layout.shape`` (channels first).
        scaling : Standardization
            The per-channel standardisation fitted by the estimator
            (``scaling.mean``, ``scaling.scale``): the prior sees
            ``(X - mean) / scale``.
        **params
            The estimator's ``prior_params``.

        Returns
        -------
        prior : Prior
        """
        return cls(layout.shape, **params).bind(layout, scaling)

    def bind(self, layout, scaling):
        """Adapt the prior to a fitted sample layout and standardisation.

        Called by :meth:`build` on a new prior and by the estimators on a copy
        of a prior passed as an instance. The default does nothing.

        Parameters
        ----------
        layout : SampleLayout
        scaling : Standardization

        Returns
        -------
        self : Prior
        """
        return self

    def forward(self, x):
        """Apply the operator.

        Parameters
        ----------
        x : Tensor of shape (n_batch, *sample_shape)
            States.

        Returns
        -------
        phi : Tensor of the same shape
        """
        raise NotImplementedError

    def forward_vjp(self, x, *, create_graph=False):
        r""":math:`\Phi(x)` and the map :math:`v \mapsto J_\Phi(x)^\top v`.

        The default evaluates :meth:`forward` and differentiates it by
        autograd; subclasses with ``explicit_vjp = True`` override it with
        tensor operations only.

        Parameters
        ----------
        x : Tensor of shape (n_batch, *sample_shape)
            States.
        create_graph : bool, default=False
            Keep the graph of the product, so that it can be differentiated
            again (training through the solver). Explicit implementations
            ignore it: their result is differentiable whenever autograd is on.

        Returns
        -------
        phi : Tensor of the same shape
            :math:`\Phi(x)`.
        vjp : callable
            ``vjp(v)`` returns :math:`J_\Phi(x)^\top v`, a Tensor of the shape
            of ``x``; call it once.
        """
        if not x.requires_grad:
            x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            phi = self(x)

        def vjp(v):
            (g,) = torch.autograd.grad(
                phi, x, grad_outputs=v, create_graph=create_graph, allow_unused=True
            )
            return torch.zeros_like(x) if g is None else g

        return phi, vjp

    def pretrain(self, x, observed_mask=None, *, max_epochs=10, batch_size=128,
                 lr=1e-3, device="cpu", callback=None, max_time=None):
        r"""Fit the prior alone before the solver (sequential learning).

        The estimators call it with ``joint=False`` (then freeze the prior).
        The default fits :math:`\|x - \Phi(x)\|^2` by Adam
        (:func:`pretrain_by_gradient`, same parameters). Priors with a
        closed-form fit in :meth:`initialize_from_data` (PCA) or with known
        physics (the ODE priors) override it with a no-op. The estimators pass
        ``max_time`` only when they have a time budget, so an override need
        not accept it otherwise.

        Returns
        -------
        losses : list of float
            Mean training loss of each epoch (empty when nothing is fitted).
        """
        return pretrain_by_gradient(
            self, x, observed_mask, max_epochs=max_epochs, batch_size=batch_size,
            lr=lr, device=device, callback=callback, max_time=max_time,
        )

    def initialize_from_data(self, x, observed_mask=None):
        """Data-dependent initialisation; the default does nothing.

        Parameters
        ----------
        x : Tensor of shape (n_samples, *sample_shape)
            Training states: complete true states, or observations filled by
            the initial strategy (then ``observed_mask`` tells which entries are
            real observations).
        observed_mask : Tensor of bool or None
            True where ``x`` is observed; None when ``x`` is complete.

        Returns
        -------
        self
        """
        return self


def pretrain_by_gradient(prior, x, observed_mask=None, *, max_epochs=10,
                         batch_size=128, lr=1e-3, device="cpu", callback=None,
                         max_time=None):
    """Fit a prior alone on :math:`\\|x - \\Phi(x)\\|^2` (sequential learning).

    Parameters
    ----------
    prior : Prior
        The prior, trained in place.
    x : Tensor of shape (n_samples, *sample_shape)
        Training states (complete, or filled observations).
    observed_mask : Tensor of bool or None
        When given, the error is measured on observed entries only.
    max_epochs, batch_size, lr : int, int, float
        Adam settings.
    device : str
    callback : callable or None, default=None
        Called as ``callback(epoch, loss)`` after each epoch (1-based epoch,
        mean training loss); the estimators print it with ``verbose``.
    max_time : float or None, default=None
        Budget in seconds: no epoch starts once it is spent (the estimators
        give half of their ``max_time`` to a non-joint prior's pre-training).

    Returns
    -------
    losses : list of float
        Mean training loss of each epoch.
    """
    prior.to(device).train()
    opt = torch.optim.Adam(prior.parameters(), lr=lr)
    n = x.shape[0]
    losses = []
    t0 = time.perf_counter()
    for epoch in range(max_epochs):
        if max_time is not None and time.perf_counter() - t0 >= max_time:
            break
        perm = torch.randperm(n)
        total = 0.0
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            xb = x[idx].to(device)
            sq = (xb - prior(xb)) ** 2
            if observed_mask is not None:
                mb = observed_mask[idx].to(device)
                sq = torch.where(mb, sq, torch.zeros_like(sq))
                loss = sq.sum() / mb.sum().clamp_min(1)
            else:
                loss = sq.mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(total / n)
        if callback is not None:
            callback(epoch + 1, losses[-1])
    return losses
