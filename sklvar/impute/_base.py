"""Shared machinery of the sklvar imputers: validation, the fitted codec, score.

Torch-free: the dictionary baseline builds on it without importing torch.
"""

import functools
import sys
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import MissingIndicator
from sklearn.utils import check_random_state, metadata_routing
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import FLOAT_DTYPES, check_is_fitted, validate_data

from ..utils import SampleCodec, blas_threads, hide_observed, resolve_layout
from ..utils._gmrf import near_gaps_hides
from ._uncertainty import (
    ResidualCalibration,
    calibration_hides,
    calibration_kind,
    check_level,
    check_n_samples,
)


def _is_nan(value):
    return bool(isinstance(value, Real) and np.isnan(value))


def _is_dask_array(X):
    """True when X is a dask array (without importing dask).

    A dask DataFrame is refused here: converting it with numpy would load it
    whole into memory.
    """
    frames = sys.modules.get("dask.dataframe")
    if frames is not None and isinstance(X, (frames.DataFrame, frames.Series)):
        raise TypeError(
            "X is a dask DataFrame; expected a dask array (rows = time steps): "
            "pass X.to_dask_array(lengths=True), or X.compute() if it fits in "
            "memory."
        )
    module = sys.modules.get("dask.array")
    return module is not None and isinstance(X, module.Array)


def _with_threads(method):
    """Run an estimator method inside ``self._thread_limits()``.

    The thread count (``n_threads``) is set for the duration of the call and
    restored afterwards, also when the call raises. Put it under
    ``_fit_context`` so that the parameters are validated first.
    """

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._thread_limits():
            return method(self, *args, **kwargs)

    return wrapper


def _atomic_fit(method):
    """Make ``fit`` all or nothing: on any exception the estimator is restored.

    The instance's attributes are saved before the call and put back when it
    raises (a ``KeyboardInterrupt`` included), so a failed or interrupted fit
    leaves the estimator as it was before the call (unfitted, or fitted by
    the previous call), never half-updated. Put it under ``_with_threads``.
    """

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        saved = dict(self.__dict__)
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    return wrapper


def _non_numeric_columns(X):
    """Indices of the columns of a 2-D object array that are not numbers."""
    X = np.asarray(X, dtype=object)
    if X.ndim != 2:
        return []
    bad = []
    for j in range(X.shape[1]):
        try:
            X[:, j].astype(np.float64)
        except (ValueError, TypeError):
            bad.append(j)
    return bad


