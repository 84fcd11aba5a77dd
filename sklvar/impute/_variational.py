"""VariationalImputer: the learned variational imputer (layer 6)."""

import contextlib
import copy
import threading
import time
import warnings
import weakref
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback, ProgressBar

from ..energy import VariationalCost
from ..model import VariationalModel
from ..net import (
    DivergenceGuard,
    IterationCurriculum,
    TimeBudget,
    WeightAverage,
    VariationalNet,
    catch_sigint,
    prior_param_groups,
)
from ..priors import PRIORS, Prior
from ..solvers import SOLVERS, Solver
from ..utils._gmrf import (
    FIELD_CANDIDATES,
    FIELD_KINDS,
    em_field,
    fit_field,
    field_phi,
    increments_phi,
    linear_fill_table,
    linear_phi_coefs,
    select_field,
)
from ..utils._threads import blas_threads
from ..utils._torch import check_device, seed_from_random_state, torch_threads
from ._base import _atomic_fit, _BaseImputer, _with_threads


class TrainingInterruptedWarning(UserWarning):
    """Training was interrupted by Ctrl-C (SIGINT) before its last epoch."""


def _build_component(kind, choice, registry, params, layout, context):
    """A prior or solver from a name, a class or an instance (build protocol).

    Names and classes go through ``cls.build(layout, context, **params)``;
    an instance is copied and bound with ``bind(layout, context)``. ``context``
    is the standardisation for a prior and the built prior for a solver.
    """
    label = repr(choice) if isinstance(choice, str) else getattr(
        choice, "__name__", type(choice).__name__)
    if isinstance(choice, str):
        choice = registry[choice]
    if not isinstance(choice, type):
        if params:
            raise ValueError(
                f"{kind}_params={params!r} only apply to a {kind} given by name or "
                f"by class; {kind}={type(choice).__name__}(...) is an instance: "
                f"pass its options to its constructor, or pass the class."
            )
        return copy.deepcopy(choice).bind(layout, context)
    params = dict(params or {})
    try:
        return choice.build(layout, context, **params)
    except TypeError as exc:
        raise ValueError(
            f"{kind}_params={params!r} are not accepted by {choice.__name__} "
            f"({kind}={label}): {exc}."
        ) from exc


# Compiled inference modules (``inference_compile``), per estimator: weak
# keys, so that nothing outlives the estimator, and nothing is added to its
# attributes (which pickle and ``save`` serialise). One lock for every
# compiled call: torch.compile is not thread-safe.
_COMPILED = weakref.WeakKeyDictionary()
_COMPILE_LOCK = threading.RLock()


def _compiled(est, module, device):
    """``torch.compile(module)``, cached for ``est`` (per module and device).

    The first call of the compiled module compiles it; a failure there (no
    C++ compiler, an unsupported operation) is reported by :class:`_CompiledCall`.
    """
    cache = _COMPILED.setdefault(est, {})
    key = (id(module), str(device))
    hit = cache.get(key)
    if hit is None or hit[0] is not module:
        compiled = torch.compile(module, dynamic=False)
        hit = cache[key] = (module, _CompiledCall(compiled))
    return hit[1]


class _CompiledCall:
    """Call a compiled module; a compilation error names the parameter."""

    def __init__(self, compiled):
        self.compiled = compiled

    def __call__(self, *args):
        try:
            return self.compiled(*args)
        except Exception as exc:  # inductor raises many kinds
            raise RuntimeError(
                "inference_compile=True: torch.compile failed on this model "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}). "
                "On the CPU inductor needs a C++ compiler (e.g. gcc); set "
                "inference_compile=False to run the inference eagerly."
            ) from exc


