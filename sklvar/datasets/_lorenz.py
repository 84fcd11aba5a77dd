"""Lorenz-63 and Lorenz-96 simulators with the paper's observation protocols.

The paper (Fablet, Drumetz and Rousseau 2020, appendix A) builds both data sets
the same way: one long chaotic run, random windows drawn from disjoint parts of
the run for training and testing, and noisy, regularly sub-sampled
observations. This module reproduces that protocol with seeded randomness and a
tight-tolerance integration. Only numpy, scipy and scikit-learn are used.
"""

from numbers import Integral, Real

import numpy as np
from scipy.integrate import solve_ivp
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, validate_params

__all__ = ["make_lorenz63", "make_lorenz96"]

# Tolerances of the reference integration. The paper only says "RK45"; the
# authors' notebooks used scipy's loose defaults (rtol=1e-3, atol=1e-6), which
# leave a one-step RK4 model error of about 4e-5 in the data and make the run
# drift from the exact solution within one time unit.
_RTOL = 1e-9
_ATOL = 1e-9


def _integrate(rhs, x0, *, dt, n_steps, spinup):
    """Integrate ``rhs`` from ``x0`` and sample it every ``dt`` after ``spinup``.

    Returns an array of shape (n_steps, n_dims) whose row ``i`` is the state at
    time ``spinup + i * dt``.
    """
    t_eval = spinup + dt * np.arange(n_steps)
    sol = solve_ivp(
        rhs,
        (0.0, t_eval[-1]),
        x0,
        method="RK45",
        t_eval=t_eval,
        rtol=_RTOL,
        atol=_ATOL,
    )
    if not sol.success:  # pragma: no cover - RK45 does not fail on these ODEs
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    return np.ascontiguousarray(sol.y.T, dtype=np.float64)


def _check_range(value, name, *, n_steps, window):
    """Validate a ``(start, stop)`` step range and return it as two ints."""
    try:
        start, stop = value
        ok = all(
            isinstance(v, Integral | np.integer) and not isinstance(v, bool)
            for v in (start, stop)
        )
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(
            f"{name} must be a pair of integers (start, stop), got {value!r}."
        )
    start, stop = int(start), int(stop)
    if not 0 <= start < stop <= n_steps:
        raise ValueError(
            f"{name}=({start}, {stop}) must satisfy 0 <= start < stop <= "
            f"n_steps={n_steps}. Pass a {name} inside the simulated run (e.g. "
            f"scale the defaults with n_steps)."
        )
    if stop - start < window:
        raise ValueError(
            f"{name}=({start}, {stop}) spans {stop - start} steps, fewer than "
            f"window={window}; every window must lie inside the range."
        )
    return start, stop


def _check_ranges(train_range, test_range, *, n_steps, window):
    """Validate both ranges and check that they do not overlap."""
    train = _check_range(train_range, "train_range", n_steps=n_steps, window=window)
    test = _check_range(test_range, "test_range", n_steps=n_steps, window=window)
    if train[0] < test[1] and test[0] < train[1]:
        raise ValueError(
            f"train_range={train} and test_range={test} overlap; they must be "
            "disjoint parts of the run (e.g. train_range=(0, 15000) and "
            "test_range=(15000, 20000))."
        )
    return train, test


def _draw_windows(trajectory, n_windows, step_range, window, rng):
    """Draw ``n_windows`` random windows (with replacement) inside ``step_range``.

    Returns the start indices, shape (n_windows,), and the windows in the
    (n_windows, n_dims, window) layout.
    """
    start, stop = step_range
    starts = rng.randint(start, stop - window + 1, size=n_windows)
    # sliding_window_view on axis 0 of (n_steps, C) gives (n_steps-window+1, C, window)
    views = np.lib.stride_tricks.sliding_window_view(trajectory, window, axis=0)
    return starts, np.array(views[starts], dtype=np.float64)


def _observe(y, observed_mask, noise_variance, rng):
    """Noisy observations of ``y``: NaN where ``observed_mask`` is False."""
    noise = rng.normal(scale=np.sqrt(noise_variance), size=y.shape)
    return np.where(observed_mask, y + noise, np.nan)