class _BaseImputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Base class of the sklvar imputers (not public).

    It does input validation, the observed mask, the add_indicator columns,
    putting observed values back, and the label-free score; the data path
    (sample layout, per-channel standardisation, windows of long series and
    their stitching, the initial fill) is the fitted
    :class:`~sklvar.utils.SampleCodec`, ``codec_``, built by
    :meth:`_prepare_fit`.

    Subclass contract:

    - ``fit`` calls ``X, observed, X_true = self._prepare_fit(X, y, mask)``
      (which sets ``layout_``, ``codec_`` and ``indicator_``), then trains on
      ``self.codec_.encode(X, observed)`` (standardised samples and masks);
    - ``_impute_samples(Y, M)`` imputes a batch of standardised samples of
      shape ``(n, *layout_.shape)`` and returns an array of the same shape;
    - ``_impute_table(Z, observed)`` (optional) imputes a whole standardised
      table for the ``"table"`` layout;
    - ``_work_dtype`` is the dtype of the samples, ``_divergence_hint`` the
      advice appended when the output is not finite, and ``_thread_limits``
      the context that applies ``n_threads``.
    """

    _parameter_constraints: dict = {
        "missing_values": [Real],
        "keep_observed": ["boolean"],
        "add_indicator": ["boolean"],
        "sample_shape": [tuple, list, None],
        "layout": [StrOptions({"auto", "vector", "series", "image"})],
        "window": [Interval(Integral, 2, None, closed="left"), None],
        "stride": [Interval(Integral, 1, None, closed="left"), None],
        "hide_fraction": [Interval(Real, 0, 1, closed="neither")],
        "calibrate": ["boolean"],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # return_std is an option of transform, not metadata to route
    __metadata_request__transform = {"return_std": metadata_routing.UNUSED}

    # number of samples imputed at once in transform (memory bound)
    _transform_chunk = 1024
    # dtype of the standardised samples handed to the subclass
    _work_dtype = np.float32
    # advice appended to the error raised when the output is not finite
    _divergence_hint = ""

    # ---------------------------------------------------------------- threads
    def _thread_limits(self):
        """Context manager applying ``n_threads``: BLAS threads (threadpoolctl).

        Torch estimators override it to set torch's thread count.
        """
        return blas_threads(self.n_threads)

    # ------------------------------------------------------------------ input
    def _validate_X(self, X, mask=None, *, reset):
        """Validate X (and mask); return (X as float array, observed mask)."""
        allow_nan = _is_nan(self.missing_values)
        dtypes = getattr(X, "dtypes", None)
        if dtypes is not None and hasattr(dtypes, "items"):
            bad = [str(c) for c, dt in dtypes.items()
                   if dt.kind not in "biuf"]  # bool, int, unsigned, float
            if bad:
                raise ValueError(
                    f"X has non-numeric columns {bad}; expected numeric columns "
                    "only (encode or drop the others; missing entries as "
                    f"missing_values={self.missing_values!r})."
                )
        try:
            X = validate_data(
                self, X, reset=reset, dtype=FLOAT_DTYPES,
                ensure_all_finite="allow-nan" if allow_nan else True,
            )
        except ValueError as exc:
            msg = str(exc)
            if "could not convert string to float" in msg:
                cols = _non_numeric_columns(X)
                raise ValueError(
                    f"X has non-numeric entries (columns {cols}: {msg}); expected "
                    "numbers only (encode or drop the other columns; missing "
                    f"entries as missing_values={self.missing_values!r})."
                ) from exc
            if not allow_nan and "contains NaN" in msg:
                raise ValueError(
                    f"X contains NaN, but missing_values={self.missing_values!r}: "
                    "expected no NaN in X (missing entries must be "
                    f"{self.missing_values!r}); pass missing_values=np.nan if NaN "
                    "marks the missing entries, or replace the NaN."
                ) from exc
            raise
        missing = np.isnan(X) if allow_nan else (X == self.missing_values)
        if mask is None:
            observed = ~missing
        else:
            if hasattr(mask, "to_numpy"):
                mask = mask.to_numpy()
            mask = np.asarray(mask)
            if mask.shape != X.shape:
                raise ValueError(
                    f"mask must have the shape of X {X.shape}, got shape {mask.shape}."
                )
            if mask.dtype != bool:
                raise ValueError(
                    "mask must be a boolean array (True where observed), got dtype "
                    f"{mask.dtype}."
                )
            if np.any(mask & missing):
                raise ValueError(
                    "mask marks entries as observed where X holds missing_values "
                    f"({self.missing_values!r}); expected every observed entry of X "
                    "to be a number."
                )
            observed = mask.copy()
        return X, observed

    def _validate_y(self, y, X):
        """Return the complete true states as an array, or None.

        A y of the shape of X holds the true states (supervised training and
        scoring). A 1-D y (the target of a downstream estimator, as Pipeline
        passes it) is ignored, as scikit-learn transformers do.
        """
        if y is None:
            return None
        if hasattr(y, "to_numpy"):
            y = y.to_numpy()
        y_arr = np.asarray(y)
        if y_arr.ndim == 1:
            return None
        if y_arr.shape != X.shape:
            raise ValueError(
                "y must be None, a 1-D target (ignored) or the complete true states "
                f"with the shape of X {X.shape}; got shape {y_arr.shape}."
            )
        y_arr = np.asarray(y_arr, dtype=float)
        if not np.all(np.isfinite(y_arr)):
            raise ValueError(
                "y (the complete true states) must be finite; it contains NaN or inf."
            )
        return y_arr

    def _prepare_fit(self, X, y, mask):
        """Validate the fit inputs, resolve the layout and fit the scaling.

        The scaling comes from the complete true states when ``y`` holds them
        (scores are then normalised by their variance), otherwise
        from the observed entries of X.

        Returns
        -------
        X, observed, X_true : ndarray, ndarray of bool, ndarray or None
        """
        X, observed = self._validate_X(X, mask, reset=True)
        X_true = self._validate_y(y, X)
        if not observed.any():
            raise ValueError(
                "X has no observed entry; expected at least one value that is not "
                f"missing_values={self.missing_values!r} (or True in mask)."
            )
        self.layout_ = self._resolve_layout(X.shape[1])
        self.indicator_ = None
        if self.add_indicator:
            self.indicator_ = MissingIndicator(features="missing-only").fit(
                self._missing_marks(observed)
            )
        if X_true is None:
            source, source_observed = X, observed
        else:
            source, source_observed = X_true, np.ones_like(observed)
        self.codec_ = SampleCodec.fit(
            source, source_observed, self.layout_, stride=self.stride,
            initial_strategy=getattr(self, "initial_strategy", "auto"),
            missing_values=self.missing_values, dtype=self._work_dtype,
            name=type(self).__name__,
        )
        return X, observed, X_true

    # ----------------------------------------------------------------- layout
    def _resolve_layout(self, n_features):
        if self.window is not None and self.stride is not None and \
                self.stride > self.window:
            raise ValueError(
                f"stride={self.stride} is larger than window={self.window}: some "
                "time steps would be in no window; expected stride <= window."
            )
        sample_shape = None if self.sample_shape is None else tuple(self.sample_shape)
        return resolve_layout(
            n_features, sample_shape=sample_shape, layout=self.layout,
            window=self.window,
        )

    # -------------------------------------------------------------- imputation
    def _impute_standardized(self, Z, observed, impute_samples=None, starts=None,
                             offset=0):
        """Impute a standardised (n_rows, n_features) array, chunk by chunk.

        ``impute_samples(Y, M)`` maps a batch of samples to their imputation;
        it defaults to the subclass's ``_impute_samples``. ``starts`` and
        ``offset``: the windows to stitch and the index of the first among
        those of the whole series (:meth:`SampleCodec.apply`).
        """
        if self.layout_.kind == "table" and impute_samples is None:
            return self._impute_table(Z, observed)
        return self.codec_.apply(Z, observed, impute_samples or self._impute_samples,
                                 chunk=self._transform_chunk, starts=starts,
                                 offset=offset)

    def _impute_table(self, Z, observed):
        """Impute a whole standardised (T, D) table (``"table"`` layout)."""
        raise ValueError(
            f"{type(self).__name__} does not impute whole tables "
            "(layout='series' without window); pass window=... to cut the "
            "series into windows."
        )

    def _impute(self, X, observed, *, starts=None, offset=0, rows=None):
        """Impute a validated array; observed entries put back if asked.

        ``starts`` and ``rows`` serve the chunked transform of dask arrays
        (:mod:`sklvar.impute._dask`): X is then a block of a long series with
        its overlap, ``starts`` the windows of the whole series in it,
        ``offset`` the index of the first of them in the whole series and
        ``rows`` (a slice) the rows of the block to return.
        """
        # whole tables are solved in double precision (sparse direct solve)
        dtype = np.float64 if self.layout_.kind == "table" else None
        Z = self.codec_.standardize(X, observed, dtype)
        Z_hat = self._impute_standardized(Z, observed, starts=starts,
                                          offset=offset)
        if rows is not None:
            X, observed, Z_hat = X[rows], observed[rows], Z_hat[rows]
        with np.errstate(over="ignore", invalid="ignore"):
            out = self.codec_.destandardize(Z_hat)
        if np.all(np.isfinite(Z_hat)) and not np.all(np.isfinite(out)):
            raise ValueError(
                f"{type(self).__name__}: the imputed values overflow float64 in "
                "the units of X (its values are close to the largest float, "
                f"{np.finfo(np.float64).max:.3g}); rescale X (for example divide "
                "it by a power of 10) before imputing."
            )
        if not np.all(np.isfinite(out)):
            raise FloatingPointError(
                f"{type(self).__name__} produced non-finite values; the model "
                f"diverged.{self._divergence_hint}"
            )
        if self.keep_observed:
            out[observed] = X[observed]
        return out.astype(X.dtype, copy=False)

    @_with_threads
    def transform(self, X, *, mask=None, return_std=False):
        """Impute the missing entries of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with missing entries (``missing_values``, NaN by default).
            A dask array (rows = time steps with ``window``, rows = samples
            otherwise) is imputed lazily, block by block, and a dask array
            returned (:func:`sklvar.dask.transform`, which has the details;
            needs ``pip install "sklvar[dask]"``).
        mask : array-like of bool, same shape as X, or None
            True where X is observed; None derives it from ``missing_values``.
        return_std : bool, default=False
            Also return the calibrated standard deviation of the error of each
            imputed entry (0 on observed entries); see
            :meth:`predict_interval` for how it is calibrated.

            .. versionadded:: 0.3

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features)
            Missing entries filled; observed entries unchanged when
            ``keep_observed=True``, denoised by the model otherwise. A dask
            array when X is one.
        X_std : ndarray of shape (n_samples, n_features)
            Only with ``return_std=True``: the spread of each entry, in the
            units of X (without the ``add_indicator`` columns).
        """
        check_is_fitted(self)
        if _is_dask_array(X):
            if return_std:
                raise ValueError(
                    "return_std=True is not supported for dask arrays; got a "
                    f"{type(X).__name__}. Compute the spread on blocks in memory "
                    "(transform(block, return_std=True)), or pass a NumPy array."
                )
            from ._dask import transform_dask

            return transform_dask(self, X, mask)
        X, observed = self._validate_X(X, mask, reset=False)
        out = self._impute_or_copy(X, observed)
        std = None
        if return_std:
            cal = self._calibration()
            std = (cal.scale(observed) * cal.unit_std).astype(out.dtype, copy=False)
        if self.indicator_ is not None:
            marks = self.indicator_.transform(self._missing_marks(observed))
            out = np.hstack([out, marks.astype(out.dtype)])
        return out if std is None else (out, std)

    def _impute_or_copy(self, X, observed):
        if self.keep_observed and observed.all():
            return X.copy()
        return self._impute(X, observed)

    # ------------------------------------------------------------ uncertainty
    # hiding draws of the calibration made at fit (``calibration_``)
    _calibration_draws = 5
    # rows (independent samples) the calibration imputes at most
    _calibration_max_samples = 2000

    def _calibration_predict(self, X, observed):
        """``predict(input_mask)``: X imputed from the entries of ``input_mask``.

        Used by the calibration at fit (:mod:`sklvar.impute._uncertainty`);
        estimators that would refit their model there override it.
        """

        def predict(input_mask):
            return self._impute(np.where(input_mask, X, 0.0), input_mask)

        return predict

    def _calibrate(self, X, observed):
        """Fit ``calibration_`` on hidden observed entries of the training X."""
        if hasattr(self, "calibration_"):  # a refit: no stale calibration
            del self.calibration_
        if not self.calibrate:
            return
        seed = (self.random_state if isinstance(self.random_state, Integral)
                else 0)
        # a stream of its own: the hiding draws differ from the model choice's
        rng = np.random.RandomState([int(seed) % (2**31), 16])
        kind, shape = calibration_kind(self.layout_)
        layout = self.layout_
        n_max = self._calibration_max_samples
        if (layout.kind != "table" and layout.window is None
                and observed.shape[0] > n_max):
            # independent samples (images, vectors, windows given as rows):
            # a random subset bounds the cost of the calibration's imputations
            rows = np.sort(rng.choice(observed.shape[0], n_max, replace=False))
            X, observed = X[rows], observed[rows]
        hides = calibration_hides(self, observed, rng, self._calibration_draws)
        X = np.asarray(X, dtype=np.float64)
        # warnings of the imputations of hidden entries (OMP's linear
        # dependence, a field refit's convergence) are about inputs the user
        # never passed: they are not shown
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.calibration_ = ResidualCalibration.fit(
                X, observed, self._calibration_predict(X, observed), hides,
                kind=kind, shape=shape,
            )

    def _calibration(self):
        cal = getattr(self, "calibration_", None)
        if cal is None:
            if not getattr(self, "calibrate", True):
                raise ValueError(
                    f"this {type(self).__name__} was fitted with "
                    "calibrate=False: it has no calibration of its errors. "
                    "Fit it with calibrate=True (the default) to get "
                    "intervals, spreads and draws."
                )
            raise ValueError(
                f"this {type(self).__name__} has no calibration of its errors "
                "(fitted by an older sklvar version, or loaded from such a "
                "file); fit it again to get intervals and draws."
            )
        return cal

    @_with_threads
    def predict_quantiles(self, X, quantiles, *, mask=None):
        """Calibrated quantiles of every entry of X.

        The quantiles come from the residuals of the fitted model on observed
        entries hidden at fit in gaps shaped like the training data's own
        (shifted in time for series; random entries for rows that are
        samples), normalised by a scale that grows with the distance to the
        nearest observed entry of the series (with the number of missing
        entries of the row for samples) and differs between columns: split
        conformal prediction, no truth of the gaps needed.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with missing entries.
        quantiles : array-like of float in (0, 1)
            Probabilities of the quantiles (e.g. ``[0.05, 0.5, 0.95]``).
        mask : array-like of bool or None
            True where X is observed.

        Returns
        -------
        X_quantiles : ndarray of shape (n_quantiles, n_samples, n_features)
            Observed entries equal the output of :meth:`transform` (X itself
            with ``keep_observed=True``) at every probability.

            .. versionadded:: 0.3
        """
        check_is_fitted(self)
        probs = np.atleast_1d(np.asarray(quantiles, dtype=float))
        if probs.ndim != 1 or probs.size == 0 or \
                not np.all((probs > 0) & (probs < 1)):
            raise ValueError(
                "quantiles must be a non-empty 1-D sequence of probabilities in "
                f"(0, 1), got {quantiles!r}."
            )
        X, observed = self._validate_X(X, mask, reset=False)
        X_hat = self._impute_or_copy(X, observed)
        out = self._calibration().quantiles_of(X_hat, observed, probs)
        return out.astype(X_hat.dtype, copy=False)

    def predict_interval(self, X, level=0.9, *, mask=None):
        """Calibrated central interval of every entry of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with missing entries.
        level : float in (0, 1), default=0.9
            Nominal coverage: the interval holds the true value of a missing
            entry with this probability (calibrated on hidden observed
            entries, see :meth:`predict_quantiles`).
        mask : array-like of bool or None
            True where X is observed.

        Returns
        -------
        lower, upper : ndarray of shape (n_samples, n_features)
            Bounds of the interval; both equal the imputed value on observed
            entries. Intervals are nested: a higher level gives a wider one.

            .. versionadded:: 0.3

        Examples
        --------
        >>> import numpy as np
        >>> from sklvar import VariationalImputer
        >>> rng = np.random.RandomState(0)
        >>> X = np.cumsum(rng.normal(size=(300, 3)), axis=0)
        >>> X[100:140, 0] = np.nan
        >>> imp = VariationalImputer(layout="series", random_state=0).fit(X)
        >>> lower, upper = imp.predict_interval(X, 0.9)
        >>> width = upper[:, 0] - lower[:, 0]
        >>> bool(width[120] > width[100])  # wider mid-gap than at its edge
        True
        """
        level = check_level(level)
        lower, upper = self.predict_quantiles(
            X, [(1 - level) / 2, (1 + level) / 2], mask=mask)
        return lower, upper

    @_with_threads
    def sample(self, X, n_samples=1, *, mask=None, random_state=None):
        """Draw imputations of X for multiple imputation.

        Each draw keeps the observed entries of X and fills the missing ones
        with the imputed value plus a calibrated error: its quantiles at each
        entry are those of :meth:`predict_quantiles`, and along a gap of a
        series the errors are correlated in time (an AR(1) Gaussian copula
        whose correlation is estimated on the hidden gaps at fit), so each
        draw is a plausible trajectory. The cost is linear in ``n_samples``
        after one imputation.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
            Data with missing entries.
        n_samples : int, default=1
            Number of imputations drawn.
        mask : array-like of bool or None
            True where X is observed.
        random_state : int, RandomState instance or None, default=None
            Seed of the draws; None uses the estimator's ``random_state``
            (so an int there makes the draws reproducible).

        Returns
        -------
        X_draws : ndarray of shape (n_samples, n_rows, n_features)
            Observed entries equal to X (the output of :meth:`transform`) in
            every draw.

            .. versionadded:: 0.3

        Examples
        --------
        >>> import numpy as np
        >>> from sklvar import VariationalImputer
        >>> rng = np.random.RandomState(0)
        >>> X = np.cumsum(rng.normal(size=(300, 3)), axis=0)
        >>> X[100:140, 0] = np.nan
        >>> imp = VariationalImputer(layout="series", random_state=0).fit(X)
        >>> draws = imp.sample(X, n_samples=20, random_state=0)
        >>> draws.shape
        (20, 300, 3)
        >>> observed = ~np.isnan(X)
        >>> bool(np.all(draws[:, observed] == X[observed]))
        True
        """
        check_is_fitted(self)
        n_samples = check_n_samples(n_samples)
        X, observed = self._validate_X(X, mask, reset=False)
        X_hat = self._impute_or_copy(X, observed)
        source = self.random_state if random_state is None else random_state
        if isinstance(source, Integral):
            rng = np.random.RandomState([int(source) % (2**31), 17])
        else:
            rng = check_random_state(source)
        out = self._calibration().draws(X_hat, observed, n_samples, rng)
        return out.astype(X_hat.dtype, copy=False)

    @staticmethod
    def _missing_marks(observed):
        """NaN where missing: the input MissingIndicator sees (mask included)."""
        return np.where(observed, 0.0, np.nan)

    def get_feature_names_out(self, input_features=None):
        """Output feature names: the input names, then the indicator's.

        Parameters
        ----------
        input_features : array-like of str or None
            Input feature names; None uses ``feature_names_in_`` or
            ``x0, x1, ...``.

        Returns
        -------
        feature_names_out : ndarray of str
        """
        names = super().get_feature_names_out(input_features)
        if getattr(self, "indicator_", None) is None:
            return names
        return np.concatenate([names, self.indicator_.get_feature_names_out(names)])

    def fit_transform(self, X, y=None, *, mask=None):
        """Fit to X, then impute X. See :meth:`fit` and :meth:`transform`."""
        # not under _with_threads: fit validates n_threads first, then each of
        # fit and transform applies it
        return self.fit(X, y, mask=mask).transform(X, mask=mask)

    # ------------------------------------------------------------------ score
    def _hide_for_score(self, observed):
        """Seeded hidden subset of the observed entries, in X's shape.

        For the ``"table"`` layout the hidden entries are the table's own gaps
        rolled along time (same lengths, same series, alignment kept) by the
        offset that puts them nearest in time to the real gaps
        (:func:`~sklvar.utils._gmrf.near_gaps_hides`), so the score measures
        the error on gaps like the ones to fill, where they are.
        """
        seed = self.random_state if isinstance(self.random_state, Integral) else 0
        rng = np.random.RandomState(seed)
        if self.layout_.kind == "table":  # gaps shaped like the table's own
            return near_gaps_hides(observed, rng, 1)[0]
        if self.layout_.window is not None:
            obs = observed.T[None]  # one series (1, D, T)
            block = (1, max(1, self.window // 10))
            return hide_observed(obs, self.hide_fraction, rng, block)[0].T
        obs = observed.reshape((observed.shape[0],) + self.layout_.shape)
        block = self.layout_.default_block()
        hidden = hide_observed(obs, self.hide_fraction, rng, block)
        return hidden.reshape(observed.shape)

    @_with_threads
    def score(self, X, y=None, *, mask=None):
        """Minus the normalised mean squared error of the imputation.

        Without true states, a seeded part of the observed entries
        (``hide_fraction``, in blocks along time for series) is hidden, X is
        imputed, and the error is measured on the hidden entries: this is a
        label-free score, so GridSearchCV can tune the model on gappy data
        alone. With ``y`` (the complete true states), the error is measured on
        the entries missing in X. Errors are divided by each channel's variance
        (the fitted standardisation), so 0 is perfect and -1 is about as good
        as predicting the mean.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with missing entries.
        y : array-like of shape (n_samples, n_features) or None
            Complete true states; a 1-D y is ignored.
        mask : array-like of bool or None
            True where X is observed.

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        X, observed = self._validate_X(X, mask, reset=False)
        y = self._validate_y(y, X)
        if y is None:
            target_mask = self._hide_for_score(observed)
            input_mask = observed & ~target_mask
            target = X
        else:
            target_mask = ~observed
            input_mask = observed
            target = y
            if not target_mask.any():
                raise ValueError(
                    "score with y measures the error on the entries missing in X, "
                    "but X has no missing entry."
                )
        X_hat = self._impute(np.where(input_mask, X, 0.0), input_mask)
        err = self.codec_.channel_view(
            np.where(target_mask, (X_hat - target) ** 2, 0.0)
        )
        var = self.codec_.scaling.scale**2
        total = (err.sum(axis=(0, 2)) / var).sum()
        return -float(total / target_mask.sum())

    # ------------------------------------------------------------ persistence
    def save(self, path):
        """Save the fitted estimator to a file that is safe to load.

        The file (a numpy ``.npz`` archive) holds the parameters, the fitted
        state (standardisation, layout, model weights, field coefficients...)
        as numeric arrays and JSON, and the sklvar version. :meth:`load`
        reads it with ``allow_pickle=False``: loading never executes code, so
        a file from an untrusted source cannot run anything (it can still
        hold a bad model). Pickle (and ``joblib``) keep working, but load
        pickles only from sources you trust.

        Only estimators whose parameters are plain values can be saved this
        way: prior and solver by name, ``callbacks=None``, an int or None
        ``random_state``; otherwise a ``TypeError`` names the parameter.

        Parameters
        ----------
        path : str or path-like
            File to write (any name; ``.npz`` is customary).

        .. versionadded:: 0.2
        """
        from ._persist import save_estimator

        save_estimator(self, path)

    @classmethod
    def load(cls, path, *, device=None):
        """Load an estimator written by :meth:`save` (no code is executed).

        Parameters
        ----------
        path : str or path-like
        device : str or None, default=None
            Torch device of the loaded model (``VariationalImputer``); None
            keeps the saved ``device``.

        Returns
        -------
        estimator : instance of this class, fitted

        Raises
        ------
        ValueError
            When the file is not a sklvar estimator file, was written in
            another format version, or holds another class. A file written
            by another sklvar version loads with a ``UserWarning``.

        .. versionadded:: 0.2
        """
        from ._persist import load_estimator

        return load_estimator(cls, path, device=device)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = _is_nan(self.missing_values)
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
