"""DictionaryImputer: sparse coding over a learned dictionary (layer 6).

Torch-free: this module imports only numpy, scikit-learn and sklvar's
torch-free layers, so ``from sklvar import DictionaryImputer`` never imports
torch.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import _fit_context
from sklearn.decomposition import MiniBatchDictionaryLearning, sparse_encode
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import _atomic_fit, _BaseImputer, _with_threads

_TRANSFORM_ALGORITHMS = ("omp", "lasso_lars", "lasso_cd")


class DictionaryImputer(_BaseImputer):
    r"""Impute missing values by sparse coding over a learned dictionary.

    The baseline of Fablet et al. (2020): a dictionary :math:`D` is learned
    with :class:`~sklearn.decomposition.MiniBatchDictionaryLearning` on the
    training samples, and a sample :math:`y` observed on :math:`\Omega` is
    imputed by iterative coding and decoding. Starting from the filled
    observation :math:`x_0` (the mean, or linear interpolation along time for
    series),

    .. math::

        c_k = \operatorname{code}_D(x_k), \qquad
        x_{k+1} = \Omega\, y + (1 - \Omega)\, c_k D ,

    where the sparse code is computed by orthogonal matching pursuit (OMP) or
    the Lasso (:func:`~sklearn.decomposition.sparse_encode`), for
    :math:`k = 0, \dots, K-1` (``n_coding_iter``). The imputation is the last
    decoding :math:`c_{K-1} D` at the missing entries, and also at the observed
    ones with ``keep_observed=False`` (denoising). scikit-learn's
    :class:`~sklearn.decomposition.DictionaryLearning` and
    :class:`~sklearn.decomposition.SparseCoder` reject missing values; this
    estimator adds the missing-data loop, the sample layouts and the windowing
    of long series shared with :class:`~sklvar.VariationalImputer`.

    Parameters
    ----------
    n_components : int or None, default=None
        Number of dictionary atoms; None is the size of one sample (a complete
        dictionary). Larger values (over-complete dictionaries) are allowed;
        the number actually learned is clipped to the number of training
        samples (see ``components_``).
    transform_algorithm : {"omp", "lasso_lars", "lasso_cd"}, default="omp"
        Sparse coding algorithm used at imputation:

        - ``"omp"``: orthogonal matching pursuit, ``transform_n_nonzero_coefs``
          atoms per sample;
        - ``"lasso_lars"``: Lasso solved by least angle regression, penalty
          ``transform_alpha``;
        - ``"lasso_cd"``: Lasso solved by coordinate descent (warm-started
          from the previous code), penalty ``transform_alpha``.
    transform_n_nonzero_coefs : int or None, default=None
        Number of non-zero coefficients of an OMP code; None is a tenth of the
        sample size (at least 1). Clipped to the number of atoms and to the
        sample size. Ignored by the Lasso algorithms.
    transform_alpha : float or None, default=None
        Lasso penalty of the codes, on the scale of the squared error of one
        standardised sample; None is 1.0. Ignored by ``"omp"``.
    transform_max_iter : int, default=1000
        Maximum number of iterations of the Lasso solvers per coding.
    n_coding_iter : int, default=10
        Number of coding/decoding iterations at imputation.
    alpha : float, default=1.0
        Sparsity penalty of the codes during dictionary learning (the
        ``alpha`` of MiniBatchDictionaryLearning).
    fit_algorithm : {"cd", "lars"}, default="cd"
        Lasso solver of the codes during dictionary learning: coordinate
        descent (several times faster than "lars" on dense codes, such as
        those of small images) or least angle regression.
    batch_size : int, default=256
        Number of samples in each mini-batch of the dictionary learning.
    max_iter : int, default=10
        Maximum number of passes over the training samples of the dictionary
        learning (it stops earlier when ``tol`` is met).
    tol : float, default=1e-3
        Early stopping of the dictionary learning on the change of the
        dictionary between mini-batches (0 disables it).
    n_refine_iter : int, default=0
        Number of refinements of the dictionary: the training data are
        imputed with the current dictionary, and learning resumes from it on
        the imputed data. Unused when ``y`` (complete states) is given to
        :meth:`fit`.
    initial_strategy : {"auto", "mean", "linear"}, default="auto"
        Initial fill of the missing entries, for learning and for the first
        coding:

        - ``"mean"``: the mean of each entry of a sample over the training
          samples (the feature means for vectors, the mean image for images;
          the channel means for the windows of a long series);
        - ``"linear"``: linear interpolation along the last axis of a sample
          (time for series), constant beyond the first and last observations;
          the mean for vectors;
        - ``"auto"``: "linear" for series, "mean" otherwise.
    missing_values : float, default=np.nan
        Placeholder of the missing entries of X.
    keep_observed : bool, default=True
        Return observed entries unchanged; False returns the last decoding
        everywhere (the denoising setting).
    add_indicator : bool, default=False
        Append the columns of :class:`~sklearn.impute.MissingIndicator`
        (``features="missing-only"``: one boolean column per feature with a
        missing entry at fit time) to the output of :meth:`transform`, as
        scikit-learn's imputers do.
    sample_shape : tuple of int or None, default=None
        Shape of one row of X as a sample: ``(H, W)`` or ``(C, H, W)`` for
        images, ``(C, L)`` for multichannel series (with ``layout="series"``).
        None: each row is a plain feature vector.
    layout : {"auto", "vector", "series", "image"}, default="auto"
        How a sample is laid out; "auto" picks "series" with ``window``,
        "vector" without ``sample_shape`` or with one entry, "image" with
        three. A ``sample_shape`` of two entries is ambiguous, ``(H, W)`` or
        ``(C, L)``: "auto" reads it as a one-channel image ``(1, H, W)`` and
        warns (UserWarning); pass ``layout="image"`` or ``layout="series"``
        to choose and silence it. Here the layout decides the initial fill
        and the blocks hidden by :meth:`score`; it is ``layout_`` after fit.
    window : int or None, default=None
        X is one long series (rows are time steps, columns variables): it is
        cut into overlapping windows of this length, which are the samples of
        the dictionary, and the imputed windows are stitched back with
        triangular weights. Any length works.
    stride : int or None, default=None
        Step between windows; None is ``window // 2``.
    hide_fraction : float, default=0.2
        Fraction of the observed entries hidden by the label-free
        :meth:`score`.
    calibrate : bool, default=True
        Fit ``calibration_`` at the end of :meth:`fit`: imputations of
        observed entries hidden in gaps shaped like the data's own (series:
        fifteen, five shifted copies of the gaps each hidden a third at a
        time; independent samples: five, of at most 2,000 of them drawn at
        random). It gives the intervals, spreads and draws. False skips that
        cost (a grid search that only scores, a benchmark), and the interval
        methods then raise.
    n_threads : int or None, default=1
        Number of BLAS threads (through threadpoolctl) used by :meth:`fit`,
        :meth:`transform` and :meth:`score`; the previous limits are restored
        when each call returns (or raises). None leaves them as they are.
        One, as in :class:`VariationalImputer`: the sparse codings are small
        matrix products; on a 2-core CPU, 2 BLAS threads took 1.07x the time
        of 1 when the machine was idle and 1.7x with one core busy
        (``benchmarks/SPEED.md``, "Thread count of the estimators").
    random_state : int, RandomState instance or None, default=None
        Seeds the dictionary learning (initialisation, shuffling, resampling
        of unused atoms).
    verbose : int, default=0
        Print a summary of the fit (layout, atoms, passes) when > 0, and the
        dictionary learning's progress when > 1.

    Attributes
    ----------
    components_ : ndarray of shape (n_atoms, n_sample_features)
        The learned dictionary, one unit-norm atom per row, in standardised
        units, on flattened samples (``n_sample_features`` is the product of
        ``layout_.shape``). ``n_atoms`` is ``n_components`` (or the sample
        size when None) clipped to the number of training samples.
    n_iter_ : int
        Number of passes over the training samples run by the dictionary
        learning, summed over the initial fit and the refinements.
    layout_ : SampleLayout
        Resolved sample layout: ``layout_.kind`` ("vector", "series" or
        "image"), ``layout_.shape`` (the shape of one sample, channels
        first) and ``layout_.window`` (the window length with ``window``,
        else None).
    codec_ : SampleCodec
        The fitted data path (:class:`~sklvar.utils.SampleCodec`, shared with
        the other sklvar estimator): ``codec_.layout`` (``layout_``),
        ``codec_.scaling`` (the per-channel standardisation), the windows and
        their stitching, the initial fill. ``codec_.encode(X)`` gives the
        standardised samples and masks the model sees; ``codec_.decode``
        puts samples back into the shape and units of X.
    calibration_ : ResidualCalibration
        The calibrated model of the imputation errors, fitted at the end of
        :meth:`fit` on observed entries hidden in gaps shaped like the
        training data's own (no truth): it gives the spread of
        ``transform(X, return_std=True)``, :meth:`predict_interval`,
        :meth:`predict_quantiles` and the draws of :meth:`sample` (see the
        user guide, "Uncertainty").

        .. versionadded:: 0.3
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of str
        Names of the features seen in fit, when X has string column names.

    See Also
    --------
    VariationalImputer : Learned variational model and solver.
    sklearn.decomposition.MiniBatchDictionaryLearning : The dictionary learner.
    sklearn.decomposition.sparse_encode : The sparse coding step.

    Notes
    -----
    Data are standardised per channel with the mean and standard deviation
    of the observed training values. Without complete training states, the
    dictionary is learned on the initially filled samples (the filled values
    bias it towards the mean); ``n_refine_iter`` re-learns it on imputed
    samples. Imputation costs ``n_coding_iter`` sparse codings of every
    sample with a missing entry; samples with none are returned as they are
    when ``keep_observed=True``.

    References
    ----------
    R. Fablet, L. Drumetz, F. Rousseau. Joint learning of variational
    representations and solvers for inverse problems with partially-observed
    data. arXiv:2006.03653, 2020.

    J. Mairal, F. Bach, J. Ponce, G. Sapiro. Online dictionary learning for
    sparse coding. ICML 2009.

    Examples
    --------
    >>> import numpy as np
    >>> from sklvar import DictionaryImputer
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(64, 2)) @ rng.normal(size=(2, 6))
    >>> X[rng.uniform(size=X.shape) < 0.2] = np.nan
    >>> imp = DictionaryImputer(n_components=4, transform_n_nonzero_coefs=2,
    ...                         random_state=0)
    >>> X_filled = imp.fit_transform(X)
    >>> bool(np.isnan(X_filled).any())
    False
    >>> imp.components_.shape
    (4, 6)
    """

    # sparse coding runs in numpy: keep float64 precision
    _work_dtype = np.float64
    _divergence_hint = " Check transform_alpha and n_coding_iter."

    _parameter_constraints: dict = {
        **_BaseImputer._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "transform_algorithm": [StrOptions(set(_TRANSFORM_ALGORITHMS))],
        "transform_n_nonzero_coefs": [
            Interval(Integral, 1, None, closed="left"), None,
        ],
        "transform_alpha": [Interval(Real, 0, None, closed="left"), None],
        "transform_max_iter": [Interval(Integral, 1, None, closed="left")],
        "n_coding_iter": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "fit_algorithm": [StrOptions({"lars", "cd"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_refine_iter": [Interval(Integral, 0, None, closed="left")],
        "initial_strategy": [StrOptions({"auto", "mean", "linear"})],
    }

    def __init__(
        self,
        n_components=None,
        *,
        transform_algorithm="omp",
        transform_n_nonzero_coefs=None,
        transform_alpha=None,
        transform_max_iter=1000,
        n_coding_iter=10,
        alpha=1.0,
        fit_algorithm="cd",
        batch_size=256,
        max_iter=10,
        tol=1e-3,
        n_refine_iter=0,
        initial_strategy="auto",
        missing_values=np.nan,
        keep_observed=True,
        add_indicator=False,
        sample_shape=None,
        layout="auto",
        window=None,
        stride=None,
        hide_fraction=0.2,
        calibrate=True,
        n_threads=1,
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.transform_algorithm = transform_algorithm
        self.transform_n_nonzero_coefs = transform_n_nonzero_coefs
        self.transform_alpha = transform_alpha
        self.transform_max_iter = transform_max_iter
        self.n_coding_iter = n_coding_iter
        self.alpha = alpha
        self.fit_algorithm = fit_algorithm
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_refine_iter = n_refine_iter
        self.initial_strategy = initial_strategy
        self.missing_values = missing_values
        self.keep_observed = keep_observed
        self.add_indicator = add_indicator
        self.sample_shape = sample_shape
        self.layout = layout
        self.window = window
        self.stride = stride
        self.hide_fraction = hide_fraction
        self.calibrate = calibrate
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    @_with_threads
    @_atomic_fit
    def fit(self, X, y=None, *, mask=None):
        """Learn the dictionary.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data with missing entries.
        y : array-like of shape (n_samples, n_features) or None
            Complete true states of X: the dictionary is learned on them.
            None (or a 1-D target, which is ignored) learns it on the
            initially filled X.
        mask : array-like of bool, same shape as X, or None
            True where X is observed; None derives it from ``missing_values``.

        Returns
        -------
        self : DictionaryImputer
        """
        X, observed, X_true = self._prepare_fit(X, y, mask)
        n_sample_features = self.layout_.size
        Y, M = self.codec_.encode(X, observed)
        Y, M = self._flat(Y), M.reshape(len(M), -1)
        if X_true is None:
            self._fit_fill_values(Y, M)
            X_train = self._initial_fill(Y, M)
        else:
            full = np.ones_like(observed)
            X_train = self._flat(self.codec_.encode(X_true, full)[0])
            self._fit_fill_values(X_train, np.ones_like(X_train, dtype=bool))
        n_samples = X_train.shape[0]

        # resolved sizes; the user's parameters are never overwritten
        n_components = self.n_components
        if n_components is None:
            n_components = n_sample_features
        self._n_components = min(n_components, n_samples)

        rng = check_random_state(self.random_state)
        learner = MiniBatchDictionaryLearning(
            n_components=self._n_components,
            alpha=self.alpha,
            max_iter=self.max_iter,
            fit_algorithm=self.fit_algorithm,
            batch_size=self.batch_size,
            tol=self.tol,
            random_state=rng,
            verbose=self.verbose > 1,
        )
        learner.fit(X_train)
        self.components_ = self._normalize_atoms(learner.components_)
        n_iter = int(learner.n_iter_)
        if X_true is None:
            for _ in range(self.n_refine_iter):
                X_train = self._code_decode(Y, M, keep_observed=True)
                learner.set_params(dict_init=self.components_).fit(X_train)
                self.components_ = self._normalize_atoms(learner.components_)
                n_iter += int(learner.n_iter_)
        self.n_iter_ = n_iter
        if self.verbose > 0:
            print(
                f"[DictionaryImputer] layout: {self.layout_.describe()}; "
                f"{self._n_components} atoms learned on "
                f"{n_samples} samples of {n_sample_features} entries in "
                f"{self.n_iter_} passes."
            )
        self._calibrate(X, observed)
        return self

    # ------------------------------------------------------------ inference
    @staticmethod
    def _flat(A):
        """(n, n_sample_features) float64 copy of samples (n, *shape)."""
        return np.asarray(A, dtype=np.float64).reshape(len(A), -1)

    @staticmethod
    def _normalize_atoms(D):
        """Unit-norm copy of the dictionary (null atoms stay null)."""
        D = np.array(D, dtype=np.float64, order="C")
        norms = np.linalg.norm(D, axis=1, keepdims=True)
        return D / np.where(norms > 0, norms, 1.0)

    def _fit_fill_values(self, Y, M):
        """Mean of each sample entry over the observed training samples.

        Standardised, so 0 for vectors; the mean image for images. Windows
        of a long series have no aligned entries: their fill is the channel
        mean (0).
        """
        count = M.sum(axis=0)
        if self.layout_.window is not None:
            self._fill_values = np.zeros(Y.shape[1])
        else:
            total = np.where(M, Y, 0.0).sum(axis=0)
            self._fill_values = np.where(count > 0, total / np.maximum(count, 1), 0.0)

    def _initial_fill(self, Y, M):
        """Initial fill of flat standardised samples (the codec's strategy)."""
        return self.codec_.initial_fill(Y, M, self._fill_values)

    def _n_nonzero_coefs(self):
        """OMP sparsity: transform_n_nonzero_coefs resolved and clipped."""
        n_atoms, n_sample_features = self.components_.shape
        n_nonzero = self.transform_n_nonzero_coefs
        if n_nonzero is None:
            n_nonzero = max(n_sample_features // 10, 1)
        return min(n_nonzero, n_atoms, n_sample_features)

    def _encode(self, X, gram, init):
        """Sparse codes of flat samples X on ``components_`` (no validation)."""
        algorithm = self.transform_algorithm
        return sparse_encode(
            X, self.components_, gram=gram, algorithm=algorithm,
            n_nonzero_coefs=self._n_nonzero_coefs(),
            alpha=1.0 if self.transform_alpha is None else self.transform_alpha,
            init=init if algorithm == "lasso_cd" else None,
            max_iter=self.transform_max_iter, check_input=False,
        )

    def _code_decode(self, Y, M, *, keep_observed):
        """Iterative coding/decoding of flat standardised samples.

        Observed values are put back after every decoding but the last,
        whose values are kept at the observed entries unless
        ``keep_observed``. Samples without a missing entry are returned as
        they are when ``keep_observed``.
        """
        out = np.where(M, Y, 0.0)
        rows = ~M.all(axis=1) if keep_observed else np.ones(len(Y), dtype=bool)
        if not rows.any():
            return out
        Y_r, M_r = Y[rows], M[rows]
        D = self.components_
        gram = D @ D.T
        X = np.ascontiguousarray(self._initial_fill(Y_r, M_r))
        code = None
        for _ in range(self.n_coding_iter):
            code = self._encode(X, gram, code)
            decoded = code @ D
            X = np.where(M_r, Y_r, decoded)
        out[rows] = X if keep_observed else decoded
        return out

    def _impute_samples(self, Y, M):
        """Impute standardised samples (n, *layout_.shape); same shape out."""
        out = self._code_decode(
            self._flat(Y), np.asarray(M, dtype=bool).reshape(len(M), -1),
            keep_observed=self.keep_observed,
        )
        return out.reshape(Y.shape)
