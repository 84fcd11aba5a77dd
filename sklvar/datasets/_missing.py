"""Missing-data patterns: random entries, gaps in time series, holes in images."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

__all__ = ["make_missing"]


def _random_missing(shape, missing_rate, rng):
    """Each entry missing independently with probability ``missing_rate``."""
    return rng.random_sample(shape) < missing_rate


def _block_missing(shape, missing_rate, block_length, rng):
    """Contiguous gaps along the rows (time), placed independently per column.

    In each column, ``round(missing_rate * n_rows)`` entries are removed in
    ``ceil(target / block_length)`` gaps of ``block_length`` rows (one of them
    shorter when ``block_length`` does not divide the target). The gaps are
    placed uniformly at random among the arrangements of observed rows and
    gaps ("stars and bars"), so they never overlap (adjacent gaps may touch and
    form a longer one) and the rate is exact up to rounding.
    """
    n_rows, n_cols = shape
    missing = np.zeros(shape, dtype=bool)
    target = int(round(missing_rate * n_rows))
    if target == 0:
        return missing
    n_gaps = -(-target // block_length)
    n_observed = n_rows - target
    base_lengths = np.full(n_gaps, block_length)
    base_lengths[-1] = target - (n_gaps - 1) * block_length
    for j in range(n_cols):
        lengths = rng.permutation(base_lengths)
        # positions of the gap tokens among n_observed + n_gaps tokens
        slots = np.sort(rng.choice(n_observed + n_gaps, size=n_gaps, replace=False))
        # rows before gap k: observed tokens before it plus the earlier gaps
        starts = (
            slots - np.arange(n_gaps) + np.concatenate(([0], np.cumsum(lengths)[:-1]))
        )
        edges = np.zeros(n_rows + 1, dtype=np.int64)
        np.add.at(edges, starts, 1)
        np.add.at(edges, starts + lengths, -1)
        missing[:, j] = np.cumsum(edges[:-1]) > 0
    return missing


def _hole_missing(n_samples, sample_shape, n_holes, hole_size, rng):
    """``n_holes`` squares of side ``hole_size`` per image, fully inside it."""
    height, width = sample_shape
    # The top-left corner is uniform over the positions that keep the square
    # inside the image; for an odd side this is a uniform centre in
    # [hole_size // 2, side - 1 - hole_size // 2] (e.g. [4, 23] for 9x9 on 28x28).
    top = rng.randint(0, height - hole_size + 1, size=(n_samples, n_holes))
    left = rng.randint(0, width - hole_size + 1, size=(n_samples, n_holes))
    rows, cols = np.arange(height), np.arange(width)
    missing = np.zeros((n_samples, height, width), dtype=bool)
    for k in range(n_holes):
        in_rows = (rows >= top[:, k, None]) & (rows < top[:, k, None] + hole_size)
        in_cols = (cols >= left[:, k, None]) & (cols < left[:, k, None] + hole_size)
        missing |= in_rows[:, :, None] & in_cols[:, None, :]
    return missing.reshape(n_samples, height * width)


def _check_sample_shape(sample_shape, n_features, hole_size):
    """Validate ``sample_shape`` for the 'holes' pattern."""
    if sample_shape is None:
        raise ValueError(
            "pattern='holes' needs sample_shape=(height, width), the shape of the "
            "image held in each row of X; got sample_shape=None."
        )
    try:
        height, width = sample_shape
        ok = all(
            isinstance(v, Integral) and not isinstance(v, bool) and v > 0
            for v in (height, width)
        )
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(
            "sample_shape must be a pair of positive integers (height, width), "
            f"got {sample_shape!r}."
        )
    if height * width != n_features:
        raise ValueError(
            f"sample_shape={tuple(sample_shape)} holds {height * width} values but X "
            f"has {n_features} features per row; expected height * width == "
            "n_features."
        )
    if hole_size > min(height, width):
        raise ValueError(
            f"hole_size={hole_size} does not fit in an image of shape "
            f"{tuple(sample_shape)}; expected hole_size <= {min(height, width)}."
        )
    return int(height), int(width)


@validate_params(
    {
        "X": ["array-like"],
        "pattern": [StrOptions({"random", "blocks", "holes"})],
        "missing_rate": [Interval(Real, 0, 1, closed="left")],
        "block_length": [Interval(Integral, 1, None, closed="left")],
        "n_holes": [Interval(Integral, 1, None, closed="left")],
        "hole_size": [Interval(Integral, 1, None, closed="left")],
        "sample_shape": [tuple, list, None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_missing(
    X,
    *,
    pattern="random",
    missing_rate=0.2,
    block_length=10,
    n_holes=3,
    hole_size=9,
    sample_shape=None,
    random_state=None,
):
    """Hide entries of a complete array following a missing-data pattern.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data to corrupt. It is not modified. Entries that are already NaN stay
        missing.

    pattern : {"random", "blocks", "holes"}, default="random"
        How the missing entries are laid out:

        - ``"random"``: each entry is missing independently with probability
          ``missing_rate``.
        - ``"blocks"``: ``X`` is one long series (rows = time steps, columns =
          variables). In each column, ``round(missing_rate * n_samples)`` rows
          are removed in contiguous gaps of ``block_length`` rows (one shorter
          gap when ``block_length`` does not divide that number), placed at
          random without overlapping (touching gaps merge).
        - ``"holes"``: each row is an image of shape ``sample_shape``;
          ``n_holes`` squares of side ``hole_size`` are removed per image, at
          positions drawn uniformly among those where the square lies fully
          inside the image. Squares may overlap. The paper's MNIST setting is
          ``n_holes=3, hole_size=9, sample_shape=(28, 28)``.

    missing_rate : float in [0, 1), default=0.2
        Fraction of entries to hide, for ``"random"`` (expected rate) and
        ``"blocks"`` (exact per column up to rounding). Ignored for
        ``"holes"``. The rate is that of the generated pattern; entries already
        missing in ``X`` come on top of it.

    block_length : int, default=10
        Length of the gaps for ``"blocks"``. Ignored otherwise.

    n_holes : int, default=3
        Number of squares per image for ``"holes"``. Ignored otherwise.

    hole_size : int, default=9
        Side of the squares for ``"holes"``. Ignored otherwise.

    sample_shape : tuple of int (height, width), default=None
        Shape of the image held in each row, required for ``"holes"``
        (``height * width`` must equal ``n_features``). Ignored otherwise.

    random_state : int, RandomState instance or None, default=None
        Seeds the pattern. Pass an int for reproducible output across calls.

    Returns
    -------
    X_missing : ndarray of shape (n_samples, n_features)
        Floating-point copy of ``X`` (float32 stays float32, anything else
        becomes float64) with NaN at the missing entries.

    observed_mask : ndarray of bool of shape (n_samples, n_features)
        True where the entry is observed, i.e. ``~np.isnan(X_missing)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklvar.datasets import make_missing
    >>> X = np.arange(200.0).reshape(100, 2)
    >>> X_missing, observed = make_missing(X, pattern="blocks", missing_rate=0.3,
    ...                                    block_length=5, random_state=0)
    >>> (~observed).sum(axis=0).tolist()
    [30, 30]
    >>> bool(np.array_equal(X_missing[observed], X[observed]))
    True
    >>> images = np.zeros((4, 28 * 28))
    >>> _, observed = make_missing(images, pattern="holes", sample_shape=(28, 28),
    ...                            random_state=0)
    >>> bool(((~observed).sum(axis=1) <= 3 * 81).all())
    True
    """
    X_missing = check_array(
        X,
        dtype=[np.float64, np.float32],
        ensure_all_finite="allow-nan",
        copy=True,
        input_name="X",
    )
    rng = check_random_state(random_state)
    n_samples, n_features = X_missing.shape

    if pattern == "random":
        missing = _random_missing(X_missing.shape, missing_rate, rng)
    elif pattern == "blocks":
        missing = _block_missing(X_missing.shape, missing_rate, block_length, rng)
    else:  # "holes"
        shape = _check_sample_shape(sample_shape, n_features, hole_size)
        missing = _hole_missing(n_samples, shape, n_holes, hole_size, rng)

    X_missing[missing] = np.nan
    observed_mask = ~np.isnan(X_missing)
    return X_missing, observed_mask
