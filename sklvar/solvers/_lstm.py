"""Learned gradient-based solver: an (conv-)LSTM turns the gradient into updates."""

import torch
import torch.nn.functional as F
from torch import nn

from ._base import Solver, check_normalization, gradient_scale


def _tanh_no_grad(t):
    """tanh as ``2 sigmoid(2t) - 1``, for inference (no graph).

    Within 2e-7 of ``torch.tanh``, and faster than it on CPU
    (``benchmarks/IMPLEMENTATION_TIMINGS.md``); training keeps ``torch.tanh``.
    """
    return torch.sigmoid(t * 2).mul_(2).sub_(1)


class ConvLSTMCell(nn.Module):
    """LSTM cell whose gates are one convolution over ``[input, hidden]``.

    Gates in the order input, forget, output, candidate; sigmoid on the first
    three and tanh on the candidate; no peepholes (as in the authors' public
    code).

    Parameters
    ----------
    in_channels, hidden_channels : int
        Channels of the input and of the hidden state.
    spatial_ndim : {0, 1, 2}
        0: dense cell (a linear layer, for plain vectors); 1: Conv1d along time;
        2: Conv2d.
    kernel_size : int, default=3
        Convolution kernel size (ignored when ``spatial_ndim == 0``).
    periodic_axes : tuple of int, default=()
        Spatial axes (0-based among the spatial axes) padded circularly instead
        of with zeros (e.g. the component axis of Lorenz-96).
    """

    def __init__(self, in_channels, hidden_channels, spatial_ndim, *, kernel_size=3,
                 periodic_axes=()):
        super().__init__()
        self.hidden_channels = int(hidden_channels)
        self.spatial_ndim = int(spatial_ndim)
        self.kernel_size = int(kernel_size)
        n_in = in_channels + self.hidden_channels
        n_out = 4 * self.hidden_channels
        if self.spatial_ndim == 0:
            self.gates = nn.Linear(n_in, n_out)
        elif self.spatial_ndim in (1, 2):
            if self.kernel_size < 1 or self.kernel_size % 2 == 0:
                raise ValueError(
                    "solver_params['kernel_size'] must be a positive odd int, got "
                    f"{kernel_size!r}."
                )
            conv = nn.Conv1d if self.spatial_ndim == 1 else nn.Conv2d
            self.gates = conv(n_in, n_out, self.kernel_size)
        else:
            raise ValueError(f"spatial_ndim must be 0, 1 or 2, got {spatial_ndim!r}.")
        self.set_periodic_axes(periodic_axes)

    def set_periodic_axes(self, periodic_axes):
        """Set the spatial axes padded circularly (no parameter changes)."""
        periodic_axes = tuple(int(a) for a in periodic_axes)
        if any(not 0 <= a < max(self.spatial_ndim, 1) for a in periodic_axes):
            raise ValueError(
                f"periodic_axes must index the {self.spatial_ndim} spatial axes, got "
                f"{periodic_axes!r}."
            )
        self.periodic_axes = periodic_axes

    def _gates(self, z):
        """The gate convolution, with "same" padding.

        Zero padding is done by the convolution itself (no padded copy of
        ``z``); only the periodic axes are padded circularly beforehand.
        """
        if self.spatial_ndim == 0:
            return self.gates(z)
        p = self.kernel_size // 2
        padding = []
        for axis in range(self.spatial_ndim):
            if axis in self.periodic_axes and p > 0:
                # F.pad takes pads from the last axis backwards
                pads = [0, 0] * self.spatial_ndim
                i = 2 * (self.spatial_ndim - 1 - axis)
                pads[i] = pads[i + 1] = p
                z = F.pad(z, pads, mode="circular")
                padding.append(0)
            else:
                padding.append(p)
        conv = F.conv1d if self.spatial_ndim == 1 else F.conv2d
        return conv(z, self.gates.weight, self.gates.bias, padding=tuple(padding))

    def forward(self, x, state=None):
        """One step.

        Parameters
        ----------
        x : Tensor of shape (n_batch, in_channels, *spatial)
            Input.
        state : tuple of Tensor or None
            ``(h, c)``, each of shape (n_batch, hidden_channels, *spatial);
            None starts from zeros.

        Returns
        -------
        h, c : Tensor
            The new hidden and cell states.
        """
        if state is None:
            shape = (x.shape[0], self.hidden_channels) + tuple(x.shape[2:])
            h = x.new_zeros(shape)
            c = x.new_zeros(shape)
        else:
            h, c = state
        # Conv1d on (B, C, L), not a channels-last Conv2d: the faster whole step
        # (benchmarks/IMPLEMENTATION_TIMINGS.md)
        z = self._gates(torch.cat([x, h], dim=1))
        i, f, o, g = z.chunk(4, dim=1)
        tanh = torch.tanh if torch.is_grad_enabled() else _tanh_no_grad
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * tanh(g)
        h = torch.sigmoid(o) * tanh(c)
        return h, c


