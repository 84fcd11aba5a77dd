"""Fit, impute and score every row of a benchmark; the ``run_benchmark`` driver."""

import datetime as _dt
import time
import warnings
from pathlib import Path

import numpy as np

from .configs import BENCHMARKS, CONFIGS, get_config
from .data import BENCHMARKS_DIR, load_data
from .figures import make_figures
from .report import (
    fmt,
    machine_info,
    ordering_checks,
    render_section,
    update_results,
)
from .rows import variational_imputer, make_rows

def scores(data, X_hat, X_proj=None):
    """R, I, P normalised by sigma^2, and R, I, P with the paper's normaliser."""
    from sklvar.metrics import (
        interpolation_error,
        projection_error,
        reconstruction_error,
    )

    out = {}
    for suffix, var in (("", data.variance), ("_paper", data.paper_norm)):
        out["R" + suffix] = reconstruction_error(data.y_test, X_hat, variance=var)
        out["I" + suffix] = interpolation_error(
            data.y_test, X_hat, observed_mask=data.mask_test, variance=var
        )
        out["P" + suffix] = (
            None
            if X_proj is None
            else projection_error(data.y_test, X_proj, variance=var)
        )
    return out


def _subset(data, n):
    """Training arrays, the first ``n`` samples when n is set."""
    sl = slice(None) if n is None else slice(0, int(n))
    return data.X_train[sl], data.y_train[sl], data.mask_train[sl]


