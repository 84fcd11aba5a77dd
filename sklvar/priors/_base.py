"""Base class of the prior operators Phi."""

from torch import nn


class Prior(nn.Module):
    r"""Base class of a prior operator :math:`\Phi`, same shape in and out.

    The variational cost only uses :meth:`forward`; it computes
    :math:`\|x - \Phi(x)\|^2` and its gradient by automatic differentiation, so
    a new prior only has to implement ``forward``.

    Subclasses take the sample shape (channels first, see
    :class:`sklvar.utils.SampleLayout`) as first argument, then keyword-only
    options (the estimator's ``prior_params``).

    Attributes
    ----------
    periodic_axes : tuple of int
        Spatial axes (0-based among the spatial axes of the sample) on which the
        prior is periodic (circular padding); the LSTM solver pads the same
        axes circularly unless ``solver_params`` says otherwise.
    pretrainable : bool
        Whether the prior is trained by gradient descent on
        :math:`\|x - \Phi(x)\|^2` before the solver when ``joint=False``
        (sequential learning). Priors with a closed-form fit (PCA) set it to
        False and do their fit in :meth:`initialize_from_data`.
    """

    pretrainable = True
    periodic_axes = ()

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
