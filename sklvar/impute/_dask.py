"""Imputation of dask arrays, block by block (issue 17).

dask is optional: this module is imported only when a dask array reaches
``transform`` (or by :mod:`sklvar.dask`), and :func:`import_dask` names the
extra to install when it is missing.

Exactness of the windowed transform. In memory, a series of ``T`` rows is cut
into windows starting at ``0, stride, 2 * stride, ...`` plus one ending at the
last row (:func:`~sklvar.utils.window_starts`); each window is imputed on its
own (a sample's result never depends on its batch) and each row is the
triangular-weighted mean of the windows covering it. A row of a block
``[a, b)`` is covered by the windows starting in ``[a - window + 1, b - 1]``,
all inside the block extended by ``window`` rows on each side. So each block
is taken with that overlap (``dask.array.map_overlap``, ``boundary="none"``),
the windows of the *whole series* that fall in it are computed from their
global positions (the grid of ``window_starts(T, ...)``, never a grid of the
block's own), and the block's rows are stitched from exactly the windows, in
the order and with the weights of the in-memory pass. Blocks shorter than a
window are merged with a neighbour first.
"""

import numpy as np

DASK_HINT = 'pip install "sklvar[dask]"'


def import_dask():
    """``dask.array``, or an ImportError naming the extra to install."""
    try:
        import dask.array as da
    except ImportError as exc:
        raise ImportError(
            "this sklvar feature needs dask (dask arrays, dask.distributed): "
            f"{DASK_HINT} (or pip install \"dask[array]\" distributed)."
        ) from exc
    return da


class _WindowGrid:
    """The windows of a whole series of ``n_rows`` rows and their batches.

    Window ``k`` starts at ``k * stride``, except the last one, which ends at
    the last row (:func:`~sklvar.utils.window_starts`). The in-memory
    transform imputes them in groups of ``chunk`` (``_transform_chunk``),
    each cut into batches of ``batch`` windows; the batch size changes the
    float32 rounding of the model a little (its kernels are blocked by
    batch), so a block imputes every window in the batch of the whole series
    where it falls, and the result is the same to the last bit.
    """

    def __init__(self, n_rows, window, stride, chunk, batch):
        self.n_rows, self.window, self.stride = n_rows, window, stride
        self.chunk, self.batch = chunk, batch
        self.last = n_rows - window
        self.n_grid = self.last // stride + 1
        self.n_windows = self.n_grid + (1 if self.last % stride else 0)

    def depth(self):
        """Rows of overlap a block needs: a window, and a batch of windows."""
        return self.window + (self.batch - 1) * self.stride

    def start(self, k):
        return np.where(k < self.n_grid, k * self.stride, self.last)

    def covering(self, a, b):
        """First and last window covering rows ``[a, b)``."""
        lo = max(a - self.window + 1, 0)
        k0 = min(-(-lo // self.stride), self.n_windows - 1)
        k1 = self.n_windows - 1 if b - 1 >= self.last else (b - 1) // self.stride
        return k0, k1

    def batch_bounds(self, k):
        """[first, stop) of the batch of window ``k`` in the whole series."""
        chunk_start = k // self.chunk * self.chunk
        first = chunk_start + (k - chunk_start) // self.batch * self.batch
        stop = min(first + self.batch, chunk_start + self.chunk, self.n_windows)
        return first, stop


def _row_chunks(chunks, minimum):
    """Row chunks of at least ``minimum`` rows (small ones merged)."""
    out = []
    for c in chunks:
        if out and out[-1] < minimum:
            out[-1] += c
        else:
            out.append(c)
    if len(out) > 1 and out[-1] < minimum:
        last = out.pop()
        out[-1] += last
    return tuple(out)


def _check_dask_input(est, X, mask, da):
    if X.ndim != 2:
        raise ValueError(
            f"X must be a 2-D dask array (rows x {est.n_features_in_} columns), "
            f"got a dask array of {X.ndim} dimension(s), shape {X.shape}."
        )
    if any(np.isnan(c) for c in X.chunks[0]):
        raise ValueError(
            "X is a dask array of unknown chunk sizes (rows); expected known "
            "chunks: call X.compute_chunk_sizes() first (or build it with "
            "lengths, e.g. dask_dataframe.to_dask_array(lengths=True))."
        )
    if X.shape[1] != est.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(est).__name__} is expecting "
            f"{est.n_features_in_} features as input."
        )
    if X.dtype.kind not in "biuf":
        raise ValueError(
            f"X must hold numbers, got a dask array of dtype {X.dtype}."
        )
    if mask is not None:
        if not hasattr(mask, "dask"):
            mask = da.from_array(np.asarray(mask), chunks=X.chunks)
        if mask.shape != X.shape:
            raise ValueError(
                f"mask must have the shape of X {X.shape}, got shape {mask.shape}."
            )
        if mask.dtype != bool:
            raise ValueError(
                "mask must be a boolean array (True where observed), got dtype "
                f"{mask.dtype}."
            )
    return mask