def _fit_fsgd(row, data, cfg, seed, log):
    """FSGD: fixed-step gradient descent on a pre-set cost, tuned on validation.

    As in the paper, the prior is pre-set (PCA fitted on the training states,
    or the true ODE) and the step and the weight ratio lambda_prior/lambda_obs
    are tuned on a log-10 grid; the iteration count is the best one along the
    descent path. Unlike the paper (which reports the best iterate on the test
    set), all three are chosen on held-out training samples.
    """
    from sklvar.diagnostics import energy_path

    grid = cfg["fsgd"]
    n_val = min(grid["n_val"], len(data.X_train) // 2)
    X_val, y_val = data.X_train[-n_val:], data.y_train[-n_val:]
    # the grid's priors (PCA) are fitted without the validation samples
    X_fit, y_fit = data.X_train[:-n_val], data.y_train[:-n_val]
    best = (np.inf, None, None, None)
    base = dict(
        solver="gd",
        joint=False,
        max_epochs=0,
        keep_observed=False,
        random_state=seed,
        device=cfg.get("device", "cpu"),
        **row.make,
        **data.layout,
    )
    for ratio in grid["ratios"]:
        for step in grid["steps"]:
            imp = variational_imputer(
                lambda_obs=1.0,
                lambda_prior=ratio,
                solver_params={"step": step},
                n_solver_iter=grid["n_iter"],
                **base,
            )
            imp.fit(X_fit, y=y_fit)
            try:
                with np.errstate(all="ignore"):
                    err = energy_path(
                        imp, X_val, X_true=y_val, n_iter=grid["n_iter"],
                        max_samples=None,
                    ).error
            except FloatingPointError:  # the estimator refuses non-finite output
                log(f"  FSGD grid: ratio {ratio:g}, step {step:g} diverged")
                continue
            err = np.where(np.isfinite(err), err, np.inf)
            k = int(np.argmin(err[1:])) + 1
            if err[k] < best[0]:
                best = (float(err[k]), ratio, step, k)
    _, ratio, step, k = best
    if ratio is None:
        raise FloatingPointError(f"{row.key}: every FSGD setting diverged.")
    log(
        f"  FSGD grid: best lambda_prior/lambda_obs={ratio:g}, step={step:g}, "
        f"{k} iterations (validation I = {best[0]:.4g}, standardised)"
    )
    imp = variational_imputer(
        lambda_obs=1.0,
        lambda_prior=ratio,
        solver_params={"step": step},
        n_solver_iter=k,
        **base,
    )
    imp.fit(data.X_train, y=data.y_train)
    row.note = (
        f"grid on {n_val} training samples: lambda_prior/lambda_obs={ratio:g}, "
        f"step={step:g}, best of {grid['n_iter']} iterations: {k}"
    )
    return imp


def _project(row, imp, data):
    """Phi(true test states) for the P-score, or None when there is no Phi."""
    if row.kind in ("variational", "fsgd"):
        return imp.project(data.y_test)
    if row.kind == "dict":
        # the code/decode of the complete true state: one OMP/Lasso coding
        params = imp.get_params()
        imp.set_params(keep_observed=False, n_coding_iter=1)
        try:
            return imp.transform(data.y_test)
        finally:
            imp.set_params(
                keep_observed=params["keep_observed"],
                n_coding_iter=params["n_coding_iter"],
            )
    return None


def _epochs(imp):
    """Epochs trained: fractional when a time budget stopped one mid-epoch."""
    history = imp.history_
    last = history[-1]
    n_full = len(history)
    if last.get("time_budget_stop") is not True or "dur" in last:
        return n_full
    done = [b for b in last["batches"] if "train_loss" in b]
    full = [len(h["batches"]) for h in history[:-1]]
    if not full:
        return n_full
    return round(n_full - 1 + len(done) / max(full), 2)


def run_row(row, data, cfg, seed, log=print):
    """Fit, impute the test set and score one row; fills ``row.result``.

    Returns the fitted estimator (None for linear interpolation) and the
    imputed test set.
    """
    from sklvar.utils import linear_fill

    X_tr, y_tr, m_tr = _subset(data, row.n_train)
    t0 = time.perf_counter()
    imp = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if row.kind == "fsgd":
            imp = _fit_fsgd(row, data, cfg, seed, log)
        elif row.kind == "linear":
            pass
        else:
            imp = row.make()
            if row.key == "IterativeImputer":
                # clip to the range of the training states: BayesianRidge chains on
                # collinear features otherwise diverge (R ~ 1e14 on Lorenz-63)
                imp.set_params(min_value=float(y_tr.min()), max_value=float(y_tr.max()))
            if row.fit_on == "truth":
                if row.kind == "sklearn":
                    imp.fit(y_tr)
                else:
                    imp.fit(X_tr, y=y_tr)
            elif row.fit_on == "gappy":
                imp.fit(X_tr)
            elif row.fit_on == "stacked":
                imp.fit(np.vstack([y_tr, data.X_test]))
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        if row.kind == "linear":
            shape = (len(data.X_test),) + tuple(data.sample_shape)
            X_hat = linear_fill(
                np.nan_to_num(data.X_test).reshape(shape), data.mask_test.reshape(shape)
            ).reshape(data.X_test.shape)
        else:
            X_hat = imp.transform(data.X_test)
        predict_s = time.perf_counter() - t0
        X_proj = _project(row, imp, data)
    X_hat = np.asarray(X_hat, dtype=np.float64)
    if X_hat.shape != data.y_test.shape:  # KNN/Iterative may drop empty columns
        raise ValueError(
            f"{row.key}: output of shape {X_hat.shape}, expected {data.y_test.shape}."
        )
    row.result = dict(
        scores(data, X_hat, X_proj),
        fit_s=fit_s,
        predict_s=predict_s,
        n_train=len(X_tr),
    )
    if row.kind == "variational":
        row.result["epochs"] = _epochs(imp)
        row.result["device"] = str(imp.device)
        row.result["n_solver_iter"] = int(imp.n_solver_iter)
        cost = imp.net_.module_.cost
        lam = [float(cost.lambda_obs.detach()), float(cost.lambda_prior.detach())]
        row.result["lambdas"] = lam
        row.note = f"K = {imp.n_solver_iter} solver iteration(s)"
        if imp.max_time is not None:
            stopped = imp.history_[-1].get("time_budget_stop") is True
            row.note += (f"; time budget {imp.max_time:g} s (max_time), "
                         + ("stopped by it" if stopped else
                            f"max_epochs={imp.max_epochs} reached first"))
            row.result["max_time"] = float(imp.max_time)
        if imp.solver != "fixed_point":  # FP(1) does not use the weights
            row.note += f"; learned lambda_obs {lam[0]:.3g}, lambda_prior {lam[1]:.3g}"
    return imp, X_hat


def run_benchmark(
    name,
    quick=False,
    out_dir=None,
    *,
    threads=1,
    seed=0,
    mnist_path=None,
    overrides=None,
    figures=True,
    verbose=1,
    device="cpu",
):
    """Run one benchmark of the paper (or ``"all"``), write RESULTS.md and figures.

    Parameters
    ----------
    name : {"mnist", "lorenz63", "lorenz96", "all"}
        Which table: Table 1 (mnist) or Table 2 (lorenz63, lorenz96).
    quick : bool, default=False
        Small data and few epochs (minutes) instead of the full configuration.
    out_dir : path
        Folder where ``RESULTS.md`` and ``figures/`` go (created if needed).
        Required: there is no default, so that a run never overwrites the
        committed ``benchmarks/RESULTS.md`` and figures unless asked to
        (``out_dir="benchmarks"``).
    threads : int, default=1
        torch (and BLAS) threads.
    seed : int, default=0
        Seeds the data and every estimator.
    mnist_path : path or None
        Folder of the MNIST IDX files (default: $SKLVAR_MNIST, then
        ../shared/data/mnist next to the repository).
    overrides : dict or None
        Merged into the configuration (see ``CONFIGS``), e.g. smaller sizes.
    figures : bool, default=True
        Draw the figures (needs matplotlib, checked before the run starts).
    verbose : int, default=1
        Print progress.
    device : str, default="cpu"
        Torch device of the learned and FSGD rows (e.g. "cuda").

    Returns
    -------
    summary : str
        The markdown section(s) written to RESULTS.md.
    """
    if out_dir is None:
        raise ValueError(
            "out_dir is required: the folder for RESULTS.md and figures/ (for "
            "example out_dir='bench-out'); pass out_dir='benchmarks' to update "
            "the committed results on purpose."
        )
    if figures:
        try:
            import matplotlib  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                "figures=True needs matplotlib (pip install matplotlib), checked "
                "before the run so that it is not lost; or pass figures=False "
                "(--no-figures)."
            ) from exc
    if name == "all":
        return "\n".join(
            run_benchmark(
                n,
                quick,
                out_dir,
                threads=threads,
                seed=seed,
                mnist_path=mnist_path,
                overrides=overrides,
                figures=figures,
                verbose=verbose,
                device=device,
            )
            for n in BENCHMARKS
        )
    import torch
    from threadpoolctl import threadpool_limits

    cfg = get_config(name, quick, overrides)
    cfg["device"] = device
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = print if verbose else (lambda *a, **k: None)
    t_start = time.perf_counter()
    n_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            record = _run(
                name, cfg, quick, out, seed, mnist_path, figures, log, threads
            )
    finally:
        torch.set_num_threads(n_threads)
    record["total_s"] = time.perf_counter() - t_start
    update_results(out / "RESULTS.md", name, record)
    log(f"[{name}] done in {record['total_s']:.0f} s; results in {out / 'RESULTS.md'}")
    return render_section(name, record)


