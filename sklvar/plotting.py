"""Plot helpers: energy pathways of the solvers, series and image grids (layer 7).

matplotlib is an optional dependency (``pip install "sklvar[plot]"``): it is
imported inside the plotting functions, so ``import sklvar.plotting`` works
without it and only a call to a ``plot_*`` function needs it.
:func:`sklvar.diagnostics.energy_path` computes the numbers behind
:func:`plot_energy_path` and needs no matplotlib (it is also importable from
here, where it used to live).

The helpers accept a fitted imputer (anything with a fitted ``net_`` whose
``module_`` is a :class:`~sklvar.model.VariationalModel`, and a ``codec_``,
such as :class:`~sklvar.VariationalImputer`) without importing the estimators.
"""

import numpy as np

from .diagnostics import energy_path

__all__ = ["plot_energy_path", "plot_image_grid", "plot_series"]

_MATPLOTLIB_MISSING = (
    "sklvar.plotting.{name} needs matplotlib, which is not installed. Install it "
    'with: pip install matplotlib (or pip install "sklvar[plot]").'
)


def _pyplot(name):
    """Import ``matplotlib.pyplot`` with a clear message when it is missing."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - exercised by monkeypatching
        raise ImportError(_MATPLOTLIB_MISSING.format(name=name)) from exc
    return plt


def plot_energy_path(models, X, *, mask=None, X_true=None, n_iter=None,
                     max_samples=256, relative=False, ax=None):
    r"""Plot the variational cost per solver iteration, one line per solver.

    The picture of the paper's Fig. 1: how fast each solver decreases the
    cost :math:`U_\Phi`, and (with ``X_true``) how the reconstruction error
    on the missing entries evolves along the iterations.

    Parameters
    ----------
    models : VariationalModel, fitted imputer, or dict of them
        One model, or ``{label: model}`` to compare several solvers. Each
        model uses its own cost (prior and weights): see :func:`~sklvar.diagnostics.energy_path`.
    X, mask, X_true, n_iter, max_samples
        As in :func:`~sklvar.diagnostics.energy_path`.
    relative : bool, default=False
        Divide each energy path by its initial value, so that solvers with
        different priors or weights share one scale.
    ax : matplotlib Axes or sequence of 2 Axes, default=None
        Where to draw: one Axes for the energy, two (energy, error) when
        ``X_true`` is given. None creates a new figure.

    Returns
    -------
    axes : ndarray of matplotlib Axes
        The energy axes, and the error axes when ``X_true`` is given.

    See Also
    --------
    sklvar.diagnostics.energy_path : The numbers behind the plot.
    """
    plt = _pyplot("plot_energy_path")
    if not isinstance(models, dict):
        models = {"": models}
    n_panels = 1 if X_true is None else 2
    if ax is None:
        fig, axes = plt.subplots(1, n_panels, figsize=(5 * n_panels, 3.6),
                                 squeeze=False, layout="constrained")
        axes = axes[0]
    else:
        axes = np.atleast_1d(np.asarray(ax, dtype=object))
        if len(axes) != n_panels:
            raise ValueError(
                f"ax must hold {n_panels} Axes "
                f"({'energy, error' if n_panels == 2 else 'energy'}), got {len(axes)}."
            )
    for label, model in models.items():
        path = energy_path(model, X, mask=mask, X_true=X_true, n_iter=n_iter,
                           max_samples=max_samples)
        energy = path.energy / path.energy[0] if relative else path.energy
        k = np.arange(len(energy))
        axes[0].plot(k, energy, marker="o", ms=3, label=label or None)
        if path.error is not None:
            axes[1].plot(k, path.error, marker="o", ms=3, label=label or None)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("solver iteration")
    axes[0].set_ylabel("relative energy U / U(x0)" if relative else "energy U")
    axes[0].set_title("Variational cost")
    if n_panels == 2:
        axes[1].set_xlabel("solver iteration")
        axes[1].set_ylabel("MSE on missing entries (standardised)")
        axes[1].set_title("Reconstruction error")
    if any(models):
        for a in axes:
            a.legend()
    return axes


# --------------------------------------------------------------------- series
def _missing_runs(missing):
    """(start, stop) index pairs of the runs of True in a 1-D bool array."""
    padded = np.concatenate([[False], missing, [False]]).astype(int)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2], edges[1::2]))


def plot_series(X, X_imputed=None, X_true=None, *, mask=None, index=None,
                columns=None, others=None, max_columns=6, axes=None):
    """Plot a multivariate series: observed points, imputation and truth.

    One panel per variable (column), sharing the time axis. Gaps (missing
    entries) are shaded; observations are dots, the true series a grey line,
    the imputation a coloured line, and ``others`` (e.g. a baseline) dashed
    lines.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_timesteps, n_variables)
        Observations, NaN where missing. A DataFrame gives the default
        ``index`` and ``columns``.
    X_imputed : array-like of the same shape, default=None
        The imputed series.
    X_true : array-like of the same shape, default=None
        The true, complete series.
    mask : array-like of bool of the same shape, default=None
        True where observed; None derives it from the NaNs of X.
    index : array-like of length n_timesteps, default=None
        Time axis (numbers or datetimes); None uses the DataFrame's index or
        ``0, 1, ...``.
    columns : sequence of str, default=None
        Variable names (panel labels).
    others : dict of str to array-like, default=None
        More series to draw, by label, e.g.
        ``{"linear interpolation": X_lin}``.
    max_columns : int, default=6
        Draw at most this many variables (the first ones).
    axes : sequence of matplotlib Axes, default=None
        One Axes per drawn variable; None creates a new figure.

    Returns
    -------
    fig : matplotlib Figure
    """
    plt = _pyplot("plot_series")
    if index is None and hasattr(X, "index"):
        index = X.index
    if columns is None and hasattr(X, "columns"):
        columns = [str(c) for c in X.columns]
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(
            f"X must be 2-D (n_timesteps, n_variables), got shape {X.shape}."
        )
    if mask is None:
        observed = ~np.isnan(X)
    else:
        observed = np.asarray(mask, dtype=bool).reshape(X.shape)

    def as_2d(A, name):
        A = np.asarray(A, dtype=np.float64).reshape(-1, *X.shape[1:])
        if A.shape != X.shape:
            raise ValueError(
                f"{name} must have the shape of X {X.shape}, got {A.shape}."
            )
        return A

    X_imputed = None if X_imputed is None else as_2d(X_imputed, "X_imputed")
    X_true = None if X_true is None else as_2d(X_true, "X_true")
    others = {k: as_2d(v, f"others[{k!r}]") for k, v in (others or {}).items()}
    t = np.arange(X.shape[0]) if index is None else np.asarray(index)
    n_cols = min(X.shape[1], max_columns)
    if columns is None:
        columns = [f"x{j}" for j in range(X.shape[1])]
    columns = list(columns)
    if axes is None:
        fig, axes = plt.subplots(n_cols, 1, sharex=True, squeeze=False,
                                 figsize=(10, 1.9 * n_cols + 0.6),
                                 layout="constrained")
        axes = axes[:, 0]
    else:
        axes = np.atleast_1d(np.asarray(axes, dtype=object))
        if len(axes) < n_cols:
            raise ValueError(f"axes must hold {n_cols} Axes, got {len(axes)}.")
        fig = axes[0].figure
    for j in range(n_cols):
        ax = axes[j]
        for start, stop in _missing_runs(~observed[:, j]):
            ax.axvspan(t[start], t[min(stop, len(t) - 1)], color="0.92", lw=0)
        if X_true is not None:
            ax.plot(t, X_true[:, j], color="0.45", lw=1.0, label="true")
        for label, A in others.items():
            ax.plot(t, A[:, j], ls="--", lw=1.0, label=label)
        if X_imputed is not None:
            ax.plot(t, X_imputed[:, j], color="C3", lw=1.2, label="imputed")
        obs = observed[:, j]
        ax.plot(t[obs], X[obs, j], ".", color="k", ms=2.5, label="observed")
        ax.set_ylabel(columns[j])
    axes[0].legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2 + len(others)
                   + (X_true is not None) + (X_imputed is not None),
                   fontsize="small", frameon=False)
    axes[n_cols - 1].set_xlabel("time")
    return fig


# ---------------------------------------------------------------------- images
def plot_image_grid(images, *, image_shape=None, row_labels=None, n_images=8,
                    cmap="gray", vmin=None, vmax=None, missing_color="tab:red",
                    fig=None):
    """Show rows of images side by side (e.g. true / observed / imputed).

    Parameters
    ----------
    images : array-like or list of array-like
        One array of images, or a list of arrays (one grid row each, e.g.
        ``[X_true, X_missing, X_imputed]``). Each array is of shape
        (n, H, W), or (n, H * W) with ``image_shape``. NaN (missing) pixels
        are drawn in ``missing_color``.
    image_shape : tuple of 2 int, default=None
        (H, W) of a flattened image; None for arrays already of shape
        (n, H, W), or square images when H * W is a perfect square.
    row_labels : sequence of str, default=None
        One label per grid row.
    n_images : int, default=8
        Number of images per row (the first ones of each array).
    cmap : str, default="gray"
        Colormap of the pixels.
    vmin, vmax : float, default=None
        Range of the colormap, shared by every image; None takes the minimum
        and maximum of the first row (the reference, e.g. the true images),
        so that reconstructions are shown on the same scale.
    missing_color : str, default="tab:red"
        Colour of missing (NaN) pixels.
    fig : matplotlib Figure, default=None
        Figure to draw in; None creates one.

    Returns
    -------
    fig : matplotlib Figure
    """
    plt = _pyplot("plot_image_grid")
    rows = images if isinstance(images, list | tuple) else [images]
    grids = []
    for r, A in enumerate(rows):
        A = np.asarray(A, dtype=np.float64)
        if A.ndim == 2:
            shape = image_shape
            if shape is None:
                side = int(round(np.sqrt(A.shape[1])))
                if side * side != A.shape[1]:
                    raise ValueError(
                        f"images[{r}] has {A.shape[1]} features per row, not a "
                        "square number; pass image_shape=(H, W)."
                    )
                shape = (side, side)
            A = A.reshape((A.shape[0],) + tuple(shape))
        if A.ndim != 3:
            raise ValueError(
                f"images[{r}] must be of shape (n, H, W) or (n, H * W), got {A.shape}."
            )
        grids.append(A[:n_images])
    if row_labels is not None and len(row_labels) != len(grids):
        raise ValueError(
            f"row_labels has {len(row_labels)} labels for {len(grids)} rows of images."
        )
    n_cols = max(len(g) for g in grids)
    finite = grids[0][np.isfinite(grids[0])]
    if vmin is None:
        vmin = float(finite.min()) if finite.size else 0.0
    if vmax is None:
        vmax = float(finite.max()) if finite.size else 1.0
    colormap = plt.get_cmap(cmap).with_extremes(bad=missing_color)
    if fig is None:
        fig = plt.figure(figsize=(1.2 * n_cols + 0.8, 1.3 * len(grids)),
                         layout="constrained")
    axes = fig.subplots(len(grids), n_cols, squeeze=False)
    for r, grid in enumerate(grids):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(grid):
                ax.imshow(np.ma.masked_invalid(grid[c]), cmap=colormap,
                          vmin=vmin, vmax=vmax, interpolation="nearest")
            else:
                ax.set_axis_off()
        if row_labels is not None:
            axes[r, 0].set_ylabel(row_labels[r])
    return fig