class LSTMSolver(Solver):
    r"""Learned solver of the paper (eq. 4), "LSTM-S".

    .. math::

        h^{(k+1)}, c^{(k+1)} = \mathrm{LSTM}(\alpha \nabla U(x^{(k)}),
                                            h^{(k)}, c^{(k)}),
        \qquad x^{(k+1)} = x^{(k)} - \mathcal{H}(h^{(k+1)})

    The LSTM cell is convolutional along the sample's spatial axes (kernel 3),
    dense for plain vectors; :math:`\mathcal{H}` is a bias-free linear map (a
    1x1 convolution) from the hidden channels to the state channels; the state
    starts at zero.

    Two departures from the authors' code, both measured on Lorenz-63 with
    the RK4 prior (error on the missing entries 29.5 with the reference
    choices, against 2.33 for linear interpolation and 1.17 with both
    changes):

    - :math:`\mathcal{H}` starts at zero (``zero_init_output=True``), so the
      untrained solver returns its initial state instead of random updates;
    - :math:`\alpha_k = \min(\alpha_{k-1}, 1/\mathrm{RMS}(\nabla U(x^{(k)})))`
      (``alpha_update="min"``): the paper's :math:`\alpha` computed at
      :math:`x^{(0)}` whenever the gradient shrinks, but never blown up when the
      gradient grows after the first step (the initial gradient can be 15-40x
      smaller than the next one, which saturates the LSTM).
      ``alpha_update="once"`` gives the reference behaviour.

    Parameters
    ----------
    shape : tuple of int
        Shape of one sample, channels first: ``(D,)`` for vectors (each feature
        a channel), ``(C, L)`` for series, ``(C, H, W)`` for images.
    hidden_per_channel : int, default=5
        Hidden channels per state channel (the paper's 5). For plain vectors
        with many features the hidden size is capped at ``max_hidden``.
    max_hidden : int, default=512
        Cap on the hidden size of the dense (vector) cell.
    kernel_size : int, default=3
        Kernel of the convolutional cell.
    normalization : {"sample", "batch"}, default="sample"
        Gradient normalisation, see :func:`gradient_scale`.
    periodic_axes : tuple of int or None, default=None
        Spatial axes with circular padding. None takes the prior's
        ``periodic_axes`` when the solver is built or bound to a prior
        (:meth:`bind`), and no circular axis before.
    zero_init_output : bool, default=True
        Start :math:`\mathcal{H}` at zero (False: PyTorch's default init).
    alpha_update : {"min", "once"}, default="min"
        How the normalisation :math:`\alpha` evolves over the iterations.
    """

    def __init__(self, shape, *, hidden_per_channel=5, max_hidden=512, kernel_size=3,
                 normalization="sample", periodic_axes=None, zero_init_output=True,
                 alpha_update="min"):
        super().__init__()
        shape = tuple(shape)
        self.normalization = check_normalization(normalization)
        if alpha_update not in ("min", "once"):
            raise ValueError(
                "solver_params['alpha_update'] must be 'min' or 'once', got "
                f"{alpha_update!r}."
            )
        self.alpha_update = alpha_update
        n_channels, spatial_ndim = shape[0], len(shape) - 1
        if int(hidden_per_channel) < 1:
            raise ValueError(
                "solver_params['hidden_per_channel'] must be >= 1, got "
                f"{hidden_per_channel!r}."
            )
        hidden = int(hidden_per_channel) * n_channels
        if spatial_ndim == 0:
            hidden = min(hidden, int(max_hidden))
        self.periodic_axes = None if periodic_axes is None else tuple(periodic_axes)
        self.cell = ConvLSTMCell(
            n_channels, hidden, spatial_ndim, kernel_size=kernel_size,
            periodic_axes=self.periodic_axes or (),
        )
        if spatial_ndim == 0:
            self.output = nn.Linear(hidden, n_channels, bias=False)
        else:
            conv = nn.Conv1d if spatial_ndim == 1 else nn.Conv2d
            self.output = conv(hidden, n_channels, 1, bias=False)
        if zero_init_output:
            nn.init.zeros_(self.output.weight)

    @classmethod
    def build(cls, layout, prior, **params):
        """Construct for ``layout.shape``; see :meth:`Solver.build`."""
        return cls(layout.shape, **params).bind(layout, prior)

    def bind(self, layout, prior):
        """Pad the prior's periodic axes circularly unless ``periodic_axes`` is set."""
        if self.periodic_axes is None:
            self.cell.set_periodic_axes(getattr(prior, "periodic_axes", ()))
        return self

    def update(self, cost, x, y, observed_mask, state):
        alpha, hidden = (None, None) if state is None else state
        grad = self.gradient(cost, x, y, observed_mask)
        if alpha is None:
            alpha = gradient_scale(grad, self.normalization)
        elif self.alpha_update == "min":
            alpha = torch.minimum(alpha, gradient_scale(grad, self.normalization))
        hidden = self.cell(alpha * grad, hidden)
        return x - self.output(hidden[0]), (alpha, hidden)