def _run(name, cfg, quick, out, seed, path, figures, log, threads):
    data = load_data(name, cfg, seed, path)
    rows = make_rows(name, cfg, seed, data.layout)
    log(f"[{name}] {'quick' if quick else 'full'} run: {data.description}")
    fitted, outputs = {}, {}
    for row in rows:
        log(f"[{name}] {row.key} ...")
        imp, X_hat = run_row(row, data, cfg, seed, log)
        fitted[row.key], outputs[row.key] = imp, X_hat
        r = row.result
        log(
            f"[{name}] {row.key}: R {r['R']:.4g}  I {r['I']:.4g}  P {fmt(r['P'])}  "
            f"R(paper norm) {r['R_paper']:.4g}  train {r['fit_s']:.1f} s  "
            f"infer {r['predict_s']:.1f} s"
        )
    results = [
        dict(
            key=r.key,
            model=r.model,
            joint=r.joint,
            solver=r.solver,
            kind=r.kind,
            note=r.note,
            **r.result,
        )
        for r in rows
    ]
    fig_paths, fig_errors = [], []
    if figures:
        fig_paths, fig_errors = make_figures(
            name, fitted, outputs, data, cfg, seed, out / "figures"
        )
        for e in fig_errors:
            log(f"[{name}] figure failed: {e}")
    argv = ["python", "benchmarks/paper.py", name] + (["--quick"] if quick else [])
    argv += ["--threads", str(threads), "--seed", str(seed)]
    if cfg.get("device", "cpu") != "cpu":
        argv += ["--device", cfg["device"]]
    if (
        name == "mnist"
        and cfg["noise_ratio"] != CONFIGS["mnist"]["full"]["noise_ratio"]
    ):
        argv += ["--mnist-noise-ratio", str(cfg["noise_ratio"])]
    return dict(
        mode="quick" if quick else "full",
        seed=seed,
        command=" ".join(argv),
        date=_dt.datetime.now().isoformat(timespec="seconds"),
        machine=machine_info(threads),
        data=data.description,
        config=cfg,
        rows=results,
        checks=ordering_checks(name, results),
        figures=[
            str(p.relative_to(out)) if p.is_relative_to(out) else str(p)
            for p in fig_paths
        ],
        figure_errors=fig_errors,
    )
