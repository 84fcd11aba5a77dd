"""Scale-out on dask: series larger than memory, searches on a cluster.

Needs the ``dask`` extra (``pip install "sklvar[dask]"``: dask arrays,
dask.dataframe, dask.distributed and zarr); ``import sklvar`` does not import
dask, and neither does importing this module: dask is imported when one of
its functions runs.

- :func:`transform` (also reached by ``estimator.transform(X)`` with a dask
  array ``X``) imputes a series larger than memory block by block and returns
  a dask array, equal to the in-memory result (windows imputed in the batches
  of the whole series, so to the last bit on CPU);
- :func:`sample_series` takes rows of such a series to fit on, in memory;
- hyper-parameter searches run on a ``dask.distributed`` cluster through
  joblib's dask backend, with no sklvar code at all::

      from dask.distributed import Client
      from joblib import parallel_config
      from sklearn.model_selection import GridSearchCV

      client = Client("scheduler-address:8786")   # or Client(LocalCluster(...))
      search = GridSearchCV(VariationalImputer(window=64, n_threads=1),
                            {"lambda_prior": [0.5, 1.0, 2.0]}, cv=3)
      with parallel_config(backend="dask"):
          search.fit(X)                            # label-free score

  See the user guide, "Scaling out on dask", for one worker per GPU and what
  each worker must have installed.
"""

__all__ = ["sample_series", "transform"]


def transform(estimator, X, mask=None):
    """Impute a dask array lazily, block by block.

    Parameters
    ----------
    estimator : VariationalImputer or DictionaryImputer
        A fitted sklvar imputer on windows (``window=...``: rows of ``X`` are
        the time steps of one long series) or on rows (each row a sample).
        Series tables (``layout_.kind == "table"``, the field prior) are
        refused with a ValueError: their exact solve couples all rows.
    X : dask.array.Array of shape (n_rows, n_features)
        The data, ``missing_values`` (NaN by default) where missing; chunks
        along rows of any sizes (known sizes), any chunks along columns.
    mask : dask.array.Array, ndarray of bool or None, default=None
        True where X is observed; None derives it from ``missing_values``.

    Returns
    -------
    X_imputed : dask.array.Array of shape (n_rows, n_features)
        With the row chunks of ``X`` (one chunk along columns); nothing is
        computed until you ask (``.compute()``, ``.to_zarr(...)``,
        ``dask.array.store``). The columns of ``add_indicator`` are appended
        as in memory.

    Notes
    -----
    With windows, each block is imputed with an overlap of
    ``window + (batch_size - 1) * stride`` rows on each side
    (``dask.array.map_overlap``, ``boundary="none"``): a row's value is the
    weighted mean of the windows covering it, the windows are those of the
    whole series (positions computed globally, the last one ending at the
    last row), and each is imputed in the batch where it falls in one pass
    over the series (the batch size changes float32 rounding). Row blocks
    shorter than the overlap are merged with a neighbour internally and the
    result cut back to the chunks of ``X``. The cost is the in-memory cost
    plus that of the overlaps: at most two batches of windows per block
    (256 windows against the 10,000 of a block of 10^6 rows with
    ``window=200``, ``stride=100``, ``batch_size=128``).

    Each block sets ``n_threads`` torch threads while it runs; run one block
    at a time per process (``dask.distributed`` workers with
    ``threads_per_worker=1``, or the ``"synchronous"`` / ``"processes"``
    schedulers), since torch's thread count is per process.

    Examples
    --------
    >>> import numpy as np, dask.array as da  # doctest: +SKIP
    >>> from sklvar import VariationalImputer  # doctest: +SKIP
    >>> from sklvar.dask import sample_series  # doctest: +SKIP
    >>> X = da.random.random((10**7, 3), chunks=(10**6, 3))  # doctest: +SKIP
    >>> X = da.where(X > 0.9, np.nan, X)  # doctest: +SKIP
    >>> imp = VariationalImputer(window=64, random_state=0)  # doctest: +SKIP
    >>> imp.fit(sample_series(X, 50_000, random_state=0))  # doctest: +SKIP
    >>> imp.transform(X).to_zarr("imputed.zarr")  # doctest: +SKIP
    """
    from sklearn.utils.validation import check_is_fitted

    from .impute._dask import import_dask

    da = import_dask()
    if not isinstance(X, da.Array):
        raise TypeError(
            f"X must be a dask array, got {type(X).__name__}; for arrays in "
            "memory call estimator.transform(X)."
        )
    check_is_fitted(estimator)
    return estimator.transform(X, mask=mask)


def sample_series(X, n_rows, *, n_segments=1, random_state=None):
    """Rows of a long series to fit on, in memory.

    ``n_segments`` contiguous segments (one in each of ``n_segments`` equal
    parts of the series, at a seeded random offset), in time order and
    concatenated: ``imp.fit(sample_series(X, 10**5))`` fits a windowed
    imputer on a series too long to fit in memory, which then imputes the
    whole of it with ``imp.transform(X)``. Only the sampled rows are read.

    Parameters
    ----------
    X : dask.array.Array or array-like of shape (n_total, n_features)
        The series (rows = time steps).
    n_rows : int
        Number of rows to take, at most ``n_total``.
    n_segments : int, default=1
        Number of contiguous segments. More segments cover more of the
        series; each junction between two segments is a jump that the windows
        across it see as part of the series, so keep segments much longer
        than the window (``n_rows / n_segments >> window``). Each segment
        lies in its own part of the series, so they do not overlap (but for
        a row of rounding when ``n_rows`` is close to ``n_total``).
    random_state : int, RandomState instance or None, default=None
        Seeds the positions of the segments.

    Returns
    -------
    X_sample : ndarray of shape (n_rows, n_features)

    Raises
    ------
    ValueError
        When ``n_rows`` or ``n_segments`` is not a positive int, or is larger
        than the series (or than ``n_rows``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklvar.dask import sample_series
    >>> X = np.arange(20.0).reshape(10, 2)
    >>> sample_series(X, 3, random_state=0).shape
    (3, 2)
    """
    from .impute._dask import sample_series as _sample_series

    return _sample_series(X, n_rows, n_segments=n_segments,
                          random_state=random_state)
