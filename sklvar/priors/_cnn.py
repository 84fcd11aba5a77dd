r"""Two-scale bilinear CNN prior (paper eq. 3, "2S-CNN")."""

import torch
import torch.nn.functional as F
from torch import nn

from ._base import Prior

# Layer sizes of the three 2S-CNNs of the authors' public code. Parameter
# counts: lorenz63 with 3 channels 15,300; lorenz96 on (1, 40, L) 52,150;
# mnist on (1, 28, 28) 155,900.
_PRESETS = {
    "lorenz63": dict(n_hidden=60, n_channels=30, kernel_size=11, hr_kernel_size=1,
                     pool_size=4, shared_output=False),
    "lorenz96": dict(n_hidden=50, n_channels=50, kernel_size=11, hr_kernel_size=1,
                     pool_size=(1, 4), shared_output=True),
    "mnist": dict(n_hidden=100, n_channels=50, kernel_size=11, hr_kernel_size=3,
                  pool_size=4, shared_output=False),
}
_PRESET_NAMES = ("auto",) + tuple(_PRESETS)


# Adjoints of convolutions with at most this many input channels run as a
# matrix product and a col2im (``_fold_sum``) in NCHW memory (see
# _SameConv._adjoint_fold).
_FOLD_MAX_CHANNELS = 4


def _pad_index(n, before, after, circular, device):
    """Indices that pad an axis of size ``n`` (circularly or by replication)."""
    idx = torch.arange(-before, n + after, device=device)
    return idx % n if circular else idx.clamp(0, n - 1)


def _fold_sum(cols):
    """``F.fold`` (col2im) with stride 1 and no padding, as shifted sums.

    ``cols`` of shape (n, c, kh, kw, h, w) holds each kernel tap's
    contribution; the result, of shape (n, c, h + kh - 1, w + kw - 1), adds
    tap (i, j) at offset (i, j). Summed one axis at a time (kw, then kh
    slice additions): 3.4-5x faster than ``F.fold`` on CPU for the 11 x 11
    taps of the first convolutions (``benchmarks/SPEED.md``); the sums are
    the same up to float rounding (another order of addition).
    """
    n, c, kh, kw, h, w = cols.shape
    rows = cols.new_zeros(n, c, kh, h, w + kw - 1)
    for j in range(kw):
        rows[..., j:j + w] += cols[:, :, :, j]
    out = cols.new_zeros(n, c, h + kh - 1, w + kw - 1)
    for i in range(kh):
        out[:, :, i:i + h] += rows[:, :, i]
    return out


def _index_pad(z, axis, before, after, circular):
    """Pad ``z`` along ``axis``; works for pads larger than the axis."""
    if before == 0 and after == 0:
        return z
    idx = _pad_index(z.shape[axis], before, after, circular, z.device)
    return z.index_select(axis, idx)


def _index_pad_adjoint(g, axis, n, before, after, circular):
    """Adjoint of :func:`_index_pad` for an axis of original size ``n``: the
    padded entries are summed back onto the entries they copy."""
    idx = _pad_index(n, before, after, circular, g.device)
    shape = list(g.shape)
    shape[axis] = n
    return g.new_zeros(shape).index_add(axis, idx, g)


