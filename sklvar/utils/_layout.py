"""How one row of the user's 2-D ``X`` maps onto the tensor layout of a sample."""

import warnings
from dataclasses import dataclass

import numpy as np

_LAYOUT_KINDS = ("vector", "series", "image")


@dataclass(frozen=True)
class SampleLayout:
    """Tensor layout of one sample, channels first.

    Parameters
    ----------
    kind : {"vector", "series", "image", "table"}
        ``"vector"``: a plain feature vector, shape ``(n_features,)``; every
        feature is a channel and there is no spatial axis. ``"table"``: the
        whole of ``X`` is one multivariate series (rows are time steps,
        columns are series), imputed at once without windows; ``shape`` is
        ``(n_features,)``. ``"series"``: a
        multichannel series ``(C, L)``, convolutions run along time (the last
        axis). ``"image"``: ``(C, H, W)``, 2-D convolutions.
    shape : tuple of int
        Shape of one sample, channels first.
    window : int or None
        Window length when one long series is cut into windows (rows of ``X``
        are time steps); None when each row of ``X`` is one sample.
    """

    kind: str
    shape: tuple
    window: int | None = None

    @property
    def n_channels(self):
        """Number of channels (the first axis of :attr:`shape`)."""
        return self.shape[0]

    @property
    def spatial_ndim(self):
        """Number of spatial axes: 0 for vectors, 1 for series, 2 for images."""
        return len(self.shape) - 1

    @property
    def size(self):
        """Number of entries in one sample."""
        return int(np.prod(self.shape))

    def describe(self):
        """One line naming the layout, e.g. ``"series, sample shape (3, 200)"``."""
        text = f"{self.kind}, sample shape {self.shape}"
        if self.window is not None:
            text += f", windows of {self.window} rows of X"
        return text

    def default_block(self):
        """Block shape used to hide observed entries in self-supervised training.

        Contiguous blocks along the spatial axes (about a tenth of each axis,
        gaps in time for series, square patches for images); single entries for
        vectors. Channels are hidden independently.
        """
        if self.spatial_ndim == 0:
            return (1,)
        return (1,) + tuple(max(1, n // 10) for n in self.shape[1:])


def resolve_layout(n_features, *, sample_shape=None, layout="auto", window=None):
    """Resolve the estimator parameters into a :class:`SampleLayout`.

    Parameters
    ----------
    n_features : int
        Number of columns of ``X``.
    sample_shape : tuple of int or None
        Shape of one row of ``X`` as a sample: ``(H, W)`` or ``(C, H, W)`` for
        images, ``(C, L)`` for series with ``layout="series"``.
    layout : {"auto", "vector", "series", "image"}
        ``"auto"`` means: ``"series"`` when ``window`` is set, ``"vector"``
        when ``sample_shape`` is None or has one entry, ``"image"`` when it has
        three. A ``sample_shape`` of two entries is ambiguous (an ``(H, W)``
        image or ``(C, L)`` series): ``"auto"`` reads it as a one-channel
        image ``(1, H, W)``, as before, and warns; pass ``layout="image"`` or
        ``layout="series"`` to choose and silence the warning. ``"series"``
        without ``sample_shape`` nor ``window`` resolves to ``"table"``: X is
        one multivariate series, rows are time steps.
    window : int or None
        Window length when ``X`` is one long series (rows are time steps).

    Returns
    -------
    layout : SampleLayout

    Warns
    -----
    UserWarning
        When ``layout="auto"`` and ``sample_shape`` has two entries.
    """
    if layout not in ("auto",) + _LAYOUT_KINDS:
        raise ValueError(
            f"layout must be one of {('auto',) + _LAYOUT_KINDS}, got {layout!r}."
        )
    if window is not None:
        if sample_shape is not None:
            raise ValueError(
                "sample_shape must be None when window is set (each row of X is "
                f"one time step); got sample_shape={sample_shape!r}, window={window}."
            )
        if layout in ("auto", "series"):
            return SampleLayout("series", (n_features, int(window)), int(window))
        if layout == "image":
            return SampleLayout("image", (1, n_features, int(window)), int(window))
        raise ValueError(
            f"layout='vector' cannot be used with window={window}; expected "
            "'series', 'image' or 'auto'."
        )
    if sample_shape is None:
        if layout in ("auto", "vector"):
            return SampleLayout("vector", (n_features,))
        if layout == "series":
            return SampleLayout("table", (n_features,))
        raise ValueError(
            f"layout={layout!r} needs sample_shape (the shape of one row as a "
            "sample) or window; got sample_shape=None and window=None."
        )
    try:
        shape = tuple(int(s) for s in sample_shape)
    except TypeError as exc:
        raise ValueError(
            f"sample_shape must be a tuple of positive ints, got {sample_shape!r}."
        ) from exc
    if any(s < 1 for s in shape) or not 1 <= len(shape) <= 3:
        raise ValueError(
            "sample_shape must hold 1 to 3 positive ints, got "
            f"sample_shape={sample_shape!r}."
        )
    if int(np.prod(shape)) != n_features:
        raise ValueError(
            f"sample_shape={shape} holds {int(np.prod(shape))} entries but X has "
            f"{n_features} features; expected prod(sample_shape) == n_features."
        )
    if layout == "vector" or len(shape) == 1:
        if layout not in ("auto", "vector"):
            raise ValueError(
                f"layout={layout!r} needs a sample_shape of length 2 or 3, got {shape}."
            )
        return SampleLayout("vector", (n_features,))
    if layout == "series":
        if len(shape) != 2:
            raise ValueError(
                f"layout='series' expects sample_shape=(C, L), got {shape}."
            )
        return SampleLayout("series", shape)
    # "auto" or "image"
    if len(shape) == 2:
        if layout == "auto":
            # gh-19: (3, 200), three series of 200 steps, silently built the
            # 2-D model, far slower than layout="series"
            # (benchmarks/IMPLEMENTATION_TIMINGS.md)
            warnings.warn(
                f"sample_shape={shape} with layout='auto' is read as a one-channel "
                f"image of shape {(1,) + shape} (2-D convolutions); if each row "
                f"holds {shape[0]} series of {shape[1]} time steps, pass "
                "layout='series'. Pass layout='image' or layout='series' "
                "explicitly to silence this warning.",
                UserWarning,
                stacklevel=2,
            )
        shape = (1,) + shape
    return SampleLayout("image", shape)