def _observed(est, X, mask):
    """Observed mask of a block, checked as ``_validate_X`` checks arrays."""
    if np.isinf(X).any():
        raise ValueError(
            "X contains infinity; expected finite numbers or "
            f"missing_values={est.missing_values!r}."
        )
    nan = np.isnan(X)
    missing = nan if np.isnan(est.missing_values) else (X == est.missing_values)
    if not np.isnan(est.missing_values) and nan.any():
        raise ValueError(
            f"X contains NaN, but missing_values={est.missing_values!r}: expected "
            "no NaN in X (missing entries must be "
            f"{est.missing_values!r})."
        )
    if mask is None:
        return ~missing
    if np.any(mask & missing):
        raise ValueError(
            "mask marks entries as observed where X holds missing_values "
            f"({est.missing_values!r}); expected every observed entry of X to be "
            "a number."
        )
    return mask.copy()


def _out_dtype(X):
    return X.dtype if X.dtype.kind == "f" else np.dtype(np.float64)


def _finish(est, X, observed, out):
    if est.indicator_ is not None:
        marks = est.indicator_.transform(est._missing_marks(observed))
        out = np.hstack([out, marks.astype(out.dtype)])
    return out


def _impute_rows(est, X, mask, *, grid, core, lo):
    """Impute rows ``core`` (a slice of the block) of a block starting at ``lo``.

    ``X`` (and ``mask``) is the block with its overlap, ``grid`` the
    :class:`_WindowGrid` of the whole series.
    """
    X = np.asarray(X, dtype=_out_dtype(X))
    observed = _observed(est, X, mask)
    X_core, obs_core = X[core], observed[core]
    if est.keep_observed and obs_core.all():
        return _finish(est, X_core, obs_core, X_core.copy())
    k0, k1 = grid.covering(lo + core.start, lo + core.stop)
    first, _ = grid.batch_bounds(k0)
    _, stop = grid.batch_bounds(k1)
    starts = grid.start(np.arange(first, stop)) - lo
    with est._thread_limits():
        out = est._impute(X, observed, starts=starts, offset=first, rows=core)
    return _finish(est, X_core, obs_core, out)


def _transform_block(X, *masks, est, row_chunks, overlap, grid, block_info=None):
    i = block_info[0]["chunk-location"][0]
    a = int(sum(row_chunks[:i]))
    lo = max(a - overlap, 0)
    core = slice(a - lo, a - lo + row_chunks[i])
    mask = np.asarray(masks[0]) if masks else None
    return _impute_rows(est, X, mask, grid=grid, core=core, lo=lo)


def _transform_samples(X, *masks, est):
    """Rows as independent samples: the in-memory transform of the block."""
    X = np.asarray(X, dtype=_out_dtype(X))
    mask = np.asarray(masks[0]) if masks else None
    observed = _observed(est, X, mask)
    with est._thread_limits():
        if est.keep_observed and observed.all():
            out = X.copy()
        else:
            out = est._impute(X, observed)
    return _finish(est, X, observed, out)


