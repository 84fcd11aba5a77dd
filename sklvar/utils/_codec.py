"""The fitted sample codec of the estimators: 2-D arrays <-> standardised samples.

numpy only, so that the torch-free dictionary baseline shares it.
"""

import warnings
from dataclasses import dataclass
from numbers import Real

import numpy as np

from ._masks import linear_fill
from ._windows import WindowStitcher, cut_windows, window_starts

_INITIAL_STRATEGIES = ("mean", "linear")


@dataclass(frozen=True, eq=False)
class Standardization:
    """Per-channel standardisation fitted by an estimator: ``(X - mean) / scale``.

    Parameters
    ----------
    mean, scale : ndarray of shape (n_channels,)
        Mean and standard deviation of the observed training values of each
        channel (a feature, a series variable or an image channel).
    constant : ndarray of bool of shape (n_channels,) or None, default=None
        Channels whose observed training values are all equal (to ``mean``):
        :meth:`SampleCodec.destandardize` returns ``mean`` there exactly,
        whatever the model predicts. None: no constant channel.
    """

    mean: np.ndarray
    scale: np.ndarray
    constant: np.ndarray = None


class SampleCodec:
    """Fitted map between the user's 2-D arrays and the model's samples.

    Both estimators (:class:`~sklvar.VariationalImputer` and
    :class:`~sklvar.DictionaryImputer`) fit one at ``fit`` and expose it as
    ``codec_``; their ``transform``, :mod:`sklvar.diagnostics`,
    :mod:`sklvar.plotting` and the benchmarks all go through it, so they see
    the data exactly as the model does. It holds:

    - the sample **layout** (:class:`SampleLayout`: vector, series, image or
      table; the shape of one sample, channels first);
    - the per-channel **standardisation** (:class:`Standardization`), fitted
      on the observed training values;
    - the **windows** of one long series (``layout.window`` and ``stride``)
      and the triangular-weight **stitching** that puts them back together;
    - the **initial fill** of the solver (``initial_strategy``: the mean, 0
      in standardised units, or linear interpolation along the last axis).

    An array ``X`` of shape (n_rows, n_features) becomes standardised samples
    of shape (n_samples, \\*layout.shape) with :meth:`encode`; model outputs
    go back with :meth:`decode`; :meth:`apply` runs a function of sample
    batches over a whole array in bounded memory.

    Parameters
    ----------
    layout : SampleLayout
        Resolved layout of one sample.
    scaling : Standardization
        Per-channel standardisation.
    n_features : int
        Number of columns of ``X``.
    stride : int or None, default=None
        Step between windows (with ``layout.window``); None is half a window.
    initial_strategy : {"mean", "linear"}, default="mean"
        Resolved initial fill.
    missing_values : float, default=np.nan
        Placeholder of the missing entries.
    dtype : numpy dtype, default=np.float32
        Dtype of the standardised samples.

    Examples
    --------
    >>> import numpy as np
    >>> from sklvar import VariationalImputer
    >>> X = np.random.RandomState(0).normal(size=(100, 3))
    >>> X[::7, 1] = np.nan
    >>> imp = VariationalImputer(prior="pca", window=20, max_epochs=0).fit(X)
    >>> Y, M = imp.codec_.encode(X)   # windows of 20 steps, standardised
    >>> Y.shape, bool(M.all())
    ((9, 3, 20), False)
    >>> np.allclose(imp.codec_.decode(np.where(M, Y, 0), n_rows=100)[~np.isnan(X)],
    ...             X[~np.isnan(X)])
    True
    """

    def __init__(self, layout, scaling, n_features, *, stride=None,
                 initial_strategy="mean", missing_values=np.nan, dtype=np.float32):
        if initial_strategy not in _INITIAL_STRATEGIES:
            raise ValueError(
                f"initial_strategy must be one of {_INITIAL_STRATEGIES}, got "
                f"{initial_strategy!r}."
            )
        self.layout = layout
        self.scaling = scaling
        self.n_features = int(n_features)
        if layout.window is not None and stride is None:
            stride = max(1, layout.window // 2)
        self.stride = stride
        self.initial_strategy = initial_strategy
        self.missing_values = missing_values
        self.dtype = np.dtype(dtype)

    def __repr__(self):
        return (f"SampleCodec({self.layout.describe()}, "
                f"{len(self.scaling.mean)} channel(s), "
                f"initial_strategy={self.initial_strategy!r})")

    # ------------------------------------------------------------------ fit
    @classmethod
    def fit(cls, X, observed, layout, *, stride=None, initial_strategy="auto",
            missing_values=np.nan, dtype=np.float32, name="SampleCodec"):
        """Fit the standardisation on the observed entries of ``X``.

        Parameters
        ----------
        X : ndarray of shape (n_rows, n_features)
            Training data (values at unobserved entries are ignored).
        observed : ndarray of bool, same shape
            True where observed.
        layout : SampleLayout
        stride, missing_values, dtype
            As in the constructor.
        initial_strategy : {"auto", "mean", "linear"}, default="auto"
            "auto" is "linear" for series and "mean" otherwise.
        name : str, default="SampleCodec"
            Who fits, for the warning about channels without observed values.

        Returns
        -------
        codec : SampleCodec

        Warns
        -----
        UserWarning
            When a channel has no observed value (its mean is 0, its scale 1).

        Raises
        ------
        ValueError
            When the values of a channel are too large for its mean or
            standard deviation to be finite in float64.

        Notes
        -----
        The scale of a channel is its standard deviation, computed on the
        values divided by their largest magnitude (so that neither squares of
        very large values overflow nor tiny ones underflow). A constant
        channel (standard deviation below ``1e-12`` times its magnitude) is
        scaled by the magnitude of its value (1 for a channel of zeros) and
        marked ``constant``: it is imputed with its value. Data of any
        magnitude, 1e-13 as well as 1e13, are imputed alike.
        """
        if initial_strategy == "auto":
            initial_strategy = "linear" if layout.kind == "series" else "mean"
        view = _channel_view(layout, X)
        obs = _channel_view(layout, observed)
        n_channels = view.shape[1]
        mean = np.zeros(n_channels)
        scale = np.ones(n_channels)
        constant = np.zeros(n_channels, dtype=bool)
        empty = []
        for c in range(n_channels):
            values = view[:, c][obs[:, c]]
            if values.size == 0:
                empty.append(c)
                continue
            mean[c], scale[c], constant[c] = _channel_scaling(values, name, c)
        if empty:
            warnings.warn(
                f"{name}: channels {empty} have no observed value in the training "
                "data; they are imputed by the learned model alone.",
                UserWarning,
            )
        return cls(layout, Standardization(mean, scale, constant), X.shape[1], stride=stride,
                   initial_strategy=initial_strategy, missing_values=missing_values,
                   dtype=dtype)

    # --------------------------------------------------------------- arrays
    def observed_mask(self, X):
        """True where ``X`` (a float array) holds a value, not ``missing_values``."""
        if isinstance(self.missing_values, Real) and np.isnan(self.missing_values):
            return ~np.isnan(X)
        return X != self.missing_values

    def check_array(self, X, mask=None):
        """``X`` as a float (n_rows, n_features) array, and its observed mask.

        A light check for callers outside the estimators (the estimators
        validate with scikit-learn first).

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
        mask : array-like of bool or None
            True where observed; None derives it from ``missing_values``.

        Returns
        -------
        X : ndarray of float64
        observed : ndarray of bool
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(
                f"X must be 2-D with {self.n_features} columns (as at fit), got "
                f"shape {X.shape}."
            )
        if mask is None:
            return X, self.observed_mask(X)
        observed = np.asarray(mask)
        if observed.shape != X.shape or observed.dtype != bool:
            raise ValueError(
                f"mask must be a boolean array of the shape of X {X.shape}, got "
                f"shape {observed.shape} and dtype {observed.dtype}."
            )
        return X, observed.copy()

    def channel_view(self, A):
        """(n_rows, n_channels, k) view of a (n_rows, n_features) array."""
        return _channel_view(self.layout, A)

    def standardize(self, X, observed, dtype=None):
        """``(X - mean) / scale`` per channel, 0 where unobserved.

        Returns an array of the shape of ``X`` and dtype ``dtype`` (default:
        the codec's).
        """
        mean, scale = self.scaling.mean, self.scaling.scale
        # divided first: X - mean may overflow for values near the float limit
        Z = self.channel_view(X) / scale[:, None] - (mean / scale)[:, None]
        Z = Z.reshape(X.shape)
        return np.where(observed, Z, 0.0).astype(dtype or self.dtype)

    def destandardize(self, Z):
        """Inverse of :meth:`standardize` (user units, float64)."""
        mean, scale = self.scaling.mean, self.scaling.scale
        out = self.channel_view(Z) * scale[:, None] + mean[:, None]
        constant = self.scaling.constant
        if constant is not None and constant.any():
            out[:, constant] = mean[constant, None]
        return out.reshape(Z.shape)

    # -------------------------------------------------------------- samples
    def window_starts(self, n_rows):
        """First rows of the windows of a series of ``n_rows`` steps."""
        return window_starts(n_rows, self.layout.window, self.stride)

    def to_samples(self, A):
        """(n_samples, \\*layout.shape) samples of a (n_rows, n_features) array.

        Rows are samples, or, with windows, overlapping windows of the series
        (the last ones padded with 0 when the series is shorter than a window).
        """
        if self.layout.window is not None:
            starts = self.window_starts(A.shape[0])
            return cut_windows(A, starts, self.layout.window).reshape(
                (len(starts),) + self.layout.shape
            )
        return A.reshape((A.shape[0],) + self.layout.shape)

    def from_samples(self, samples, n_rows=None):
        """Inverse of :meth:`to_samples`: windows stitched with triangular weights.

        Parameters
        ----------
        samples : ndarray of shape (n_samples, \\*layout.shape)
        n_rows : int or None
            Number of rows of the series (needed with windows).

        Returns
        -------
        A : ndarray of shape (n_rows, n_features)
        """
        samples = np.asarray(samples)
        if self.layout.window is None:
            return samples.reshape(len(samples), -1)
        if n_rows is None:
            raise ValueError("n_rows is needed to stitch windows back together.")
        starts = self.window_starts(n_rows)
        if len(starts) != len(samples):
            raise ValueError(
                f"a series of {n_rows} rows has {len(starts)} windows, got "
                f"{len(samples)} samples."
            )
        stitcher = WindowStitcher(n_rows, self.n_features, self.layout.window)
        stitcher.add(starts, samples.reshape(len(starts), self.n_features, -1))
        return stitcher.result()

    def encode(self, X, mask=None, *, dtype=None):
        """Standardised samples ``Y`` and observed masks ``M`` of a 2-D array.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
            Data in user units, ``missing_values`` where missing.
        mask : array-like of bool or None
            True where observed; None derives it from ``missing_values``.
        dtype : numpy dtype or None
            Dtype of ``Y``; None is the codec's.

        Returns
        -------
        Y : ndarray of shape (n_samples, \\*layout.shape)
            Standardised observations, 0 where missing.
        M : ndarray of bool, same shape
            True where observed (False on the padding of short series).
        """
        X, observed = self.check_array(X, mask)
        Y = self.to_samples(self.standardize(X, observed, dtype))
        return Y, self.to_samples(observed)

    def decode(self, samples, n_rows=None):
        """User-unit (n_rows, n_features) array of standardised samples."""
        return self.destandardize(self.from_samples(samples, n_rows))

    def apply(self, Z, observed, impute_samples, *, chunk=1024, starts=None,
              offset=0):
        """Map a function of sample batches over a standardised array.

        The samples (windows) are made and imputed ``chunk`` at a time, so the
        memory is bounded for any number of rows; windows are stitched back.

        Parameters
        ----------
        Z : ndarray of shape (n_rows, n_features)
            Standardised data, 0 where missing.
        observed : ndarray of bool, same shape
        impute_samples : callable
            ``impute_samples(Y, M)`` maps samples (n, \\*layout.shape) and
            their masks to an array of the same shape.
        chunk : int, default=1024
            Samples per call.
        starts : ndarray of int or None, default=None
            First rows of the windows to impute and stitch (windows only),
            relative to ``Z``; None is :meth:`window_starts` of ``Z``. The
            chunked transform of dask arrays passes the windows of the whole
            series that fall in a block, so that the rows of the block covered
            by all their windows come out as in one pass over the series.
        offset : int, default=0
            Index of ``starts[0]`` among the windows of the whole series: the
            calls to ``impute_samples`` are cut at the multiples of ``chunk``
            of the whole series, so each window is imputed in the same batch
            (same batch size) as in one pass over the series, hence to the
            same float32 rounding.

        Returns
        -------
        Z_hat : ndarray of shape (n_rows, n_features), float64
        """
        shape = self.layout.shape
        if self.layout.window is None:
            out = np.empty(Z.shape)
            for i in range(0, Z.shape[0], chunk):
                Y = Z[i:i + chunk].reshape((-1,) + shape)
                M = observed[i:i + chunk].reshape(Y.shape)
                out[i:i + chunk] = impute_samples(Y, M).reshape(len(Y), -1)
            return out
        window = self.layout.window
        n_t, n_d = Z.shape
        if starts is None:
            starts = self.window_starts(n_t)
        stitcher = WindowStitcher(n_t, n_d, window)
        i = 0
        while i < len(starts):
            stop = min(len(starts), i + chunk - (offset + i) % chunk)
            s = starts[i:stop]
            i = stop
            Y = cut_windows(Z, s, window)
            M = cut_windows(observed, s, window, fill=False)
            X_hat = impute_samples(Y.reshape((len(s),) + shape),
                                   M.reshape((len(s),) + shape))
            stitcher.add(s, X_hat.reshape(len(s), n_d, window))
        return stitcher.result()

    def initial_fill(self, Y, M, fill_values=0.0):
        """Initial state of samples: observed values, gaps filled.

        ``"mean"``: ``fill_values`` (0, the mean in standardised units, or an
        array broadcastable to the samples); ``"linear"``: linear
        interpolation along the last axis of the sample (time for series),
        except for plain vectors, which are filled as for ``"mean"``. The
        torch model does the same on tensors
        (:meth:`sklvar.model.VariationalModel.initial_state`).

        Parameters
        ----------
        Y : ndarray of shape (n_samples, \\*layout.shape) or (n_samples, size)
        M : ndarray of bool, same shape

        Returns
        -------
        X0 : ndarray of the shape of ``Y``
        """
        if self.initial_strategy == "mean" or self.layout.spatial_ndim == 0:
            return np.where(M, Y, fill_values)
        shape = (len(Y),) + self.layout.shape
        return linear_fill(Y.reshape(shape), M.reshape(shape)).reshape(Y.shape)


def _channel_scaling(values, name, channel):
    """(mean, scale) of the observed values of one channel, in their own units."""
    with np.errstate(over="ignore", invalid="ignore"):
        magnitude = float(np.max(np.abs(values)))
        if not np.isfinite(magnitude):
            raise ValueError(
                f"{name}: X holds non-finite values in channel {channel}; expected "
                "finite numbers (or missing_values) only."
            )
        if magnitude == 0.0:
            return 0.0, 1.0, True
        unit = values / magnitude
        mean = float(unit.mean()) * magnitude
        std = float(unit.std()) * magnitude
    if not (np.isfinite(mean) and np.isfinite(std)):
        raise ValueError(
            f"{name}: the values of channel {channel} of X are too large (largest "
            f"magnitude {magnitude:.3g}): their mean or standard deviation "
            "overflows float64; expected magnitudes below about 1e300: rescale "
            "X (for example divide it by a power of 10) before imputing."
        )
    if std > 1e-12 * max(abs(mean), np.finfo(np.float64).tiny):
        return mean, std, False
    return mean, abs(mean), True


def _channel_view(layout, A):
    """(n_rows, C, k) view of a (n_rows, n_features) array for a layout."""
    if layout.window is not None or layout.kind in ("vector", "table"):
        return A[:, :, None]
    return A.reshape(A.shape[0], layout.n_channels, -1)