class _SameConv(nn.Module):
    """Bias-free 2-D convolution with "same" output size.

    Zero padding on ordinary axes, circular padding on the periodic ones
    (``periodic`` holds the tensor axes 2 and/or 3).
    """

    # Set by the prior: keep every output in channels-last memory. A
    # one-channel tensor is contiguous in both formats, so oneDNN would give
    # the convolutions that follow it NCHW outputs (and its slower kernels).
    channels_last = False

    def __init__(self, in_channels, out_channels, kernel_size, periodic):
        super().__init__()
        self.kernel_size = tuple(kernel_size)
        self.periodic = tuple(periodic)
        zero_pad = tuple(
            0 if axis in self.periodic else k // 2
            for axis, k in zip((2, 3), self.kernel_size)
        )
        self.conv = nn.Conv2d(in_channels, out_channels, self.kernel_size,
                              padding=zero_pad, bias=False)

    def _circular_pad(self, z):
        for axis, k in zip((2, 3), self.kernel_size):
            if axis in self.periodic and k > 1:
                z = _index_pad(z, axis, k // 2, k // 2, circular=True)
        return z

    def forward(self, z, weight=None):
        """Apply the convolution (or one with ``weight``, e.g. a slice of it)."""
        weight = self.conv.weight if weight is None else weight
        out = F.conv2d(self._circular_pad(z), weight, padding=self.conv.padding)
        return self._format(out)

    def _format(self, out):
        if self.channels_last and out.shape[1] > 1:
            return out.contiguous(memory_format=torch.channels_last)
        return out

    def adjoint(self, g, weight=None):
        """Apply the transposed (adjoint) operator to ``g``.

        The adjoint of a stride-1 "same" correlation with an odd kernel (zero
        or circular padding) is the same correlation with the kernel flipped
        and its channel axes swapped.
        """
        weight = self.conv.weight if weight is None else weight
        if weight.shape[1] <= _FOLD_MAX_CHANNELS:
            if g.is_contiguous():
                return self._adjoint_fold(g, weight)
            # images with one state channel, channels-last: the fold is faster
            # there too (MNIST's 11 x 11 adjoint: 81 against 127 ms, 1 thread)
            if self.channels_last and weight.shape[1] == 1 and g.shape[2] > 1 \
                    and weight.shape[2] * weight.shape[3] > 1:
                return self._adjoint_fold(g, weight, cols_by_conv=True)
        return self(g, weight.transpose(0, 1).flip((2, 3)))

    def _adjoint_fold(self, g, weight, cols_by_conv=False):
        """The adjoint as a matrix product and a col2im (:func:`_fold_sum`).

        For few output channels (the adjoint of the first convolution maps the
        hidden channels back to the state's 1-3 channels) oneDNN's NCHW
        convolution runs far below its peak; ``W^T g`` is one well-shaped
        matrix product, and ``fold`` sums the kernel taps back onto the padded
        grid, whose circular borders are then wrapped (the adjoint of the
        circular pad). In channels-last memory the flipped convolution is the
        faster one for series and is kept there; for images with one state
        channel, ``W^T g`` runs as a channels-last 1x1 convolution
        (``cols_by_conv``) before the fold (``benchmarks/IMPLEMENTATION_TIMINGS.md``).
        """
        n, c_out, h, w = g.shape
        c_in, kh, kw = weight.shape[1:]
        if cols_by_conv:
            # channels-last g (images with one state channel): W^T g as a 1x1
            # convolution, oneDNN's fast channels-last kernel, then to NCHW
            w_t = weight.reshape(c_out, -1).t()[:, :, None, None]
            cols = F.conv2d(g, w_t.contiguous(memory_format=torch.channels_last))
            cols = cols.contiguous().reshape(n, c_in * kh * kw, h * w)
        else:
            cols = torch.matmul(weight.reshape(c_out, -1).t(),
                                g.reshape(n, c_out, h * w))
        circular = [axis in self.periodic and k > 1 for axis, k in ((2, kh), (3, kw))]
        out = _fold_sum(cols.view(n, c_in, kh, kw, h, w))
        for axis, n_axis, k, circ in zip((2, 3), (h, w), (kh, kw), circular):
            if circ:  # the circular pad's adjoint wraps the border back
                out = _index_pad_adjoint(out, axis, n_axis, k // 2, k // 2, True)
            else:  # zero padding: the padded border is dropped
                out = out.narrow(axis, k // 2, n_axis)
        return out


class _Bilinear(nn.Module):
    r"""Bilinear block :math:`z \mapsto [A z, (B z) \odot (C z)]`.

    A, B and C are bias-free convolutions from ``channels`` to ``channels``,
    stored as one convolution ``abc`` with ``3 * channels`` outputs; the
    output has ``2 * channels`` channels.
    """

    def __init__(self, channels, kernel_size, periodic):
        super().__init__()
        self.abc = _SameConv(channels, 3 * channels, kernel_size, periodic)

    def parts(self, z):
        """``(A z, B z, C z)``, each computed by its own convolution.

        Three convolutions instead of one and a split: in channels-last memory
        the channel slices of a fused output are strided, and the products and
        concatenations on them cost more than the convolutions saved.
        """
        return tuple(self.abc(z, w) for w in self.abc.conv.weight.chunk(3, dim=0))

    def forward(self, z):
        a, b, c = self.parts(z)
        return torch.cat([a, b * c], dim=1)


def _pair(value, name, spatial_ndim):
    """Per-axis sizes of the internal 2-D layout (series use (1, L))."""
    if isinstance(value, int):
        sizes = (1, value) if spatial_ndim == 1 else (value, value)
    else:
        sizes = tuple(int(v) for v in value)
        if spatial_ndim == 1 and len(sizes) == 1:
            sizes = (1,) + sizes
        if len(sizes) != 2 or (spatial_ndim == 1 and sizes[0] != 1):
            expected = "an int" if spatial_ndim == 1 else "an int or a pair of ints"
            raise ValueError(
                f"prior_params[{name!r}] must be {expected} for a "
                f"{'series' if spatial_ndim == 1 else 'image'} sample, got {value!r}."
            )
    if any(s < 1 for s in sizes):
        raise ValueError(f"prior_params[{name!r}] must be positive, got {value!r}.")
    return sizes


class TwoScaleCNNPrior(Prior):
    r"""Two-scale bilinear CNN :math:`\Phi(x) = Up(\Phi_1(Dw(x))) + \Phi_2(x)`.

    The paper's eq. 3: a low-resolution branch :math:`\Phi_1` on the average
    pooled state :math:`Dw(x)`, brought back by a strided transposed
    convolution :math:`Up`, plus a full-resolution branch :math:`\Phi_2`. Each
    branch is

    ``conv(k) -> ReLU -> conv -> bilinear block -> conv``

    where the bilinear block maps :math:`z` to
    :math:`[A(z), B(z) \odot C(z)]` (A, B, C convolutions, Fablet et al. 2018).
    All convolutions are bias-free. Series (sample shape ``(C, L)``) use 1-D
    convolutions along time, images (``(C, H, W)``) 2-D convolutions.

    Parameters
    ----------
    shape : tuple of int
        Sample shape, channels first: ``(C, L)`` (series) or ``(C, H, W)``
        (image). Plain vectors are rejected.
    preset : {"auto", "lorenz63", "lorenz96", "mnist"}, default="auto"
        Default layer sizes, those of the networks of the authors' public
        code; every size below that is None comes from it:

        - ``"lorenz63"``: ``n_hidden=60, n_channels=30, kernel_size=11,
          hr_kernel_size=1, pool_size=4, shared_output=False`` (15,300
          parameters for 3 channels);
        - ``"lorenz96"``: ``n_hidden=50, n_channels=50, kernel_size=11,
          hr_kernel_size=1, pool_size=(1, 4), shared_output=True`` (52,150
          parameters for ``(1, 40, L)``; pooling along time only);
        - ``"mnist"``: ``n_hidden=100, n_channels=50, kernel_size=11,
          hr_kernel_size=3, pool_size=4, shared_output=False`` (155,900
          parameters for ``(1, 28, 28)``);
        - ``"auto"``: ``"lorenz63"`` for series, ``"lorenz96"`` for images
          with ``periodic_axes``, ``"mnist"`` for other images.
    n_hidden : int or None, default=None
        Output channels of the first convolution of each branch (followed by
        a ReLU).
    n_channels : int or None, default=None
        Channels of the bilinear blocks (their output has twice as many).
    kernel_size : int or pair of int or None, default=None
        Kernel of the first convolution of each branch (odd); an int is used
        along every spatial axis.
    hr_kernel_size : int or None, default=None
        Kernel of the other convolutions of the full-resolution branch (odd);
        those of the low-resolution branch are 1x1.
    pool_size : int or pair of int or None, default=None
        Down-sampling factor of :math:`Dw` (average pooling) and of :math:`Up`
        (a transposed convolution with kernel = stride = ``pool_size``). An int
        pools along time for series and along both axes for images. An axis
        whose length is not a multiple of the factor is padded (by replication,
        circularly on periodic axes) before pooling and cropped after
        :math:`Up`, so any sample size works.
    shared_output : bool or None, default=None
        False: each branch ends with a convolution to the state channels and
        the two are added. True: each branch ends with ``n_channels`` channels
        and a 1x1 convolution maps their sum to the state channels (the
        authors' Lorenz-96 network).
    periodic_axes : tuple of int, default=()
        Spatial axes (0-based among the sample's spatial axes) with circular
        padding, e.g. ``(0,)`` for the component axis of Lorenz-96 stored as
        an image ``(1, 40, L)``. The LSTM solver pads the same axes
        circularly.
    channels_last : bool or "auto", default="auto"
        Run the convolutions in channels-last memory format; ``"auto"`` is
        True for series and for images whose full-resolution kernels are
        wider than 1x1 (``hr_kernel_size > 1``, the MNIST preset), False for
        other images (the Lorenz-96 preset). Series always run as
        ``(B, C, 1, L)`` images through 2-D convolutions, where oneDNN's
        channels-last kernels are faster on CPU; on MNIST's 3x3 layers they
        are 2.3x faster, on Lorenz-96's 1x1 layers slightly slower
        (``benchmarks/IMPLEMENTATION_TIMINGS.md``). Numerically the same
        network.

    Notes
    -----
    The network can represent the identity, so pre-training it alone on
    :math:`\|x - \Phi(x)\|^2` (``joint=False``) may learn a meaningless
    prior (paper, footnote 5); train it jointly with the solver.

    Examples
    --------
    >>> import torch
    >>> from sklvar.priors import TwoScaleCNNPrior
    >>> prior = TwoScaleCNNPrior((3, 200))  # the authors' Lorenz-63 network
    >>> sum(p.numel() for p in prior.parameters())
    15300
    >>> prior(torch.zeros(2, 3, 37)).shape  # any length
    torch.Size([2, 3, 37])
    """

    explicit_vjp = True

    def __init__(self, shape, *, preset="auto", n_hidden=None, n_channels=None,
                 kernel_size=None, hr_kernel_size=None, pool_size=None,
                 shared_output=None, periodic_axes=(), channels_last="auto"):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        if len(self.shape) not in (2, 3):
            raise ValueError(
                "prior='cnn' needs a series (C, L) or image (C, H, W) sample; got "
                f"sample shape {self.shape}. Set sample_shape (and layout) or window."
            )
        spatial_ndim = len(self.shape) - 1
        self.periodic_axes = tuple(int(a) for a in periodic_axes)
        if any(not 0 <= a < spatial_ndim for a in self.periodic_axes):
            raise ValueError(
                f"prior_params['periodic_axes'] must index the {spatial_ndim} spatial "
                f"axes of a sample of shape {self.shape}, got {periodic_axes!r}."
            )
        if preset not in _PRESET_NAMES:
            raise ValueError(
                f"prior_params['preset'] must be one of {_PRESET_NAMES}, got "
                f"{preset!r}."
            )
        if preset == "auto":
            if spatial_ndim == 1:
                preset = "lorenz63"
            else:
                preset = "lorenz96" if self.periodic_axes else "mnist"
        self.preset = preset
        given = dict(n_hidden=n_hidden, n_channels=n_channels, kernel_size=kernel_size,
                     hr_kernel_size=hr_kernel_size, pool_size=pool_size,
                     shared_output=shared_output)
        cfg = {k: (_PRESETS[preset][k] if v is None else v) for k, v in given.items()}
        for name in ("n_hidden", "n_channels"):
            if int(cfg[name]) < 1:
                raise ValueError(
                    f"prior_params[{name!r}] must be a positive int, got {cfg[name]!r}."
                )
        kernel = _pair(cfg["kernel_size"], "kernel_size", spatial_ndim)
        hr_kernel = _pair(cfg["hr_kernel_size"], "hr_kernel_size", spatial_ndim)
        if any(k % 2 == 0 for k in kernel + hr_kernel):
            raise ValueError(
                "prior_params['kernel_size'] and ['hr_kernel_size'] must be odd, got "
                f"{cfg['kernel_size']!r} and {cfg['hr_kernel_size']!r}."
            )
        self.pool_size = _pair(cfg["pool_size"], "pool_size", spatial_ndim)
        self.shared_output = bool(cfg["shared_output"])
        if channels_last not in ("auto", True, False):
            raise ValueError(
                "prior_params['channels_last'] must be True, False or 'auto', got "
                f"{channels_last!r}."
            )
        if channels_last == "auto":
            # series; images whose full-resolution convolutions are wider than
            # 1x1 (MNIST: 1.3x faster); on Lorenz-96's 1x1 layers NHWC was slower
            channels_last = spatial_ndim == 1 or max(hr_kernel) > 1
        self.channels_last = bool(channels_last)
        self.n_hidden, self.n_channels = int(cfg["n_hidden"]), int(cfg["n_channels"])
        self.kernel_size, self.hr_kernel_size = kernel, hr_kernel
        # tensor axes (of the internal (B, C, H, W) layout) that are periodic
        offset = 3 if spatial_ndim == 1 else 2
        self._periodic = tuple(offset + a for a in self.periodic_axes)

        c, h, f = self.shape[0], self.n_hidden, self.n_channels
        per = self._periodic
        out = f if self.shared_output else c
        one = (1, 1)
        self.low = nn.Sequential(
            _SameConv(c, h, kernel, per), nn.ReLU(),
            _SameConv(h, f, one, per),
            _Bilinear(f, one, per),
            _SameConv(2 * f, f, one, per),
        )
        self.up = nn.ConvTranspose2d(f, out, self.pool_size, stride=self.pool_size,
                                     bias=False)
        self.high = nn.Sequential(
            _SameConv(c, h, kernel, per), nn.ReLU(),
            _SameConv(h, f, hr_kernel, per),
            _Bilinear(f, hr_kernel, per),
            _SameConv(2 * f, out, hr_kernel, per),
        )
        self.output = (
            nn.Conv2d(f, c, 1, bias=False) if self.shared_output else nn.Identity()
        )
        for module in self.modules():
            if isinstance(module, _SameConv):
                module.channels_last = self.channels_last

    def _down(self, z):
        """Pad to a multiple of the pooling factor, then average-pool."""
        for axis, p in zip((2, 3), self.pool_size):
            extra = -z.shape[axis] % p
            if extra:
                z = _index_pad(z, axis, 0, extra, circular=axis in self._periodic)
        return F.avg_pool2d(z, self.pool_size)

    def _down_adjoint(self, g, size):
        """Adjoint of :meth:`_down` for inputs of spatial size ``size``."""
        ph, pw = self.pool_size
        g = g.repeat_interleave(ph, 2).repeat_interleave(pw, 3) / (ph * pw)
        for axis, p, n in zip((2, 3), self.pool_size, size):
            extra = -n % p
            if extra:
                g = _index_pad_adjoint(g, axis, n, 0, extra, axis in self._periodic)
        return g

    @staticmethod
    def _branch(branch, z, keep=False):
        r"""Run a branch; with ``keep``, also what its adjoint needs.

        The last convolution, on :math:`[a, b \odot c]`, runs as two
        convolutions on ``a`` and ``b * c`` (its weight split by input
        channel) and a sum: no concatenation (see :meth:`_Bilinear.parts`).
        """
        conv1, _, conv2, bilinear, conv3 = branch
        pre = conv1(z)
        a, b, c = bilinear.parts(conv2(F.relu(pre)))
        w_a, w_bc = conv3.conv.weight.chunk(2, dim=1)
        out = conv3(a, w_a) + conv3(b * c, w_bc)
        return out, ((pre, b, c) if keep else None)

    @staticmethod
    def _branch_adjoint(branch, saved, g):
        """Vector-Jacobian product of a branch, from what :meth:`_branch` kept."""
        conv1, _, conv2, bilinear, conv3 = branch
        pre, b, c = saved
        w_a, w_bc = conv3.conv.weight.chunk(2, dim=1)
        g_a = conv3.adjoint(g, w_a)
        g_bc = conv3.adjoint(g, w_bc)
        w_a, w_b, w_c = bilinear.abc.conv.weight.chunk(3, dim=0)
        g = (bilinear.abc.adjoint(g_a, w_a) + bilinear.abc.adjoint(g_bc * c, w_b)
             + bilinear.abc.adjoint(g_bc * b, w_c))
        g = conv2.adjoint(g)
        # ReLU's derivative, with the kernel autograd uses for it (fast in
        # channels-last memory, and differentiable again)
        g = torch.ops.aten.threshold_backward(g, pre, 0.0)
        return conv1.adjoint(g)

    def _as_image(self, x):
        z = x.unsqueeze(2) if x.dim() == 3 else x
        if self.channels_last:
            z = z.contiguous(memory_format=torch.channels_last)
        return z

    def _phi(self, x, keep):
        z = self._as_image(x)
        height, width = z.shape[2:]
        d = self._down(z)
        low, saved_low = self._branch(self.low, d, keep)
        low = self.up(low)[:, :, :height, :width]
        high, saved_high = self._branch(self.high, z, keep)
        out = self.output(low + high).reshape(x.shape)
        return out, (saved_low, saved_high, d.shape[2:], (height, width))

    def forward(self, x):
        """Apply :math:`\\Phi`.

        Parameters
        ----------
        x : Tensor of shape (n_batch, C, L) or (n_batch, C, H, W)
            States (the prior's sample shape).

        Returns
        -------
        phi : Tensor of the same shape
        """
        return self._phi(x, keep=False)[0]

    def forward_vjp(self, x, *, create_graph=False):
        r""":math:`\Phi(x)` and its vector-Jacobian product, written by hand.

        The product runs the transposed convolutions of both branches (no
        ``torch.autograd.grad``), so differentiating it during training is a
        first-order backward. See :meth:`Prior.forward_vjp`.
        """
        phi, (saved_low, saved_high, pooled, size) = self._phi(x, keep=True)

        def vjp(v):
            g = self._as_image(v)
            if self.shared_output:
                g = F.conv2d(g, self.output.weight.transpose(0, 1))
            g_high = self._branch_adjoint(self.high, saved_high, g)
            # Up is cropped to ``size``: its adjoint zero-pads back, then the
            # transposed convolution's adjoint is a strided convolution.
            full = [n * p for n, p in zip(pooled, self.pool_size)]
            g = F.pad(g, (0, full[1] - size[1], 0, full[0] - size[0]))
            g = F.conv2d(g, self.up.weight, stride=self.pool_size)
            if self.channels_last:  # g had one channel: NCHW output otherwise
                g = g.contiguous(memory_format=torch.channels_last)
            g = self._branch_adjoint(self.low, saved_low, g)
            return (g_high + self._down_adjoint(g, size)).reshape(x.shape)

        return phi, vjp
