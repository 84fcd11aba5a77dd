"""The paper's figures (energy pathways, MNIST grid, Lorenz states, error pdfs)."""

import copy

import numpy as np

from .rows import variational_imputer

def _savefig(fig, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def _fsgd_on_learned_cost(imp, data, cfg, seed):
    """FSGD on the cost (prior and lambdas) learned by ``imp`` (paper Fig. 1)."""
    lam = imp.net_.module_.cost
    prior = copy.deepcopy(imp.net_.module_.prior)
    spec = cfg["fig_cnn_fsgd"]
    gd = variational_imputer(
        prior=prior,
        solver="gd",
        joint=False,
        max_epochs=0,
        lambda_obs=float(lam.lambda_obs.detach()),
        lambda_prior=float(lam.lambda_prior.detach()),
        solver_params={"step": spec["step"]},
        n_solver_iter=spec["n_iter"],
        keep_observed=False,
        random_state=seed,
        **data.layout,
    )
    # fitted on the same training states as imp, so the standardisation matches
    return gd.fit(data.X_train, y=data.y_train)


def figure_energy(name, fitted, data, cfg, seed, out):
    """Paper Fig. 1 / Fig. 3 (upper left): energy and error per solver iteration."""
    import matplotlib.pyplot as plt

    from sklvar.plotting import plot_energy_path

    pairs = [("RK4-FSGD", "RK4-LSTM", "2S-CNN-LSTM joint")]
    if name == "mnist":
        pairs = [("PCA-FSGD", "PCA-LSTM"), ("2S-CNN-FSGD", "2S-CNN-LSTM joint")]
        if "2S-CNN-LSTM joint" in fitted:
            fitted = dict(fitted)
            fitted["2S-CNN-FSGD"] = _fsgd_on_learned_cost(
                fitted["2S-CNN-LSTM joint"], data, cfg, seed
            )
    n = cfg["fig_cnn_fsgd"]["n_images"] if name == "mnist" else 32
    X, y = data.X_test[:n], data.y_test[:n]
    fig, axes = plt.subplots(
        len(pairs),
        2,
        figsize=(10, 3.4 * len(pairs)),
        squeeze=False,
        layout="constrained",
    )
    for (ax_e, ax_r), keys in zip(axes, pairs):
        for key in keys:
            imp = fitted.get(key)
            if imp is None:
                continue
            label = f"{key} ({'learned cost' if key == '2S-CNN-FSGD' else 'own cost'})"
            n_iter = imp.n_solver_iter
            if key.endswith("FSGD") and key != "2S-CNN-FSGD":
                # the whole grid path; the row stops at the best iterate (x)
                n_iter = cfg["fsgd"]["n_iter"]
                label += f", row stops at k={imp.n_solver_iter}"
            with np.errstate(all="ignore"):
                plot_energy_path(
                    {label: imp},
                    X,
                    X_true=y,
                    n_iter=n_iter,
                    max_samples=n,
                    relative=True,
                    ax=[ax_e, ax_r],
                )
            if n_iter != imp.n_solver_iter:
                for ax in (ax_e, ax_r):
                    line = ax.lines[-1]
                    k = imp.n_solver_iter
                    ax.plot(
                        [k],
                        [line.get_ydata()[k]],
                        "x",
                        ms=9,
                        mew=2,
                        color=line.get_color(),
                    )
        for ax in (ax_e, ax_r):
            for line in ax.lines:
                if len(line.get_xdata()) > 40:
                    line.set_marker("")
            ax.set_xscale("symlog", linthresh=1)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        ax_r.set_yscale("log")
    fig.suptitle(
        f"{name}: energy U(x_k)/U(x_0) and error on missing entries "
        f"(standardised) per iteration, {n} test samples",
        fontsize=10,
    )
    return _savefig(fig, out / f"fig1_energy_{name}.png")


def figure_mnist_grid(outputs, data, out, n_images=12):
    """Paper Fig. 2: reference, observed and reconstructed test digits."""
    from sklvar.plotting import plot_image_grid

    keys = [
        k
        for k in (
            "DICT-OMP",
            "DICT-Lasso",
            "PCA-FSGD",
            "PCA-LSTM",
            "AE-FP(1)",
            "AE-LSTM seq",
            "AE-LSTM joint",
            "2S-CNN-FP(1)",
            "2S-CNN-LSTM joint",
        )
        if k in outputs
    ]
    rows = [data.y_test, data.X_test] + [outputs[k] for k in keys]
    fig = plot_image_grid(
        rows,
        image_shape=(28, 28),
        n_images=n_images,
        row_labels=["truth", "observed"] + keys,
    )
    for ax in fig.axes:
        ax.yaxis.label.set_size(7)
    fig.set_size_inches(1.0 * n_images + 1.2, 1.0 * len(rows))
    return _savefig(fig, out / "fig2_mnist_examples.png")


def figure_lorenz96(outputs, data, out, index=0):
    """Paper Fig. 3 (lower panel): L96 states and error maps, first 100 steps."""
    import matplotlib.pyplot as plt

    keys = [k for k in ("RK4-FSGD", "RK4-LSTM", "2S-CNN-LSTM joint") if k in outputs]
    truth = data.y_test[index].reshape(40, 200)[:, :100]
    obs = data.X_test[index].reshape(40, 200)[:, :100]
    fig, axes = plt.subplots(
        2,
        len(keys) + 1,
        figsize=(3.2 * (len(keys) + 1), 5.2),
        squeeze=False,
        layout="constrained",
    )
    vmin, vmax = float(truth.min()), float(truth.max())
    kw = dict(aspect="auto", origin="lower", cmap="viridis", interpolation="nearest")
    im = axes[0, 0].imshow(truth, vmin=vmin, vmax=vmax, **kw)
    axes[0, 0].set_title("reference", fontsize=9)
    cmap = plt.get_cmap("viridis").with_extremes(bad="white")
    axes[1, 0].imshow(
        np.ma.masked_invalid(obs), vmin=vmin, vmax=vmax, **{**kw, "cmap": cmap}
    )
    axes[1, 0].set_title("observations (white: missing)", fontsize=9)
    errs = [np.abs(outputs[k][index].reshape(40, 200)[:, :100] - truth) for k in keys]
    err_max = max([float(np.percentile(e, 99.5)) for e in errs] + [1e-6])
    for j, (key, err) in enumerate(zip(keys, errs), start=1):
        axes[0, j].imshow(
            outputs[key][index].reshape(40, 200)[:, :100], vmin=vmin, vmax=vmax, **kw
        )
        axes[0, j].set_title(key, fontsize=9)
        im_err = axes[1, j].imshow(err, vmin=0, vmax=err_max, **kw)
        axes[1, j].set_title(
            f"|error| {key} (RMSE {np.sqrt(np.mean(err**2)):.2f})", fontsize=8
        )
    fig.colorbar(im, ax=axes[0, :], shrink=0.8, label="state")
    if keys:
        fig.colorbar(im_err, ax=axes[1, :], shrink=0.8, label="|error|")
    for ax in axes.ravel():
        ax.set_xlabel("time step", fontsize=8)
        ax.set_ylabel("component", fontsize=8)
    return _savefig(fig, out / "fig3_lorenz96_states.png")


def figure_error_pdf(name, outputs, data, out):
    """Paper Fig. 3 (upper right): pdf of the reconstruction errors."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), layout="constrained")
    for key, X_hat in outputs.items():
        err = (X_hat - data.y_test).ravel()
        ax.hist(err, bins=120, range=(-6, 6), density=True, histtype="step", label=key)
    ax.set_yscale("log")
    ax.set_xlabel("reconstruction error (raw units)")
    ax.set_ylabel("density")
    ax.set_title(f"{name}: distribution of the test reconstruction errors", fontsize=10)
    ax.legend(fontsize=7)
    return _savefig(fig, out / f"fig3_error_pdf_{name}.png")


def figure_lorenz63(outputs, data, out, index=0):
    """One Lorenz-63 test window: observations, truth and reconstructions."""
    from sklvar.plotting import plot_series

    shape = (3, 200)
    X = data.X_test[index].reshape(shape).T
    truth = data.y_test[index].reshape(shape).T
    keys = [k for k in ("linear interpolation", "RK4-FSGD", "RK4-LSTM") if k in outputs]
    others = {k: outputs[k][index].reshape(shape).T for k in keys}
    main = outputs.get("2S-CNN-LSTM joint")
    fig = plot_series(
        X,
        None if main is None else main[index].reshape(shape).T,
        truth,
        columns=["x1", "x2", "x3"],
        others=others,
    )
    fig.suptitle("Lorenz-63 test window (imputed = 2S-CNN-LSTM joint)", fontsize=10)
    return _savefig(fig, out / "fig_lorenz63_window.png")


def make_figures(name, fitted, outputs, data, cfg, seed, out):
    """All figures of a benchmark: (paths, errors); a failed figure is reported."""
    import matplotlib

    matplotlib.use("Agg")
    figs, errors = [], []
    jobs = [lambda: figure_energy(name, fitted, data, cfg, seed, out)]
    if name == "mnist":
        jobs.append(lambda: figure_mnist_grid(outputs, data, out))
    else:
        learned = {
            k: v
            for k, v in outputs.items()
            if k
            in ("RK4-FSGD", "RK4-LSTM", "2S-CNN-LSTM joint", "linear interpolation")
        }
        jobs.append(lambda: figure_error_pdf(name, learned, data, out))
        if name == "lorenz96":
            jobs.append(lambda: figure_lorenz96(outputs, data, out))
        else:
            jobs.append(lambda: figure_lorenz63(outputs, data, out))
    for job in jobs:
        try:
            figs.append(job())
        except Exception as exc:  # a figure must not lose the table
            errors.append(f"{type(exc).__name__}: {exc}")
    return figs, errors