def _observation_times(window, sampling, edge_gap):
    """Window-relative observation times, minus ``edge_gap`` steps at each end."""
    times = np.arange(0, window, sampling)
    times = times[(times >= edge_gap) & (times < window - edge_gap)]
    if times.size == 0:
        raise ValueError(
            f"No observation is left in a window: window={window}, "
            f"sampling={sampling} and edge_gap={edge_gap} leave no observed time "
            f"in [edge_gap, window - edge_gap). Reduce edge_gap or sampling."
        )
    return times


def _windowed_benchmark(trajectory, sizes, ranges, window, make_mask,
                        noise_variance, rng, dt, descr):
    """Windows, masks and noisy observations of a run, as the returned Bunch.

    Draws from ``rng`` in a fixed order: training then test window positions,
    ``make_mask(n)`` for the training then the test set, training then test
    noise.
    """
    (n_train, n_test), (train, test) = sizes, ranges
    train_starts, y_train = _draw_windows(trajectory, n_train, train, window, rng)
    test_starts, y_test = _draw_windows(trajectory, n_test, test, window, rng)
    mask_train, mask_test = make_mask(n_train), make_mask(n_test)
    return Bunch(
        X_train=_observe(y_train, mask_train, noise_variance, rng),
        X_test=_observe(y_test, mask_test, noise_variance, rng),
        y_train=y_train,
        y_test=y_test,
        mask_train=mask_train,
        mask_test=mask_test,
        train_starts=train_starts,
        test_starts=test_starts,
        trajectory=trajectory,
        dt=float(dt),
        DESCR=descr,
    )