def transform_dask(est, X, mask=None):
    """Lazy imputation of a dask array (see :func:`sklvar.dask.transform`)."""
    da = import_dask()
    layout = est.layout_
    if layout.kind == "table":
        raise ValueError(
            "transform of a dask array needs a model on windows or on rows: "
            f"this {type(est).__name__} imputes a whole series table at once "
            "(layout_.kind='table', the field prior: one sparse solve over all "
            "rows), which cannot be split into blocks exactly. Fit "
            "VariationalImputer(window=..., prior='cnn' or another neural "
            "prior) for series larger than memory, or compute the dask array "
            "(X.compute()) if it fits in memory."
        )
    config = getattr(est, "_sklearn_output_config", {}).get("transform")
    if config not in (None, "default"):
        raise ValueError(
            f"set_output(transform={config!r}) does not apply to dask arrays "
            "(the result would be loaded whole into memory); call "
            "set_output(transform='default') to get a dask array back."
        )
    mask = _check_dask_input(est, X, mask, da)
    n_out = est.n_features_in_ + (0 if est.indicator_ is None
                                  else len(est.indicator_.features_))
    dtype = _out_dtype(X)
    arrays = [X] if mask is None else [X, mask]
    if layout.window is None:
        arrays = [a.rechunk({1: -1}) for a in arrays]
        return da.map_blocks(
            _transform_samples, *arrays, est=est, dtype=dtype,
            chunks=(arrays[0].chunks[0], (n_out,)), meta=np.empty((0, 0), dtype),
        )
    n_rows = X.shape[0]
    if n_rows <= layout.window:  # one window, padded: the in-memory transform
        arrays = [a.rechunk(-1) for a in arrays]
        return da.map_blocks(
            _transform_samples, *arrays, est=est, dtype=dtype,
            chunks=((n_rows,), (n_out,)), meta=np.empty((0, 0), dtype),
        )
    grid = _WindowGrid(n_rows, layout.window, est.codec_.stride,
                       est._transform_chunk,
                       getattr(est, "batch_size", est._transform_chunk))
    row_chunks = _row_chunks(X.chunks[0], grid.depth())
    arrays = [a.rechunk((row_chunks, -1)) for a in arrays]
    depth = grid.depth() if len(row_chunks) > 1 else 0
    out = da.map_overlap(
        _transform_block, *arrays, depth={0: depth, 1: 0}, boundary="none",
        trim=False, est=est, row_chunks=row_chunks, overlap=depth, grid=grid,
        dtype=dtype, chunks=(row_chunks, (n_out,)), meta=np.empty((0, 0), dtype),
        align_arrays=False,
    )
    if row_chunks != X.chunks[0]:
        out = out.rechunk((X.chunks[0], -1))
    return out


def sample_series(X, n_rows, *, n_segments=1, random_state=None):
    """Rows of a long series to fit on, as an in-memory array.

    See :func:`sklvar.dask.sample_series`.
    """
    from sklearn.utils import check_random_state

    if not hasattr(X, "dask"):
        X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(
            f"X must be 2-D (rows = time steps), got shape {X.shape}."
        )
    total = X.shape[0]
    if not isinstance(n_rows, (int, np.integer)) or n_rows < 1:
        raise ValueError(f"n_rows must be an int >= 1, got {n_rows!r}.")
    if not isinstance(n_segments, (int, np.integer)) or n_segments < 1:
        raise ValueError(f"n_segments must be an int >= 1, got {n_segments!r}.")
    if n_rows > total:
        raise ValueError(
            f"n_rows={n_rows} is more than the {total} rows of X; expected "
            f"n_rows <= {total}."
        )
    if n_segments > n_rows:
        raise ValueError(
            f"n_segments={n_segments} is more than n_rows={n_rows}; expected "
            "at most one segment per row."
        )
    rng = check_random_state(random_state)
    lengths = np.full(n_segments, n_rows // n_segments)
    lengths[: n_rows % n_segments] += 1
    # one segment in each of n_segments equal strata of the series, in order
    bounds = np.linspace(0, total, n_segments + 1).astype(int)
    parts = []
    for k, length in enumerate(lengths):
        lo, hi = bounds[k], max(bounds[k + 1] - length, bounds[k])
        lo = min(lo, total - length)
        start = int(rng.randint(lo, max(hi, lo) + 1))
        parts.append(X[start:start + length])
    if hasattr(X, "dask"):
        da = import_dask()
        return np.asarray(da.concatenate(parts).compute())
    return np.concatenate([np.asarray(p) for p in parts])