class VariationalImputer(_BaseImputer):
    r"""Impute missing values with a learned variational model and solver.

    The imputation of a sample is the output of an iterative solver
    :math:`\Gamma` run on the variational cost (Fablet et al. 2020, eq. 2)

    .. math::

        U_\Phi(x; y, \Omega) = \lambda_{obs} \|x - y\|^2_\Omega
            + \lambda_{prior} \|x - \Phi(x)\|^2

    where :math:`\Omega` is the set of observed entries and :math:`\Phi` a
    learned prior operator. :math:`\Phi`, the weights :math:`\lambda` and the
    solver are trained end to end on the reconstruction error (eq. 5), from
    complete true states when ``y`` is given to :meth:`fit`, otherwise
    self-supervised (a random part of the observed entries is hidden and the
    model learns to reconstruct it).

    Parameters
    ----------
    prior : str, Prior subclass or Prior, default="auto"
        The operator :math:`\Phi`:

        - ``"auto"``: ``"field"`` for series tables (``layout="series"``
          without ``window``), ``"ae"`` otherwise;
        - ``"field"``: linear Gaussian field over time x series, for series
          tables only: every entry is predicted from the entries of all
          series within ``order`` steps of it (itself excluded), with the
          coefficients of a stationary Gaussian field fitted by EM rounds
          on the observed entries (``prior_params``: ``order``, ``alpha``
          the ridge, ``kind`` ``"field"``, ``"temporal"`` (each series
          alone), ``"increments"`` (a field on the first differences, solved
          by least squares: for random-walk-like series) or ``"linear"``).
          With ``prior="auto"`` the model is chosen
          among ``sklvar.utils._gmrf.FIELD_CANDIDATES`` (orders 0 to 3, two
          ridges, series alone, increments, linear interpolation) on held-out observed
          entries (the table's own gaps shifted in time) and the best two
          are blended;

        - ``"pca"``: projection on principal components fitted on the training
          data (:class:`~sklvar.priors.PCAPrior`);
        - ``"ae"``: dense auto-encoder (:class:`~sklvar.priors.AutoEncoderPrior`);
        - ``"cnn"``: two-scale bilinear CNN of the paper's eq. 3, 1-D along
          time for series, 2-D for images
          (:class:`~sklvar.priors.TwoScaleCNNPrior`);
        - ``"lorenz63"``, ``"lorenz96"``: one RK4 step of the known ODE with
          learnable coefficients, in physical units (the estimator passes its
          standardisation) (:class:`~sklvar.priors.Lorenz63Prior`,
          :class:`~sklvar.priors.Lorenz96Prior`);
        - ``"bilinear_ode"``: a learnable bilinear vector field integrated by
          RK4, for any multivariate series
          (:class:`~sklvar.priors.BilinearODEPrior`);
        - a :class:`~sklvar.priors.Prior` subclass, built at fit for the
          fitted layout and standardisation with ``prior_params``
          (:meth:`~sklvar.priors.Prior.build`), or a ``Prior`` instance,
          copied at fit and bound to them (:meth:`~sklvar.priors.Prior.bind`;
          the ODE priors take the standardisation there, so they run in
          physical units either way).
    solver : {"auto", "lstm", "gd", "fixed_point"}, Solver subclass or Solver, \
            default="auto"
        The solver :math:`\Gamma`:

        - ``"auto"``: ``"fixed_point"`` for series tables, ``"lstm"``
          otherwise;

        - ``"lstm"``: learned LSTM solver fed with the normalised gradient
          (:class:`~sklvar.solvers.LSTMSolver`);
        - ``"gd"``: fixed-step gradient descent on the normalised gradient,
          learnable step (:class:`~sklvar.solvers.GradientDescentSolver`);
        - ``"fixed_point"``: :math:`x \leftarrow \Omega y + (1-\Omega)\Phi(x)`
          (:class:`~sklvar.solvers.FixedPointSolver`); with the linear
          ``"field"`` prior its fixed point is computed exactly by a sparse
          linear solve (the limit of the iteration, for any number of
          iterations);
        - a :class:`~sklvar.solvers.Solver` subclass, built at fit with
          ``solver_params`` (:meth:`~sklvar.solvers.Solver.build`), or a
          ``Solver`` instance, copied at fit and bound to the prior
          (:meth:`~sklvar.solvers.Solver.bind`).
    prior_params, solver_params : dict or None, default=None
        Keyword options of the prior / solver class (for example
        ``{"n_components": 20}`` or ``{"normalization": "batch"}``), for a
        prior / solver given by name or by class.
    n_solver_iter : int, default=10
        Number of solver iterations at inference (and at the end of training).
    n_solver_iter_start : int, default=5
        Number of solver iterations at the first epoch; it grows linearly to
        ``n_solver_iter`` over the first half of the epochs (curriculum).
    lambda_obs, lambda_prior : float, default=1.0
        Initial weights of the observation and prior terms (non-negative).
    learn_lambdas : bool, default=True
        Learn the two weights (kept non-negative as squares).
    joint : bool, default=True
        Learn :math:`\Phi` jointly with the solver (at ``prior_lr_scale``
        times the learning rate).
        If False, :math:`\Phi` is fitted first (PCA) or pre-trained on
        :math:`\|x - \Phi(x)\|^2` for ``max_epochs`` epochs, then frozen, and
        only the solver (and the weights) learn.
    prior_lr_scale : float, default=0.5
        Learning rate of a jointly learned :math:`\Phi` as a fraction of
        ``lr`` (the paper halves it, §3.3).
    loss_weights : tuple of 3 floats, default=(1.0, 0.05, 0.05)
        :math:`(\nu_1, \nu_2, \nu_3)` of the training loss
        :math:`\nu_1\|x - \tilde x\|^2 + \nu_2\|x - \Phi(x)\|^2
        + \nu_3\|\tilde x - \Phi(\tilde x)\|^2`.
    max_epochs : int, default=50
        Training epochs (0 leaves the solver untrained).
    batch_size : int, default=128
        Mini-batch size of training and of transform.
    lr : float, default=1e-3
        Adam learning rate of the solver (and weights).
    device : str, default="cpu"
        Torch device, e.g. ``"cuda"``.
    inference_dtype : {"float32", "bfloat16"}, default="float32"
        Precision of the neural models' inference (transform, score,
        project; training is always float32). ``"bfloat16"`` runs it under
        ``torch.autocast``: on a CPU with bfloat16 instructions (AVX512-BF16,
        AMX) the inference runs about 1.6x as fast, and the imputed values
        change by a few 1e-5 of their spread, rms (``benchmarks/SCALE.md``).
        Series tables (the field prior) do not use torch and are unaffected.
    inference_compile : bool, default=False
        Run the neural inference through ``torch.compile`` (inductor; on
        the CPU it needs a C++ compiler). The first transform of a fitted
        model compiles it: about 50 s on a cold cache, a few seconds when
        inductor's on-disk cache holds the graph (same torch, same model
        structure); later calls run about 1.3-1.5x as fast as eager
        (``benchmarks/SCALE.md``). The last batch is padded to
        ``batch_size`` so that one shape is compiled. Compiled batches run
        one at a time on ``n_threads`` intra-op threads (``torch.compile``
        is not thread-safe), and the values agree with eager inference to
        float tolerance. Training is never compiled; series tables (the
        field prior) do not use torch and are unaffected.
    training_dtype : {"float32", "bfloat16"}, default="float32"
        Precision of the training steps of the solver (and of a joint
        prior). ``"bfloat16"`` runs each step's forward pass (the unrolled
        solver, its gradients of the cost) and the loss under
        ``torch.autocast``; the weights, their gradients and Adam stay
        float32. On a CPU with bfloat16 instructions a training step of the
        Lorenz-63 2S-CNN + LSTM ran 1.15-1.2x as fast on two threads and
        1.4x on one
        (``benchmarks/TIME_TO_ACCURACY_10MIN.md``); the gradients are a few
        percent off their float32 values, so compare the accuracy on your
        data before relying on it. The pre-training of a non-joint prior
        stays float32.
    n_threads : int or None, default=1
        Number of torch intra-op threads (``torch.set_num_threads``) used by
        :meth:`fit`, :meth:`transform`, :meth:`score` and :meth:`project`;
        the caller's count is restored when each call returns (or raises).
        None leaves torch's setting as it is (by default, one thread per
        physical core). One thread is the default because more threads than
        free cores slow torch down several times on a shared machine, while
        they gain little on small fits on an idle one (``benchmarks/SPEED.md``,
        "Thread count of the estimators"). Raise it on a machine you have to
        yourself; with ``GridSearchCV(n_jobs=...)`` keep one thread per
        process. With more than one thread, the inference of the neural
        models on the CPU (transform, score, project) runs its batches in
        that many Python threads of one torch thread each, which gives the
        same result and suffers less from a core taken by another process.
    missing_values : float, default=np.nan
        Placeholder of the missing entries of X.
    keep_observed : bool, default=True
        Return observed entries unchanged; False returns the model's
        reconstruction everywhere (denoising). Series tables keep their
        observations either way (they are hard constraints of the exact
        fixed point).
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
        How a sample is laid out (decides 1-D or 2-D convolutions in the
        prior and the LSTM solver, hence the model and its cost); "auto"
        picks "series" with ``window``, "vector" without ``sample_shape`` or
        with one entry, "image" with three. A ``sample_shape`` of two entries
        is ambiguous, ``(H, W)`` or ``(C, L)``: "auto" reads it as a
        one-channel image ``(1, H, W)`` and warns (UserWarning); pass
        ``layout="image"`` or ``layout="series"`` to choose and silence it.
        The resolved layout is ``layout_``, printed at fit with ``verbose``.
        ``layout="series"`` without ``sample_shape`` nor ``window`` is the
        configuration for **time-series tables**: X is one multivariate series
        (rows are time steps, columns are series), imputed as a whole with the
        field prior (``layout_.kind == "table"``).
    window : int or None, default=None
        X is one long series (rows are time steps, columns variables): it is
        cut into overlapping windows of this length, imputed in batches and
        stitched back with triangular weights. Any length works.
    stride : int or None, default=None
        Step between windows; None is ``window // 2``.
    initial_strategy : {"auto", "mean", "linear"}, default="auto"
        Initial state of the solver: the mean, or linear interpolation along
        time; "auto" is "linear" for series and "mean" otherwise.
    hide_fraction : float, default=0.2
        Fraction of the observed entries hidden for self-supervised training
        and for the label-free :meth:`score`.
    calibrate : bool, default=True
        Fit ``calibration_`` at the end of :meth:`fit`: imputations of
        observed entries hidden in gaps shaped like the data's own (series:
        fifteen, five shifted copies of the gaps each hidden a third at a
        time; independent samples: five, of at most 2,000 of them drawn at
        random). It gives the intervals, spreads and draws. False skips that
        cost (a grid search that only scores, a benchmark), and the interval
        methods then raise.
    max_time : float or None, default=None
        Budget in seconds for fit. Neural models
        (:class:`~sklvar.net.TimeBudget`): the learning rate follows a cosine
        decay over the budget to a twentieth of ``lr``, the solver-iteration
        curriculum ramps from ``n_solver_iter_start`` to ``n_solver_iter``
        over its first half, and training stops at the first mini-batch that
        would start past the budget, mid-epoch if need be (history entry
        ``time_budget_stop``); ``max_epochs`` stays an upper bound, so set it
        high to let the budget decide. With ``joint=False`` the prior's
        pre-training takes at most half of the budget and the solver the
        rest. Series tables: no further candidate model is tried once half
        the budget is spent.
    ema_decay : float in (0, 1) or None, default=None
        Keep an exponential moving average of the trained weights (updated
        after every training batch with this decay) and end training with
        it (:class:`~sklvar.net.WeightAverage`); 0.99 averages over about
        the last 100 mini-batches. None keeps the last weights.
    random_state : int, RandomState instance or None, default=None
        Seeds numpy and torch (in a forked torch RNG, so the global state is
        untouched); the same int gives the same result on CPU.
    verbose : int, default=0
        When > 0, print the resolved layout and the model built (prior and
        solver classes, number of parameters, threads), then show a progress
        bar and skorch's per-epoch log (loss, solver iterations, time).
    keep_interrupted : bool, default=False
        What :meth:`fit` does when training is interrupted by Ctrl-C
        (SIGINT; skorch would otherwise end training quietly): it always warns
        (``TrainingInterruptedWarning``, naming the epoch reached); with
        False it then re-raises ``KeyboardInterrupt`` and leaves the estimator
        as it was before the call; with True it keeps the partly trained
        model, fitted, with ``interrupted_ = True``. A Ctrl-C outside the
        training epochs (the field fit of series tables, the prior's
        pre-training with ``joint=False``) always warns, re-raises and
        leaves the estimator as it was.

        .. versionadded:: 0.2
    callbacks : list or None, default=None
        Extra skorch callbacks for training, as ``(name, callback)`` pairs or
        callback instances, run after the iteration curriculum; e.g.
        ``[("lr", skorch.callbacks.LRScheduler("CosineAnnealingLR",
        T_max=max_epochs))]``, checkpointing or logging. They are deep-copied
        at each fit.

    Attributes
    ----------
    net_ : VariationalNet
        The fitted skorch net; ``net_.module_`` is the
        :class:`~sklvar.model.VariationalModel`.
    history_ : skorch.History
        Training history (losses, solver iterations per epoch).
    n_iter_ : int
        Number of epochs run.
    interrupted_ : bool
        True when training was interrupted by Ctrl-C and the model kept
        (``keep_interrupted=True``).
    layout_ : SampleLayout
        Resolved sample layout: ``layout_.kind`` ("vector", "series" or
        "image"), ``layout_.shape`` (the shape of one sample, channels first,
        e.g. ``(3, 200)`` for a series or ``(1, 28, 28)`` for an image) and
        ``layout_.window`` (the window length with ``window``, else None).
        It decides the model: 1-D convolutions along time for series, 2-D for
        images.
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
    sklearn.impute.IterativeImputer : Multivariate imputation by chained regressions.

    Notes
    -----
    Data are standardised per channel (feature, series variable or image
    channel) with the mean and standard deviation of the observed training
    values; results are returned in the user's units. Training with the
    ``"lstm"`` or ``"gd"`` solver back-propagates through the whole unrolled
    solver including second-order terms; inference detaches every iteration.

    References
    ----------
    R. Fablet, L. Drumetz, F. Rousseau. Joint learning of variational
    representations and solvers for inverse problems with partially-observed
    data. arXiv:2006.03653, 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from sklvar import VariationalImputer
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(64, 2)) @ rng.normal(size=(2, 6))
    >>> X[rng.uniform(size=X.shape) < 0.2] = np.nan
    >>> imp = VariationalImputer(prior="pca", solver="lstm", max_epochs=2,
    ...                          random_state=0)
    >>> X_filled = imp.fit_transform(X)
    >>> bool(np.isnan(X_filled).any())
    False
    """

    _parameter_constraints: dict = {
        **_BaseImputer._parameter_constraints,
        "prior": [StrOptions(set(PRIORS) | {"auto", "field"}), Prior, type],
        "solver": [StrOptions(set(SOLVERS) | {"auto"}), Solver, type],
        "prior_params": [dict, None],
        "solver_params": [dict, None],
        "n_solver_iter": [Interval(Integral, 1, None, closed="left")],
        "n_solver_iter_start": [Interval(Integral, 1, None, closed="left")],
        "lambda_obs": [Interval(Real, 0, None, closed="left")],
        "lambda_prior": [Interval(Real, 0, None, closed="left")],
        "learn_lambdas": ["boolean"],
        "joint": ["boolean"],
        "loss_weights": [tuple, list],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "device": [str, torch.device],
        "prior_lr_scale": [Interval(Real, 0, None, closed="neither")],
        "inference_dtype": [StrOptions({"float32", "bfloat16"})],
        "training_dtype": [StrOptions({"float32", "bfloat16"})],
        "inference_compile": ["boolean"],
        "initial_strategy": [StrOptions({"auto", "mean", "linear"})],
        "callbacks": [list, None],
        "max_time": [Interval(Real, 0, None, closed="neither"), None],
        "ema_decay": [Interval(Real, 0, 1, closed="neither"), None],
        "keep_interrupted": ["boolean"],
    }

    _divergence_hint = " Try a smaller lr or fewer solver iterations."

    def __init__(
        self,
        prior="auto",
        solver="auto",
        *,
        prior_params=None,
        solver_params=None,
        n_solver_iter=10,
        n_solver_iter_start=5,
        lambda_obs=1.0,
        lambda_prior=1.0,
        learn_lambdas=True,
        joint=True,
        prior_lr_scale=0.5,
        loss_weights=(1.0, 0.05, 0.05),
        max_epochs=50,
        batch_size=128,
        lr=1e-3,
        device="cpu",
        inference_dtype="float32",
        inference_compile=False,
        training_dtype="float32",
        n_threads=1,
        missing_values=np.nan,
        keep_observed=True,
        add_indicator=False,
        sample_shape=None,
        layout="auto",
        window=None,
        stride=None,
        initial_strategy="auto",
        hide_fraction=0.2,
        calibrate=True,
        max_time=None,
        ema_decay=None,
        random_state=None,
        verbose=0,
        callbacks=None,
        keep_interrupted=False,
    ):
        self.prior = prior
        self.solver = solver
        self.prior_params = prior_params
        self.solver_params = solver_params
        self.n_solver_iter = n_solver_iter
        self.n_solver_iter_start = n_solver_iter_start
        self.lambda_obs = lambda_obs
        self.lambda_prior = lambda_prior
        self.learn_lambdas = learn_lambdas
        self.joint = joint
        self.prior_lr_scale = prior_lr_scale
        self.loss_weights = loss_weights
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.device = device
        self.inference_dtype = inference_dtype
        self.inference_compile = inference_compile
        self.training_dtype = training_dtype
        self.n_threads = n_threads
        self.missing_values = missing_values
        self.keep_observed = keep_observed
        self.add_indicator = add_indicator
        self.sample_shape = sample_shape
        self.layout = layout
        self.window = window
        self.stride = stride
        self.initial_strategy = initial_strategy
        self.hide_fraction = hide_fraction
        self.calibrate = calibrate
        self.max_time = max_time
        self.ema_decay = ema_decay
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.keep_interrupted = keep_interrupted

    @contextlib.contextmanager
    def _thread_limits(self):
        """Torch's and BLAS's thread counts set to ``n_threads`` for one call.

        BLAS matters for series tables (the field prior's fits and sparse
        solves run in numpy / scipy).
        """
        with torch_threads(self.n_threads), blas_threads(self.n_threads):
            yield

    # ------------------------------------------------------------- building
    def _check_params(self):
        weights = tuple(self.loss_weights)
        if len(weights) != 3 or not all(
            isinstance(w, Real) and np.isfinite(w) and w >= 0 for w in weights
        ):
            raise ValueError(
                "loss_weights must be 3 finite non-negative floats (nu1, nu2, nu3), "
                f"got {self.loss_weights!r}."
            )
        check_device(self.device)

    def _resolved(self):
        """(prior, solver) with "auto" resolved for the fitted layout."""
        prior, solver = self.prior, self.solver
        for name, value, base in (("prior", prior, Prior), ("solver", solver, Solver)):
            if isinstance(value, type) and not issubclass(value, base):
                raise ValueError(
                    f"{name}={value!r} is a class but not a subclass of "
                    f"sklvar.{name}s.{base.__name__}; expected a name, a "
                    f"{base.__name__} subclass or a {base.__name__} instance."
                )
        table = self.layout_.kind == "table"
        if isinstance(prior, str) and prior == "auto":
            prior = "field" if table else "ae"
        if isinstance(solver, str) and solver == "auto":
            solver = "fixed_point" if table else "lstm"
        if table and not (isinstance(prior, str) and prior == "field"):
            raise ValueError(
                f"prior={self.prior!r} needs windows on a series table: pass "
                "window=... (for example window=64), or use prior='auto' or "
                "'field' with layout='series' and no window."
            )
        if table and solver != "fixed_point":
            raise ValueError(
                f"solver={self.solver!r} needs windows on a series table: pass "
                "window=..., or use solver='auto' or 'fixed_point' (solved "
                "exactly) with the field prior."
            )
        if not table and isinstance(prior, str) and prior == "field":
            raise ValueError(
                "prior='field' imputes whole series tables: use layout='series' "
                "without sample_shape nor window (rows are time steps); got "
                f"layout_={self.layout_.kind!r}."
            )
        return prior, solver

    def _build_model(self):
        layout = self.layout_
        scaling = self.codec_.scaling
        prior_choice, solver_choice = self._resolved()
        prior = _build_component("prior", prior_choice, PRIORS, self.prior_params,
                                 layout, scaling)
        solver = _build_component("solver", solver_choice, SOLVERS,
                                  self.solver_params, layout, prior)
        cost = VariationalCost(
            prior, lambda_obs=self.lambda_obs, lambda_prior=self.lambda_prior,
            learn_lambdas=self.learn_lambdas,
        )
        return VariationalModel(cost, solver, n_iter=self.n_solver_iter,
                                init=self.codec_.initial_strategy)

    def _callbacks(self, max_time=None):
        if max_time is not None:
            schedule = TimeBudget(max_time, self.n_solver_iter_start,
                                  self.n_solver_iter)
        else:
            schedule = IterationCurriculum(self.n_solver_iter_start, self.n_solver_iter)
        hint = (f" Lower lr (got lr={self.lr:g}), n_solver_iter "
                f"({self.n_solver_iter}) or max_epochs, or check the data.")
        callbacks = [("curriculum", schedule),
                     ("divergence", DivergenceGuard(hint=hint))]
        if self.ema_decay is not None:
            callbacks.append(("weight_average", WeightAverage(self.ema_decay)))
        if self.verbose > 0:  # a progress bar besides skorch's per-epoch log
            callbacks.append(("progress_bar", ProgressBar()))
        for i, cb in enumerate(copy.deepcopy(self.callbacks or [])):
            if isinstance(cb, tuple) and len(cb) == 2 and isinstance(cb[0], str):
                name, cb = cb
            else:
                name = f"user_{i}_{type(cb).__name__}"
            if not isinstance(cb, Callback):
                raise ValueError(
                    "callbacks must hold skorch callbacks or (name, callback) "
                    f"pairs, got {cb!r} at position {i}."
                )
            callbacks.append((name, cb))
        return callbacks

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    @_with_threads
    @_atomic_fit
    def fit(self, X, y=None, *, mask=None):
        """Train the prior and the solver.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data with missing entries.
        y : array-like of shape (n_samples, n_features) or None
            Complete true states of X for supervised training; None (or a 1-D
            target, which is ignored) trains self-supervised on X alone.
        mask : array-like of bool, same shape as X, or None
            True where X is observed; None derives it from ``missing_values``.

        Returns
        -------
        self : VariationalImputer
        """
        self._check_params()
        X, observed, X_true = self._prepare_fit(X, y, mask)
        self._resolved()
        try:
            self._fit_validated(X, observed, X_true)
            self._calibrate(X, observed)
            return self
        except KeyboardInterrupt as exc:
            # a Ctrl-C outside skorch's loop (the field fit, the prior's
            # pre-training) propagates as it is; it is announced here
            if not getattr(exc, "sklvar_warned", False):
                stage = ("the field-model fit" if self.layout_.kind == "table"
                         else "the preparation or the prior's pre-training")
                warnings.warn(
                    f"VariationalImputer fit was interrupted (Ctrl-C) during "
                    f"{stage}: the estimator is left as it was before fit.",
                    TrainingInterruptedWarning,
                )
            raise

    def _fit_validated(self, X, observed, X_true):
        if self.layout_.kind == "table":
            self._fit_table(X, observed, X_true)
            return self
        Y, M = self.codec_.encode(X, observed)
        T = None
        if X_true is not None:
            T, _ = self.codec_.encode(X_true, np.ones_like(observed))
        seed = seed_from_random_state(self.random_state)
        devices = [] if torch.device(self.device).type == "cpu" else None
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            self._fit_samples(Y, M, T, seed)
        return self

    def _fit_samples(self, Y, M, T, seed):
        model = self._build_model()
        if self.verbose > 0:
            self._print_model(model)
        y_t, m_t = torch.from_numpy(Y), torch.from_numpy(M)
        if T is not None:
            x_fit, m_fit = torch.from_numpy(T), None
        else:
            x_fit, m_fit = model.initial_state(y_t, m_t), m_t
        prior = model.prior
        t0 = time.perf_counter()
        prior.initialize_from_data(x_fit, m_fit)
        if not self.joint:
            if self.max_epochs > 0:
                # a time budget: half of it at most for the prior's pre-training
                budget = ({} if self.max_time is None
                          else {"max_time": self.max_time / 2})
                prior.pretrain(
                    x_fit, m_fit, max_epochs=self.max_epochs,
                    batch_size=self.batch_size, lr=self.lr, device=self.device,
                    callback=self._print_pretraining if self.verbose > 0 else None,
                    **budget,
                )
            prior.requires_grad_(False)
        remaining = (None if self.max_time is None else
                     max(self.max_time - (time.perf_counter() - t0),
                         0.1 * self.max_time))
        net = self._make_net(model, seed, self_supervised=T is None,
                             max_time=remaining)
        with catch_sigint() as sigint:
            net.fit({"y": Y, "observed_mask": M}, T)
        interrupted = sigint["interrupted"]
        if interrupted:
            reached = len(net.history)
            kept = ("the partly trained model is kept (keep_interrupted=True)"
                    if self.keep_interrupted else "the estimator is left as it "
                    "was before fit; pass keep_interrupted=True to keep the "
                    "partly trained model")
            warnings.warn(
                f"VariationalImputer training was interrupted (Ctrl-C) at epoch "
                f"{reached} of max_epochs={self.max_epochs}: {kept}.",
                TrainingInterruptedWarning,
            )
            if not self.keep_interrupted:
                exc = KeyboardInterrupt()
                exc.sklvar_warned = True
                raise exc
        net.module_.n_iter = self.n_solver_iter
        net.module_.eval()
        self.net_ = net
        self.history_ = net.history
        self.n_iter_ = len(net.history)
        self.interrupted_ = interrupted

    def _make_net(self, model, seed, *, self_supervised, callbacks=True,
                  max_time=None):
        return VariationalNet(
            model,
            optimizer=torch.optim.Adam,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            device=self.device,
            verbose=self.verbose if callbacks else 0,
            iterator_train__shuffle=True,
            optimizer__param_groups=prior_param_groups(self.joint, self.lr,
                                                       self.prior_lr_scale),
            callbacks=self._callbacks(max_time) if callbacks else None,
            loss_weights=tuple(float(w) for w in self.loss_weights),
            self_supervised=self_supervised,
            hide_fraction=self.hide_fraction,
            hide_block=self.layout_.default_block(),
            random_state=seed,
            autocast_dtype=(torch.bfloat16 if self.training_dtype == "bfloat16"
                            else None),
        )

    def _restore_net(self, state, history=None):
        """Rebuild ``net_`` from saved weights (:meth:`load`)."""
        from skorch.history import History

        from ._persist import _read_value

        check_device(self.device)
        net = self._make_net(self._build_model(), 0, self_supervised=True,
                             callbacks=False).initialize()
        net.module_.load_state_dict(
            {k: torch.from_numpy(np.array(v)) for k, v in state.items()})
        net.module_.n_iter = self.n_solver_iter
        net.module_.eval()
        if history is not None:
            net.history_ = History(_read_value(history["value"]))
        self.net_ = net
        self.history_ = net.history

    # --------------------------------------------------------- series tables
    def _field_spec(self):
        """The single field model of ``prior="field"`` (its ``prior_params``)."""
        spec = {"kind": "field", "order": 1, "alpha": 1e-3}
        params = dict(self.prior_params or {})
        unknown = set(params) - set(spec)
        if unknown:
            raise ValueError(
                f"prior_params={self.prior_params!r} are not accepted by "
                f"prior='field': unknown {sorted(unknown)}; expected keys among "
                f"{sorted(spec)}."
            )
        spec.update(params)
        if spec["kind"] not in (*FIELD_KINDS, "linear"):
            raise ValueError(
                "prior_params['kind'] must be 'field', 'temporal', 'increments' "
                "or 'linear', got "
                f"{spec['kind']!r}."
            )
        if not isinstance(spec["order"], Integral) or spec["order"] < 0:
            raise ValueError(
                "prior_params['order'] must be an int >= 0, got "
                f"{spec['order']!r}."
            )
        if not isinstance(spec["alpha"], Real) or not spec["alpha"] >= 0:
            raise ValueError(
                "prior_params['alpha'] must be a float >= 0, got "
                f"{spec['alpha']!r}."
            )
        return spec

    def _fit_field_model(self, spec, Z, observed, T):
        """(B, c) of one field model (None for linear interpolation)."""
        if spec["kind"] == "linear":
            return None
        if T is not None:  # supervised: fit on the true states
            fit = FIELD_KINDS[spec["kind"]][0]
            return fit(T, spec["order"], spec["alpha"])
        _, coefs = em_field(Z, observed, n_rounds=self._field_rounds,
                            tol=self._field_tol,
                            max_final_change=self._field_max_change, **spec)
        return coefs

    def _fit_table(self, X, observed, X_true):
        clock = time.perf_counter
        start = clock()
        Z = self.codec_.standardize(X, observed, np.float64)
        T = None
        if X_true is not None:
            T = self.codec_.standardize(X_true, np.ones_like(observed), np.float64)
        rng = np.random.RandomState(seed_from_random_state(self.random_state))
        ranked = []
        if self.prior == "auto" and self.prior_params is None:
            deadline = None if self.max_time is None else start + self.max_time / 2
            chosen, errors, ranked = select_field(
                Z, observed, FIELD_CANDIDATES, rng, deadline=deadline, clock=clock,
                n_rounds=self._select_rounds, tol=self._field_tol,
                n_draws=self._select_draws, n_near=self._select_near,
            )
            self.validation_errors_ = np.array(
                errors + [np.nan] * (len(FIELD_CANDIDATES) - len(errors))
            )
        else:
            if self.prior == "auto":
                raise ValueError(
                    "prior='auto' chooses its own models on series tables; pass "
                    f"prior='field' to use prior_params={self.prior_params!r}."
                )
            chosen = [(self._field_spec(), 1.0)]
            self.validation_errors_ = None
        fitted = []
        fallbacks = [FIELD_CANDIDATES[i] for i in ranked
                     if all(FIELD_CANDIDATES[i] != spec for spec, _ in chosen)]
        for spec, weight in chosen:
            coefs = self._fit_field_model(spec, Z, observed, T)
            # a model that diverges on the whole table (it did not when part of
            # the table was hidden) is replaced by the next best candidate
            while coefs is None and spec["kind"] != "linear" and fallbacks:
                spec = fallbacks.pop(0)
                coefs = self._fit_field_model(spec, Z, observed, T)
            if coefs is None and spec["kind"] != "linear":
                raise FloatingPointError(
                    f"the field model {spec} diverged on the training data; "
                    "use a larger prior_params['alpha'] or prior='auto'."
                )
            fitted.append((dict(spec), float(weight), coefs))
        self.field_models_ = fitted
        self.interrupted_ = False
        self.n_iter_ = self._field_rounds
        self.fit_time_ = clock() - start
        if self.verbose > 0:
            desc = ", ".join(
                f"{w:.1f} x {spec['kind']}(order={spec['order']}, "
                f"alpha={spec['alpha']:g})" for spec, w, _ in fitted
            )
            print(f"[VariationalImputer] series table {X.shape}: {desc}; "
                  f"fit in {self.fit_time_:.1f} s")

    # inference on the CPU with n_threads > 1: batches in that many Python
    # threads of one torch thread each (False: one batch at a time, on
    # n_threads torch threads; benchmarks/scale.py --no-thread-batches)
    _thread_batches = True
    # EM rounds of the final field fit: at most this many, fewer once the fill
    # changes by less than the tolerance (relative)
    _field_rounds = 8
    _field_tol = 1e-4
    # EM rounds of each trial fit of the model choice
    _select_rounds = 8
    # hiding draws of the model choice
    _select_draws = 3
    # of which nearest in time to the gaps (near_gaps_hides)
    _select_near = 3
    # EM rounds (at most) of the refits of the calibration of the intervals
    _calibration_rounds = 3
    # a final fit whose last EM round still moves the fill by more than this
    # (relative) is unstable: the next candidate replaces it
    _field_max_change = 0.1

    def _calibration_predict(self, X, observed):
        """Series tables: each field model refitted without the hidden entries.

        The calibration residuals are then those of a model that never saw
        the hidden values (at most ``_calibration_rounds`` EM rounds: fewer
        than the final fit's, for cost; the residuals are then slightly
        pessimistic); the fitted coefficients are used where a refit diverges.
        """
        if self.layout_.kind != "table":
            return super()._calibration_predict(X, observed)

        def predict(input_mask):
            Z = self.codec_.standardize(X, input_mask, np.float64)
            out = np.zeros(Z.shape)
            for spec, weight, coefs in self.field_models_:
                if coefs is None:
                    Z_hat = linear_fill_table(Z, input_mask)
                else:
                    Z_hat, _ = em_field(Z, input_mask,
                                        n_rounds=self._calibration_rounds,
                                        tol=self._field_tol, **spec)
                    if Z_hat is None:
                        Z_hat = FIELD_KINDS[spec["kind"]][1](Z, input_mask, *coefs)
                out += weight * Z_hat
            return self.codec_.destandardize(out)

        return predict

    def _impute_table(self, Z, observed):
        Z = np.asarray(Z, dtype=float)
        out = np.zeros(Z.shape)
        for spec, weight, B in self.field_models_:
            if B is None:
                X = linear_fill_table(Z, observed)
            else:
                X = FIELD_KINDS[spec["kind"]][1](Z, observed, *B)
            out += weight * X
        return out
    @staticmethod
    def _print_pretraining(epoch, loss):
        print(f"[VariationalImputer] prior pre-training epoch {epoch}: loss {loss:.5f}")

    def _print_model(self, model):
        """Print the resolved layout and the model built (``verbose > 0``)."""

        def count(module):
            return sum(p.numel() for p in module.parameters())

        print(
            f"[VariationalImputer] layout: {self.layout_.describe()}; model: "
            f"{type(model.prior).__name__} prior ({count(model.prior):,} "
            f"parameters), {type(model.solver).__name__} solver "
            f"({count(model.solver):,} parameters), {count(model):,} parameters in "
            f"all; {torch.get_num_threads()} torch thread(s), device "
            f"{self.device!r}",
            flush=True,
        )

    # ------------------------------------------------------------ inference
    def _inference_device(self):
        """The device to impute on: ``device``, the model moved there if needed.

        ``set_params(device=...)`` after fit is honoured: the fitted model is
        moved to the new device (a ``ValueError`` when it is not available).
        """
        if torch.device(self.device) != torch.device(self.net_.device):
            check_device(self.device)
            self.net_.module_.to(self.device)
            self.net_.device = self.device
        return self.net_.device

    def _run_batches(self, fn, *arrays):
        """``fn`` on batches of ``batch_size`` rows of ``arrays``, concatenated.

        On the CPU with more than one torch thread, the batches are spread
        over that many Python threads running one torch thread each (the same
        computation per batch, so the same result): the convolutions of a
        batch are too small to keep several cores busy, and a core that
        another process takes slows one batch instead of every operation.
        With ``inference_compile`` the compiled ``fn`` runs one batch at a
        time (``torch.compile`` is not thread-safe), the last one padded to
        ``batch_size``.
        """
        device = self._inference_device()
        size = self.batch_size
        starts = range(0, len(arrays[0]), size)
        autocast = self.inference_dtype == "bfloat16"
        run = _compiled(self, fn, device) if self.inference_compile else fn

        def one(i):
            batch = [np.ascontiguousarray(a[i:i + size]) for a in arrays]
            n = len(batch[0])
            if self.inference_compile and n < size:
                batch = [np.concatenate([b, np.repeat(b[-1:], size - n, axis=0)])
                         for b in batch]
            batch = [torch.from_numpy(b).to(device) for b in batch]
            with torch.no_grad(), torch.autocast(torch.device(device).type,
                                                 dtype=torch.bfloat16,
                                                 enabled=autocast):
                return run(*batch).float().cpu().numpy()[:n]

        n_threads = torch.get_num_threads()
        if self.inference_compile:
            with _COMPILE_LOCK:
                out = [one(i) for i in starts]
        elif torch.device(device).type != "cpu" or n_threads < 2 or \
                len(starts) < 2 or not self._thread_batches:
            out = [one(i) for i in starts]
        else:
            torch.set_num_threads(1)
            try:
                with ThreadPoolExecutor(min(n_threads, len(starts))) as pool:
                    out = list(pool.map(one, starts))
            finally:
                torch.set_num_threads(n_threads)
        return np.concatenate(out).astype(np.float64)

    def _impute_samples(self, Y, M):
        module = self.net_.module_
        module.eval()
        return self._run_batches(module, Y, M)

    @_with_threads
    def project(self, X):
        r"""Apply the learned prior :math:`\Phi` to complete states.

        Used for the projection error (P-score) :math:`\|x - \Phi(x)\|^2` on
        true states.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Complete states (no missing entry).

        Returns
        -------
        X_proj : ndarray of shape (n_samples, n_features)
            :math:`\Phi(X)` in the units of X. For series tables, the
            weighted field models' :math:`\Phi` (linear interpolation's is
            the mean of the two time neighbours, whose fixed point it is).
        """
        check_is_fitted(self)
        X, observed = self._validate_X(X, reset=False)
        if not observed.all():
            raise ValueError("project expects complete states; X has missing entries.")
        if self.layout_.kind == "table":
            Z = self.codec_.standardize(X, observed).astype(np.float64)
            out = np.zeros(Z.shape)
            for spec, weight, coefs in self.field_models_:
                if spec["kind"] == "increments":
                    out += weight * increments_phi(Z, *coefs)
                else:
                    out += weight * field_phi(
                        Z, *(coefs or linear_phi_coefs(Z.shape[1])))
            return self.codec_.destandardize(out).astype(X.dtype, copy=False)
        prior = self.net_.module_.prior.eval()
        Z = self.codec_.standardize(X, observed)
        out = self._impute_standardized(
            Z, observed, lambda Y, M: self._run_batches(prior, Y)
        )
        return self.codec_.destandardize(out).astype(X.dtype, copy=False)