@validate_params(
    {
        "n_train": [Interval(Integral, 0, None, closed="left")],
        "n_test": [Interval(Integral, 0, None, closed="left")],
        "window": [Interval(Integral, 1, None, closed="left")],
        "dt": [Interval(Real, 0, None, closed="neither")],
        "n_steps": [Interval(Integral, 2, None, closed="left")],
        "spinup": [Interval(Real, 0, None, closed="left")],
        "sampling": [Interval(Integral, 1, None, closed="left")],
        "noise_variance": [Interval(Real, 0, None, closed="left")],
        "edge_gap": [Interval(Integral, 0, None, closed="left")],
        "sigma": [Real],
        "rho": [Real],
        "beta": [Real],
        "train_range": [tuple, list],
        "test_range": [tuple, list],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_lorenz63(
    n_train=10000,
    n_test=2000,
    *,
    window=200,
    dt=0.01,
    n_steps=20000,
    spinup=5.0,
    sampling=8,
    noise_variance=2.0,
    edge_gap=0,
    sigma=10.0,
    rho=28.0,
    beta=8 / 3,
    train_range=(0, 15000),
    test_range=(15000, 20000),
    random_state=None,
):
    r"""Generate the Lorenz-63 imputation benchmark of the paper.

    The Lorenz-63 system

    .. math::

        \dot x_1 = \sigma (x_2 - x_1), \quad
        \dot x_2 = x_1 (\rho - x_3) - x_2, \quad
        \dot x_3 = x_1 x_2 - \beta x_3

    is integrated once with scipy's adaptive ``RK45`` at tight tolerances
    (``rtol=atol=1e-9``) from a seeded initial condition near (8, 0, 30).
    After ``spinup`` time units the state is recorded every ``dt`` for
    ``n_steps`` steps. Training windows of ``window`` steps are drawn at random
    (with replacement) so that each lies inside ``train_range``, test windows
    inside ``test_range``. All three components are observed at the
    window-relative times ``0, sampling, 2 * sampling, ...`` with additive
    Gaussian noise of variance ``noise_variance``; every other entry is missing.

    Parameters
    ----------
    n_train : int, default=10000
        Number of training windows.

    n_test : int, default=2000
        Number of test windows.

    window : int, default=200
        Length of each window, in time steps.

    dt : float, default=0.01
        Time between two recorded states.

    n_steps : int, default=20000
        Number of recorded states of the long run.

    spinup : float, default=5.0
        Time integrated (and discarded) before the first recorded state, so that
        the run starts on the attractor.

    sampling : int, default=8
        Observation period in time steps: the window-relative times
        ``0, sampling, 2 * sampling, ...`` are observed.

    noise_variance : float, default=2.0
        Variance of the Gaussian noise added to the observed entries (raw units).

    edge_gap : int, default=0
        Number of steps left unobserved at each end of every window. The
        authors' code uses 10 (observations at t = 16, ..., 184 for the default
        window), which is the protocol behind Table 2 of the paper, although the
        paper does not mention it; use ``edge_gap=10`` to compare with it.

    sigma, rho, beta : float, default=10.0, 28.0, 8/3
        Parameters of the Lorenz-63 system.

    train_range : tuple of int, default=(0, 15000)
        Half-open range ``[start, stop)`` of recorded steps from which the
        training windows are taken (each window lies fully inside it).

    test_range : tuple of int, default=(15000, 20000)
        Half-open range of recorded steps for the test windows. It must not
        overlap ``train_range``.

    random_state : int, RandomState instance or None, default=None
        Seeds the initial condition, the window positions and the noise. Pass
        an int for reproducible output across calls.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        X_train : ndarray of shape (n_train, 3, window)
            Noisy observations, NaN where missing. ``X_train.reshape(n_train, -1)``
            gives one row per window for ``sample_shape=(3, window)`` with
            ``layout="series"``.
        X_test : ndarray of shape (n_test, 3, window)
            Test observations, NaN where missing.
        y_train : ndarray of shape (n_train, 3, window)
            True (noise-free, complete) states of the training windows.
        y_test : ndarray of shape (n_test, 3, window)
            True states of the test windows.
        mask_train : ndarray of bool of shape (n_train, 3, window)
            True where observed.
        mask_test : ndarray of bool of shape (n_test, 3, window)
            True where observed.
        train_starts : ndarray of shape (n_train,)
            Index in ``trajectory`` of the first step of each training window.
        test_starts : ndarray of shape (n_test,)
            Index in ``trajectory`` of the first step of each test window.
        trajectory : ndarray of shape (n_steps, 3)
            The whole run; ``y_train[i] == trajectory[s:s + window].T`` with
            ``s = train_starts[i]``.
        dt : float
            Time step of ``trajectory``.
        DESCR : str
            Description of the data set.

    Notes
    -----
    Random draws are taken from one generator in a fixed order (initial
    condition, training then test window positions, training then test
    noise), so a given ``random_state`` always gives the same data. The
    initial condition is (8, 0, 30) plus Gaussian noise of standard deviation
    0.1 on each component.

    The paper normalises its Table 2 scores by the uncentred second moment of
    the observed training states rather than by their variance; see
    :mod:`sklvar.metrics`.

    References
    ----------
    .. [1] R. Fablet, L. Drumetz and F. Rousseau, "Joint learning of variational
       representations and solvers for inverse problems with partially-observed
       data", arXiv:2006.03653, 2020, appendix A.1.

    Examples
    --------
    >>> import numpy as np
    >>> from sklvar.datasets import make_lorenz63
    >>> data = make_lorenz63(n_train=4, n_test=2, window=40, n_steps=500,
    ...                      train_range=(0, 300), test_range=(300, 500),
    ...                      random_state=0)
    >>> data.X_train.shape, data.y_test.shape, data.trajectory.shape
    ((4, 3, 40), (2, 3, 40), (500, 3))
    >>> bool(np.isnan(data.X_train[data.mask_train]).any())
    False
    >>> bool(np.isnan(data.X_train[~data.mask_train]).all())
    True
    """
    train, test = _check_ranges(train_range, test_range, n_steps=n_steps, window=window)
    times = _observation_times(window, sampling, edge_gap)
    rng = check_random_state(random_state)

    def rhs(t, x):
        return np.array(
            [
                sigma * (x[1] - x[0]),
                x[0] * (rho - x[2]) - x[1],
                x[0] * x[1] - beta * x[2],
            ]
        )

    x0 = np.array([8.0, 0.0, 30.0]) + rng.normal(scale=0.1, size=3)
    trajectory = _integrate(rhs, x0, dt=dt, n_steps=n_steps, spinup=spinup)

    observed = np.zeros((1, 3, window), dtype=bool)
    observed[..., times] = True

    def make_mask(n):
        return np.broadcast_to(observed, (n, 3, window)).copy()

    descr = (
        "Lorenz-63 imputation benchmark (Fablet et al. 2020, appendix A.1).\n"
        f"sigma={sigma}, rho={rho}, beta={beta}; RK45 with rtol=atol={_RTOL:g}, "
        f"spin-up {spinup} time units, {n_steps} states every dt={dt}.\n"
        f"{n_train} training windows from steps {train}, {n_test} test windows "
        f"from steps {test}, {window} steps each, layout (windows, 3, time).\n"
        f"All components observed every {sampling} steps, {edge_gap} unobserved "
        f"steps at each window end, Gaussian noise of variance {noise_variance}; "
        "NaN marks missing entries."
    )
    return _windowed_benchmark(trajectory, (n_train, n_test), (train, test), window,
                               make_mask, noise_variance, rng, dt, descr)


def _lorenz96_masks(n_windows, n_components, window, times, n_observed, shared, rng):
    """Observation masks with ``n_observed`` random components per observed time."""
    n_draws = 1 if shared else n_windows
    keys = rng.random_sample((n_draws, times.size, n_components))
    chosen = np.argpartition(keys, n_observed - 1, axis=-1)[..., :n_observed]
    selected = np.zeros_like(keys, dtype=bool)
    np.put_along_axis(selected, chosen, True, axis=-1)
    mask = np.zeros((n_windows, n_components, window), dtype=bool)
    # selected: (n_draws, n_times, n_components) -> (n_draws, n_components, n_times)
    mask[:, :, times] = selected.transpose(0, 2, 1)
    return mask


@validate_params(
    {
        "n_train": [Interval(Integral, 0, None, closed="left")],
        "n_test": [Interval(Integral, 0, None, closed="left")],
        "n_components": [Interval(Integral, 4, None, closed="left")],
        "window": [Interval(Integral, 1, None, closed="left")],
        "dt": [Interval(Real, 0, None, closed="neither")],
        "n_steps": [Interval(Integral, 2, None, closed="left")],
        "spinup": [Interval(Real, 0, None, closed="left")],
        "forcing": [Real],
        "sampling": [Interval(Integral, 1, None, closed="left")],
        "n_observed": [Interval(Integral, 1, None, closed="left")],
        "shared_subset": ["boolean"],
        "noise_variance": [Interval(Real, 0, None, closed="left")],
        "train_range": [tuple, list],
        "test_range": [tuple, list],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_lorenz96(
    n_train=2000,
    n_test=256,
    *,
    n_components=40,
    window=200,
    dt=0.05,
    n_steps=10000,
    spinup=5.0,
    forcing=8.0,
    sampling=4,
    n_observed=20,
    shared_subset=False,
    noise_variance=2.0,
    train_range=(0, 7500),
    test_range=(7500, 10000),
    random_state=None,
):
    r"""Generate the Lorenz-96 imputation benchmark of the paper.

    The Lorenz-96 system with periodic boundary conditions

    .. math::

        \dot x_i = (x_{i+1} - x_{i-2})\, x_{i-1} - x_i + F,
        \quad i = 1, \dots, n_\text{components}

    is integrated once with scipy's adaptive ``RK45`` at tight tolerances
    (``rtol=atol=1e-9``) from ``forcing * ones`` plus a small seeded
    perturbation. After ``spinup`` time units the state is recorded every
    ``dt`` for ``n_steps`` steps. Windows are drawn as in
    :func:`make_lorenz63`. At the window-relative times
    ``0, sampling, 2 * sampling, ...``, ``n_observed`` components chosen at
    random are observed with additive Gaussian noise of variance
    ``noise_variance``; every other entry is missing.

    Parameters
    ----------
    n_train : int, default=2000
        Number of training windows.

    n_test : int, default=256
        Number of test windows.

    n_components : int, default=40
        Dimension of the state (at least 4).

    window : int, default=200
        Length of each window, in time steps.

    dt : float, default=0.05
        Time between two recorded states.

    n_steps : int, default=10000
        Number of recorded states of the long run.

    spinup : float, default=5.0
        Time integrated (and discarded) before the first recorded state.

    forcing : float, default=8.0
        Forcing term F (8 gives chaotic dynamics).

    sampling : int, default=4
        Observation period in time steps.

    n_observed : int, default=20
        Number of components observed at each observed time (at most
        ``n_components``).

    shared_subset : bool, default=False
        If False, the observed components are drawn independently for every
        window and every observed time. If True, one subset is drawn per
        observed time index and shared by all windows of a set (one draw for
        training, one for test), which is what the authors' code does; the paper
        only says "20 randomly selected components".

    noise_variance : float, default=2.0
        Variance of the Gaussian noise added to the observed entries (raw units).

    train_range : tuple of int, default=(0, 7500)
        Half-open range ``[start, stop)`` of recorded steps from which the
        training windows are taken.

    test_range : tuple of int, default=(7500, 10000)
        Half-open range of recorded steps for the test windows; it must not
        overlap ``train_range``.

    random_state : int, RandomState instance or None, default=None
        Seeds the initial perturbation, the window positions, the observed
        components and the noise. Pass an int for reproducible output.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        X_train : ndarray of shape (n_train, n_components, window)
            Noisy observations, NaN where missing.
        X_test : ndarray of shape (n_test, n_components, window)
            Test observations, NaN where missing.
        y_train : ndarray of shape (n_train, n_components, window)
            True states of the training windows.
        y_test : ndarray of shape (n_test, n_components, window)
            True states of the test windows.
        mask_train : ndarray of bool of shape (n_train, n_components, window)
            True where observed.
        mask_test : ndarray of bool of shape (n_test, n_components, window)
            True where observed.
        train_starts : ndarray of shape (n_train,)
            Index in ``trajectory`` of the first step of each training window.
        test_starts : ndarray of shape (n_test,)
            Index in ``trajectory`` of the first step of each test window.
        trajectory : ndarray of shape (n_steps, n_components)
            The whole run.
        dt : float
            Time step of ``trajectory``.
        DESCR : str
            Description of the data set.

    Notes
    -----
    The authors' code integrates the same system (with loose tolerances) from
    ``8 * ones`` with 0.01 added to component 20, uses 201-step windows cut to
    200 (observed times 0, 4, ..., 196 as here) and draws windows without a
    seed. Here the initial condition is ``forcing`` plus Gaussian noise of
    standard deviation 0.01 on every component. Random draws come from one
    generator in a fixed order: initial condition, window positions (train,
    test), observed components (train, test), noise (train, test).

    With the default sizes the tight-tolerance integration takes about ten
    seconds.

    References
    ----------
    .. [1] R. Fablet, L. Drumetz and F. Rousseau, "Joint learning of variational
       representations and solvers for inverse problems with partially-observed
       data", arXiv:2006.03653, 2020, appendix A.2.

    Examples
    --------
    >>> import numpy as np
    >>> from sklvar.datasets import make_lorenz96
    >>> data = make_lorenz96(n_train=3, n_test=2, n_components=8, window=20,
    ...                      n_steps=200, n_observed=4, train_range=(0, 120),
    ...                      test_range=(120, 200), random_state=0)
    >>> data.X_train.shape, data.trajectory.shape
    ((3, 8, 20), (200, 8))
    >>> data.mask_train[:, :, ::4].sum(axis=1).tolist()[0]
    [4, 4, 4, 4, 4]
    """
    if n_observed > n_components:
        raise ValueError(
            f"n_observed={n_observed} must be at most n_components={n_components}."
        )
    train, test = _check_ranges(train_range, test_range, n_steps=n_steps, window=window)
    times = _observation_times(window, sampling, 0)
    rng = check_random_state(random_state)

    idx = np.arange(n_components)
    ip1, im1, im2 = (idx + 1) % n_components, idx - 1, idx - 2

    def rhs(t, x):
        return (x[ip1] - x[im2]) * x[im1] - x + forcing

    x0 = forcing + rng.normal(scale=0.01, size=n_components)
    trajectory = _integrate(rhs, x0, dt=dt, n_steps=n_steps, spinup=spinup)

    def make_mask(n):
        return _lorenz96_masks(
            n, n_components, window, times, n_observed, shared_subset, rng
        )

    subsets = (
        "one subset per time shared by all windows of a set"
        if shared_subset
        else "drawn per window and per time"
    )
    descr = (
        "Lorenz-96 imputation benchmark (Fablet et al. 2020, appendix A.2).\n"
        f"{n_components} components, forcing F={forcing}; RK45 with "
        f"rtol=atol={_RTOL:g}, spin-up {spinup} time units, {n_steps} states "
        f"every dt={dt}.\n"
        f"{n_train} training windows from steps {train}, {n_test} test windows "
        f"from steps {test}, {window} steps each, layout "
        "(windows, components, time).\n"
        f"{n_observed} random components observed every {sampling} steps "
        f"({subsets}), "
        f"Gaussian noise of variance {noise_variance}; NaN marks missing entries."
    )
    return _windowed_benchmark(trajectory, (n_train, n_test), (train, test), window,
                               make_mask, noise_variance, rng, dt, descr)
