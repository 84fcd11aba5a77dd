"""Diagnostics of fitted models: the energy of the cost along the solver (layer 6).

:func:`energy_path` records the variational cost (and the error on the missing
entries, given the truth) at every iteration of a solver, through the
per-iteration callback of :meth:`sklvar.solvers.Solver.forward`; the paper's
Figure 1 plots it (:func:`sklvar.plotting.plot_energy_path`). No matplotlib
needed. It accepts a :class:`~sklvar.model.VariationalModel` or a fitted
imputer (anything with a fitted ``net_`` whose ``module_`` is a
``VariationalModel`` and a ``codec_``, such as
:class:`~sklvar.VariationalImputer`) without importing the estimators.
"""

import contextlib
import functools

import numpy as np
import torch
from sklearn.utils import Bunch

from .model import VariationalModel
from .utils._torch import torch_threads

__all__ = ["energy_path"]


def _model_and_samples(model, X, mask, X_true):
    """The torch model and tensors ``(y, observed, x_true)`` of its samples.

    For a fitted imputer, ``X`` (2-D, user units) goes through the imputer's
    fitted codec (``codec_``: standardisation and layout, windows included),
    so the model sees exactly what :meth:`transform` gives it.
    """
    if isinstance(model, VariationalModel):
        module = model
        Y = np.asarray(X, dtype=np.float64)
        if mask is None:
            observed = ~np.isnan(Y)
        else:
            observed = np.asarray(mask, dtype=bool)
            if observed.shape != Y.shape:
                raise ValueError(
                    f"mask must have the shape of X {Y.shape}, got {observed.shape}."
                )
        Y = np.where(observed, Y, 0.0)
        T = None if X_true is None else np.asarray(X_true, dtype=np.float64)
    elif hasattr(model, "net_") and isinstance(
        getattr(model.net_, "module_", None), VariationalModel
    ) and hasattr(model, "codec_"):
        module = model.net_.module_
        Y, observed = model.codec_.encode(X, mask)
        T = None
        if X_true is not None:
            X_true = np.asarray(X_true, dtype=np.float64)
            if X_true.shape != np.shape(X):
                raise ValueError(
                    f"X_true must have the shape of X {np.shape(X)}, got "
                    f"{X_true.shape}."
                )
            T, _ = model.codec_.encode(X_true, np.ones(X_true.shape, dtype=bool))
    else:
        raise TypeError(
            "model must be a sklvar.model.VariationalModel or a fitted imputer "
            "with net_ and codec_ attributes (e.g. a fitted VariationalImputer), got "
            f"{type(model).__name__}."
        )
    if T is not None and T.shape != Y.shape:
        raise ValueError(
            f"X_true must have the shape of X {Y.shape}, got {T.shape}."
        )
    tensors = [p for p in module.parameters()] + [b for b in module.buffers()]
    float_tensors = [t for t in tensors if t.is_floating_point()]
    dtype = float_tensors[0].dtype if float_tensors else torch.float32
    device = float_tensors[0].device if float_tensors else torch.device("cpu")

    def as_tensor(A, dt=dtype):
        return None if A is None else torch.as_tensor(np.asarray(A), dtype=dt,
                                                      device=device)

    return module, as_tensor(Y), as_tensor(observed, torch.bool), as_tensor(T)


def energy_path(model, X, *, mask=None, X_true=None, n_iter=None, max_samples=256):
    r"""Variational cost at each iteration of a model's solver.

    Runs the solver of ``model`` on ``X`` and records the mean, over the
    samples, of the cost :math:`U_\Phi(x^{(k)}; y, \Omega)` (the model's own
    :class:`~sklvar.energy.VariationalCost`, with its learned prior and
    weights) at the initial state (``k = 0``) and after each iteration, through
    the ``callback(k, x)`` argument of the solver. With ``X_true``, it also
    records the mean squared error on the missing entries.

    Parameters
    ----------
    model : VariationalModel or fitted imputer
        A :class:`~sklvar.model.VariationalModel`, or a fitted
        :class:`~sklvar.VariationalImputer` (its ``net_.module_`` is used and
        ``X`` is standardised and windowed as :meth:`transform` does).
    X : array-like
        For an imputer: data of shape (n_samples, n_features) as passed to
        ``transform``, NaN where missing. For a model: samples of shape
        (n_samples, \*sample_shape) in the model's (standardised) units.
    mask : array-like of bool of the same shape as X, default=None
        True where observed; None derives it from the NaNs of X.
    X_true : array-like of the same shape as X, default=None
        Complete true states; when given, the error on the missing entries is
        recorded too.
    n_iter : int, default=None
        Number of solver iterations; None uses the model's own count.
    max_samples : int or None, default=256
        Use only the first ``max_samples`` samples (windows for a windowed
        imputer), to keep it fast; None uses them all.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        ``energy``: ndarray of shape (n_iter + 1,), the mean cost before the
        first iteration and after each one. ``error``: ndarray of shape
        (n_iter + 1,), the mean squared error on the missing entries (in the
        model's standardised units, so about 1 is the error of the mean), or
        None without ``X_true``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklvar import VariationalImputer
    >>> from sklvar.diagnostics import energy_path
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(64, 2)) @ rng.normal(size=(2, 6))
    >>> X[rng.uniform(size=X.shape) < 0.2] = np.nan
    >>> imp = VariationalImputer(prior="pca", solver="gd", max_epochs=1,
    ...                          random_state=0).fit(X)
    >>> path = energy_path(imp, X, n_iter=5)
    >>> path.energy.shape
    (6,)
    """
    module, y, observed, x_true = _model_and_samples(model, X, mask, X_true)
    if max_samples is not None:
        y, observed = y[:max_samples], observed[:max_samples]
        x_true = None if x_true is None else x_true[:max_samples]
    missing = ~observed
    if x_true is not None and not bool(missing.any()):
        raise ValueError("X_true was given but X has no missing entry to score.")
    y = torch.where(observed, y, torch.zeros_like(y))
    energies, errors = [], []

    def record(k, x):
        with torch.no_grad():
            energies.append(float(module.cost(x, y, observed).mean()))
            if x_true is not None:
                errors.append(float(((x - x_true)[missing] ** 2).mean()))

    # a fitted imputer runs on its own thread count (n_threads), as in transform
    threads = contextlib.nullcontext
    if not isinstance(model, VariationalModel):
        threads = functools.partial(torch_threads, getattr(model, "n_threads", None))
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad(), threads():
            record(0, module.initial_state(y, observed))
            module(y, observed, n_iter=n_iter, callback=record)
    finally:
        module.train(was_training)
    return Bunch(
        energy=np.asarray(energies),
        error=None if x_true is None else np.asarray(errors),
    )
